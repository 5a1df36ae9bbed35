"""The browser tools as the model sees them: names, descriptions and arguments.

Names and arguments follow the Playwright MCP server's conventions, which models already
know. There is deliberately no tool that runs JavaScript.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

WAIT_SECONDS_MAX = 30.0
TYPED_CHARS_MAX = 10_000

_REF = "Exact target element reference from the page snapshot, e.g. e12."
_ELEMENT = "Human-readable description of the element, shown to the user."


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NavigateArgs(_Args):
    url: str = Field(description="The http(s) URL to navigate to.", max_length=4000)


class NoArgs(_Args):
    pass


class ClickArgs(_Args):
    ref: str = Field(description=_REF, max_length=32)
    element: str | None = Field(default=None, description=_ELEMENT, max_length=500)
    doubleClick: bool = Field(default=False, description="Whether to perform a double click.")


class TypeArgs(_Args):
    ref: str = Field(description=_REF, max_length=32)
    text: str = Field(description="Text to type into the element.", max_length=TYPED_CHARS_MAX)
    element: str | None = Field(default=None, description=_ELEMENT, max_length=500)
    submit: bool = Field(default=False, description="Whether to press Enter after typing.")


class FormField(_Args):
    ref: str = Field(description=_REF, max_length=32)
    value: str = Field(
        description="Value: text for a textbox, 'true' or 'false' for a checkbox or radio, "
        "the option's text for a combobox.",
        max_length=TYPED_CHARS_MAX,
    )
    name: str | None = Field(default=None, description="Human-readable field name.")
    type: Literal["textbox", "checkbox", "radio", "combobox", "slider"] | None = Field(
        default=None, description="Type of the field (taken from the snapshot when omitted)."
    )


class FillFormArgs(_Args):
    fields: list[FormField] = Field(description="Fields to fill in.", min_length=1, max_length=100)


class SelectOptionArgs(_Args):
    ref: str = Field(description=_REF, max_length=32)
    values: list[str] = Field(
        description="Values (or visible texts) of the options to select.",
        min_length=1,
        max_length=100,
    )
    element: str | None = Field(default=None, description=_ELEMENT, max_length=500)


class PressKeyArgs(_Args):
    key: str = Field(
        description="Name of the key to press or a character to generate, such as "
        "`ArrowLeft`, `Enter` or `a`.",
        max_length=64,
    )


class ScreenshotArgs(_Args):
    fullPage: bool = Field(
        default=False,
        description="When true, capture the full scrollable page instead of the viewport.",
    )


class WaitForArgs(_Args):
    text: str | None = Field(default=None, description="Text to wait for.", max_length=500)
    textGone: str | None = Field(
        default=None, description="Text to wait for to disappear.", max_length=500
    )
    time: float | None = Field(
        default=None,
        description=f"Seconds to wait (at most {WAIT_SECONDS_MAX:g}).",
        ge=0,
        le=WAIT_SECONDS_MAX,
    )


class SaveDownloadArgs(_Args):
    download: str = Field(
        description="The download's name, as listed after a snapshot (e.g. report.pdf).",
        max_length=300,
    )
    folder: str = Field(
        description="A granted read-write folder (or a folder inside one) to save it in.",
        max_length=4000,
    )
    filename: str | None = Field(
        default=None,
        description="Name to save it under (default: the download's own name).",
        max_length=255,
    )


TOOLS: dict[str, tuple[str, type[_Args]]] = {
    "browser_navigate": (
        "Open a URL in the browser (http and https only) and return the page snapshot.",
        NavigateArgs,
    ),
    "browser_snapshot": (
        "Capture the accessibility snapshot of the current page; elements you can act on are "
        "marked [ref=eN]. Better than a screenshot for acting on the page.",
        NoArgs,
    ),
    "browser_click": ("Click an element of the page; returns the new snapshot.", ClickArgs),
    "browser_type": (
        "Type text into an editable element (replacing its content); Enter after it when "
        "submit is true.",
        TypeArgs,
    ),
    "browser_fill_form": ("Fill several form fields at once.", FillFormArgs),
    "browser_select_option": ("Select options in a dropdown.", SelectOptionArgs),
    "browser_press_key": ("Press a key on the keyboard.", PressKeyArgs),
    "browser_navigate_back": ("Go back to the previous page in the history.", NoArgs),
    "browser_take_screenshot": (
        "Take a screenshot of the current page and save it as a task artifact the user can "
        "see. You cannot act on a screenshot; use browser_snapshot for that.",
        ScreenshotArgs,
    ),
    "browser_save_download": (
        "Save a file the browser downloaded into a granted read-write folder (downloads "
        "otherwise stay in the browser's scratch space, gone when the task ends).",
        SaveDownloadArgs,
    ),
    "browser_wait_for": (
        "Wait for text to appear or disappear, or for some seconds to pass "
        f"(at most {WAIT_SECONDS_MAX:g}).",
        WaitForArgs,
    ),
}
