"""The browser toolset: Playwright-MCP-shaped tools over one sandboxed Chromium per task.

Every call either returns what the model should read (usually the page's new snapshot) or an
error output it can act on; nothing here raises to the agent loop but cancellation. Approval
is not done here: :meth:`BrowserToolset.describe` says truthfully what a call would do (a form
submission to a domain outside the allowed list is described with its fields and values) and
the approval wrapper around every toolset decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import Sequence
from pathlib import Path

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page
from pydantic import BaseModel, ValidationError

from errand.browser.downloads import (
    describe_save,
    find_download,
    save_download,
    target_folder,
)
from errand.browser.forms import FORM_OF_ELEMENT, SUBMITTING_ROLES, Submission, is_listed
from errand.browser.session import MEMORY_MB, BrowserCrashed, BrowserSession, BrowserUnavailable
from errand.browser.snapshot import Snapshot
from errand.browser.tools import (
    TOOLS,
    ClickArgs,
    FillFormArgs,
    FormField,
    NavigateArgs,
    PressKeyArgs,
    SaveDownloadArgs,
    ScreenshotArgs,
    SelectOptionArgs,
    TypeArgs,
    WaitForArgs,
)
from errand.models import MalformedToolArguments, ToolCall
from errand.sandbox import NetworkDecision, SandboxUnavailable
from errand.tools import (
    Action,
    ActionKind,
    ToolContext,
    ToolDef,
    ToolError,
    ToolOutput,
    checked_host,
    lean_schema,
)

ARTIFACTS_PREFIX = "/artifacts/"
"""How a task's artifacts are named in ``ToolOutput.files`` (the gateway serves them)."""
ACTION_MS = 5_000
"""How long an action waits for its element to be ready (refs point at existing elements)."""
NAVIGATION_MS = 30_000
SNAPSHOT_MS = 10_000
_CHECKED = {"true", "yes", "on", "1", "checked"}
_FORM_OF_FIRST = f"(els) => els.length ? ({FORM_OF_ELEMENT})(els[0]) : null"
_KEY = re.compile(r"^[\w+\- ]{1,64}$|^.$")


class BrowserToolset:
    """The browser tools for one task; the browser starts on the first call that needs it.

    ``artifacts`` is the host folder where screenshots are saved (created when first used).
    ``memory_mb`` caps what the browser may use (where the sandbox can place it in a memory
    cgroup; over it, the call fails saying the browser ran out of memory, and the task goes on).
    With ``start_early`` the browser starts in the background when the tools are first listed
    (as the task begins), so that the model's first browser call finds it ready.
    """

    name = "browser"

    def __init__(
        self,
        ctx: ToolContext,
        *,
        artifacts: Path,
        idle_seconds: float = 300.0,
        start_early: bool = False,
        memory_mb: int = MEMORY_MB,
    ) -> None:
        self._session = BrowserSession(ctx.sandbox, idle_seconds=idle_seconds, memory_mb=memory_mb)
        self._start_early = start_early
        self._artifacts = artifacts
        self._snapshot: Snapshot | None = None
        self._submissions: dict[str, Submission] = {}
        self._focused: Submission | None = None
        self._shots = itertools.count(1)

    @property
    def session(self) -> BrowserSession:
        return self._session

    async def list_tools(self, ctx: ToolContext) -> Sequence[ToolDef]:
        if self._start_early:
            self._session.start_soon()
        return [
            ToolDef(name, description, lean_schema(args))
            for name, (description, args) in TOOLS.items()
        ]

    def describe(self, call: ToolCall, ctx: ToolContext) -> Action | ToolOutput:
        parsed = _parse(call)
        if isinstance(parsed, ToolOutput):
            return parsed
        args = parsed
        here: str = self._snapshot.url if self._snapshot else "the browser"
        page_host = _host_or_none(self._snapshot.url) if self._snapshot else None
        try:
            match args:
                case NavigateArgs():
                    host = checked_host(args.url)
                    return _action(call.name, ActionKind.NETWORK, f"open {args.url}", host)
                case ClickArgs() | TypeArgs() | SelectOptionArgs():
                    self._known_ref(args.ref)
                case SaveDownloadArgs():
                    return describe_save(call.name, ctx, args.download, args.folder)
            submission = self._submission_of(args)
        except ToolError as exc:
            return ToolOutput(str(exc), is_error=True)
        if submission is not None:
            target = submission.host
            if target is not None and not is_listed(target, ctx.policy.network):
                return _action(call.name, ActionKind.SEND, submission.summary(), target)
        if call.name in ("browser_snapshot", "browser_take_screenshot", "browser_wait_for"):
            return _action(call.name, ActionKind.READ, f"{_verb(call.name)} {here}", None)
        return _action(call.name, ActionKind.NETWORK, f"{_verb(call.name)} on {here}", page_host)

    async def invoke(self, call: ToolCall, ctx: ToolContext) -> ToolOutput:
        parsed = _parse(call)
        if isinstance(parsed, ToolOutput):
            return parsed
        try:
            _check_before_start(parsed)
            if isinstance(parsed, SaveDownloadArgs):
                return await self._save_download(parsed, ctx)
            async with self._session.use(ctx.call_id) as page:
                return await self._run(call.name, parsed, page)
        except ToolError as exc:
            return ToolOutput(str(exc), is_error=True)
        except (BrowserCrashed, BrowserUnavailable, SandboxUnavailable) as exc:
            self._forget_page()
            return ToolOutput(str(exc), is_error=True)
        except PlaywrightError as exc:
            if self._session.mark_crashed_if_dead() or _closed_under_us(exc):
                message = self._session.crash_message(call.name)
                await self._session.discard()
                self._forget_page()
                return ToolOutput(message, is_error=True)
            stale = await self._gone_ref(parsed)
            if stale is not None:
                return ToolOutput(
                    f"Element {stale} is no longer on the page (it changed since the snapshot); "
                    "call browser_snapshot and use a ref from the new snapshot.",
                    is_error=True,
                )
            notes = _refusal_notes(self._session.new_refusals())
            return ToolOutput(_playwright_message(call.name, exc) + notes, is_error=True)

    async def aclose(self) -> None:
        await self._session.aclose()

    # -- the tools ------------------------------------------------------------------------

    async def _run(self, name: str, args: BaseModel, page: Page) -> ToolOutput:
        match args:
            case NavigateArgs():
                checked_host(args.url)
                await page.goto(args.url, wait_until="domcontentloaded", timeout=NAVIGATION_MS)
            case ClickArgs():
                locator = self._locate(page, args.ref)
                if args.doubleClick:
                    await locator.dblclick(timeout=ACTION_MS)
                else:
                    await locator.click(timeout=ACTION_MS)
            case TypeArgs():
                locator = self._locate(page, args.ref)
                await locator.fill(args.text, timeout=ACTION_MS)
                if args.submit:
                    await locator.press("Enter", timeout=ACTION_MS)
            case FillFormArgs():
                for form_field in args.fields:
                    await self._fill(page, form_field)
            case SelectOptionArgs():
                await _select(self._locate(page, args.ref), args.ref, args.values)
            case PressKeyArgs():
                if not _KEY.match(args.key):
                    raise ToolError(f"{args.key!r} is not a key name such as Enter or ArrowDown.")
                await page.keyboard.press(args.key)
            case ScreenshotArgs():
                return await self._screenshot(page, args.fullPage)
            case WaitForArgs():
                await _wait(page, args)
            case _:
                if name == "browser_navigate_back":
                    await page.go_back(wait_until="domcontentloaded", timeout=NAVIGATION_MS)
        await _settle(page)
        if not page.url.startswith(("http://", "https://", "about:blank")):
            # Chromium refuses web pages that lead to local files; this holds even so.
            await page.goto("about:blank")
            raise ToolError("The page led to a non-web address, which the browser does not open.")
        return await self._snapshot_output(page)

    def _locate(self, page: Page, ref: str) -> Locator:
        self._known_ref(ref)
        return page.locator(f"aria-ref={ref}")

    def _known_ref(self, ref: str) -> None:
        if self._snapshot is None:
            raise ToolError(
                f"There is no page snapshot yet, so ref {ref} means nothing; navigate to a page "
                "or call browser_snapshot first."
            )
        if ref not in self._snapshot.roles:
            raise ToolError(
                f"Ref {ref} is not in the current page snapshot (the page may have changed); "
                "call browser_snapshot and use a ref from the new snapshot."
            )

    async def _fill(self, page: Page, form_field: FormField) -> None:
        locator = self._locate(page, form_field.ref)
        assert self._snapshot is not None
        kind = form_field.type or _field_kind(self._snapshot.roles.get(form_field.ref, ""))
        if kind in ("checkbox", "radio"):
            await locator.set_checked(
                form_field.value.strip().lower() in _CHECKED, timeout=ACTION_MS
            )
        elif kind == "combobox":
            await _select(locator, form_field.ref, [form_field.value])
        else:
            await locator.fill(form_field.value, timeout=ACTION_MS)

    async def _screenshot(self, page: Page, full_page: bool) -> ToolOutput:
        data = await page.screenshot(full_page=full_page, type="png", timeout=NAVIGATION_MS)
        self._artifacts.mkdir(parents=True, exist_ok=True)
        name = f"screenshot-{next(self._shots)}.png"
        path = self._artifacts / name
        await asyncio.to_thread(path.write_bytes, data)
        return ToolOutput(
            f"Saved a screenshot of {page.url} as the task artifact {name} "
            f"({len(data) // 1024} kB); the user can see it. Use browser_snapshot to act on "
            "the page.",
            files=(f"{ARTIFACTS_PREFIX}{name}",),
        )

    async def _save_download(self, args: SaveDownloadArgs, ctx: ToolContext) -> ToolOutput:
        target_folder(ctx, args.folder)  # a refused folder is said before a missing download
        download = find_download(self._session.downloads, args.download)
        shown, inside = await save_download(ctx, download, args.folder, args.filename)
        return ToolOutput(
            f"Saved the download {download.suggested_filename} as {shown}. Commands of this "
            "task see it now; it reaches the folder itself once the browser closes (when the "
            "task ends, or after the browser has been idle for a while).",
            files=(inside,),
        )

    async def _snapshot_output(self, page: Page) -> ToolOutput:
        text = await page.aria_snapshot(mode="ai", timeout=SNAPSHOT_MS)
        snapshot = Snapshot.parse(page.url, await page.title(), text)
        self._snapshot = snapshot
        await self._read_forms(page, snapshot)
        notes = _refusal_notes(self._session.new_refusals())
        downloads = self._session.downloads
        if downloads:
            notes += "\nDownloads so far (in the browser's scratch space; browser_save_download "
            notes += "keeps one in a read-write folder): "
            notes += ", ".join(d.suggested_filename for d in downloads)
        return ToolOutput(snapshot.render() + notes)

    async def _read_forms(self, page: Page, snapshot: Snapshot) -> None:
        """Work out, for describing later calls, which refs submit a form and how."""
        refs = [ref for ref, role in snapshot.roles.items() if role in SUBMITTING_ROLES]

        async def form_of(ref: str) -> object:
            try:
                return await page.locator(f"aria-ref={ref}").evaluate(
                    FORM_OF_ELEMENT, timeout=ACTION_MS
                )
            except PlaywrightError:
                return None

        async def focused() -> object:
            # evaluate_all does not wait for a match: most pages have nothing focused, and
            # waiting for one cost every such snapshot its whole timeout.
            try:
                return await page.locator("*:focus").evaluate_all(_FORM_OF_FIRST)
            except PlaywrightError:
                return None

        results = await asyncio.gather(*(form_of(ref) for ref in refs), focused())
        self._submissions = {}
        for ref, raw in zip(refs, results[:-1], strict=True):
            submission = Submission.from_page(raw)
            if submission is not None:
                self._submissions[ref] = submission
        self._focused = Submission.from_page(results[-1])

    def _submission_of(self, args: BaseModel) -> Submission | None:
        """The form submission a call would make, as far as the last snapshot tells."""
        match args:
            case ClickArgs():
                found = self._submissions.get(args.ref)
                return found if found is not None and found.on_click else None
            case TypeArgs() if args.submit:
                found = self._submissions.get(args.ref)
                return found if found is not None and found.on_enter else None
            case PressKeyArgs() if args.key == "Enter":
                focused = self._focused
                return focused if focused is not None and focused.on_enter else None
        return None

    async def _gone_ref(self, args: BaseModel) -> str | None:
        """The first ref of a failed call that no longer finds an element, if any."""
        refs = [f.ref for f in args.fields] if isinstance(args, FillFormArgs) else []
        if isinstance(args, ClickArgs | TypeArgs | SelectOptionArgs):
            refs = [args.ref]
        if not refs or not self._session.running:
            return None
        try:
            page = await self._session.page("")
            for ref in refs:
                if await page.locator(f"aria-ref={ref}").count() == 0:
                    return ref
        except (PlaywrightError, BrowserCrashed):
            return None
        return None

    def _forget_page(self) -> None:
        self._snapshot = None
        self._submissions = {}
        self._focused = None


async def _select(locator: Locator, ref: str, values: list[str]) -> None:
    try:
        await locator.select_option(values, timeout=ACTION_MS)
    except PlaywrightError as exc:
        if "Timeout" not in (exc.message or ""):
            raise
        wanted = ", ".join(repr(v) for v in values)
        raise ToolError(
            f"{ref} has no option {wanted} (or is not a dropdown); use an option's text as the "
            "snapshot shows it."
        ) from None


def _check_before_start(args: BaseModel) -> None:
    """Refuse what can be refused without the browser, so a bad call never starts one."""
    if isinstance(args, NavigateArgs):
        checked_host(args.url)
    if (
        isinstance(args, WaitForArgs)
        and args.time is None
        and args.text is None
        and (args.textGone is None)
    ):
        raise ToolError("Give text, textGone or time to wait for.")


async def _wait(page: Page, args: WaitForArgs) -> None:
    limit_ms = (args.time or 30.0) * 1000
    if args.text is not None:
        await page.get_by_text(args.text).first.wait_for(state="visible", timeout=limit_ms)
    if args.textGone is not None:
        await page.get_by_text(args.textGone).first.wait_for(state="hidden", timeout=limit_ms)
    if args.text is None and args.textGone is None and args.time:
        await page.wait_for_timeout(args.time * 1000)


async def _settle(page: Page) -> None:
    """Let a navigation the action started reach the point where the page can be read."""
    with contextlib.suppress(PlaywrightError):
        await page.wait_for_load_state("domcontentloaded", timeout=NAVIGATION_MS)


def _parse(call: ToolCall) -> BaseModel | ToolOutput:
    entry = TOOLS.get(call.name)
    if entry is None:
        return ToolOutput(f"The browser has no tool {call.name!r}.", is_error=True)
    try:
        return entry[1].model_validate(call.arguments())
    except MalformedToolArguments as exc:
        return ToolOutput(str(exc), is_error=True)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
            for e in exc.errors()[:3]
        )
        return ToolOutput(
            f"Invalid arguments for {call.name}: {problems}. Fix them and call again.",
            is_error=True,
        )


def _action(tool: str, kind: ActionKind, summary: str, domain: str | None) -> Action:
    line = " ".join(summary.split())
    return Action(tool, kind, line if len(line) <= 600 else line[:599] + "…", domain=domain)


def _verb(name: str) -> str:
    return name.removeprefix("browser_").replace("_", " ")


def _host_or_none(url: str) -> str | None:
    try:
        return checked_host(url)
    except ToolError:
        return None


def _field_kind(role: str) -> str:
    return {"checkbox": "checkbox", "radio": "radio", "combobox": "combobox"}.get(role, "textbox")


def _refusal_notes(refused: Sequence[NetworkDecision]) -> str:
    reasons: dict[str, str] = {}
    for decision in refused:
        reasons.setdefault(f"{decision.host}:{decision.port}", decision.reason)
    if not reasons:
        return ""
    listed = "; ".join(f"{target} ({reason})" for target, reason in reasons.items())
    return f"\nErrand's network policy refused connections during this call: {listed}."


def _closed_under_us(exc: PlaywrightError) -> bool:
    # Playwright's own errors for a browser or page gone mid-call (their class is not public).
    text = exc.message or str(exc)
    return "has been closed" in text or "Target crashed" in text


def _playwright_message(tool: str, exc: PlaywrightError) -> str:
    first = (exc.message or str(exc)).strip().splitlines()
    text = first[0] if first else type(exc).__name__
    if "net::ERR_TUNNEL_CONNECTION_FAILED" in text or "net::ERR_PROXY" in text:
        return (
            f"{tool}: the site was not reachable; the sandbox's network policy refused it "
            f"or it is down ({text})."
        )
    return f"{tool} failed: {text}"
