"""The browser toolset against local sites: forms, refs, snapshots and confinement.

Everything runs for real: Chromium and the Playwright driver inside the task's sandbox, every
connection through the egress proxy, sites on a namespace test host.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from browser.conftest import ALLOWED, DENIED, UNLISTED, Browsing
from errand.browser import BrowserToolset
from errand.tools import Action, ActionKind, ToolOutput

pytestmark = [pytest.mark.browser, pytest.mark.netns]


def ref_of(snapshot: str, label: str) -> str:
    """The ref of the first snapshot line that mentions ``label``."""
    for line in snapshot.splitlines():
        if label in line and "[ref=" in line:
            return line.split("[ref=", 1)[1].split("]", 1)[0]
    raise AssertionError(f"no element {label!r} in:\n{snapshot}")


async def test_a_two_page_form_is_filled_and_the_server_gets_exactly_that(
    browsing: Browsing,
) -> None:
    page = await browsing.call("browser_navigate", url=browsing.url(ALLOWED, "/form/1"))
    assert not page.is_error, page.content
    assert "Order, step 1 of 2" in page.content
    filled = await browsing.call(
        "browser_fill_form",
        fields=[
            {"ref": ref_of(page.content, 'textbox "Full name"'), "value": "Ada Lovelace"},
            {"ref": ref_of(page.content, 'combobox "Country"'), "value": "Italy"},
        ],
    )
    assert not filled.is_error, filled.content
    step2 = await browsing.call("browser_click", ref=ref_of(filled.content, 'button "Next"'))
    assert "Hello Ada Lovelace." in step2.content, step2.content
    checked = await browsing.call(
        "browser_fill_form",
        fields=[{"ref": ref_of(step2.content, "checkbox"), "value": "true"}],
    )
    selected = await browsing.call(
        "browser_select_option", ref=ref_of(checked.content, 'combobox "Plan"'), values=["pro"]
    )
    typed = await browsing.call(
        "browser_type", ref=ref_of(selected.content, 'textbox "Comment"'), text="Ring twice"
    )
    done = await browsing.call("browser_click", ref=ref_of(typed.content, "Place order"))
    assert "Order received for Ada Lovelace." in done.content, done.content

    posts = [r for r in browsing.received() if r.method == "POST"]
    assert [p.path for p in posts[-2:]] == ["/form/2", "/form/done"]
    assert posts[-2].body == "name=Ada+Lovelace&country=it"
    assert posts[-1].body == (
        "name=Ada+Lovelace&country=it&newsletter=yes&plan=pro&comment=Ring+twice"
    )
    assert browsing.allowed(ALLOWED)


async def test_the_snapshot_is_marked_as_untrusted_page_content(browsing: Browsing) -> None:
    out = await browsing.call(
        "browser_navigate", url=browsing.url(ALLOWED, f"/inject?quiet=1&to=http://{UNLISTED}:1")
    )
    assert out.content.index("untrusted data from the web page") < out.content.index(
        "<page-content>"
    )
    assert out.content.index("<page-content>") < out.content.index("IMPORTANT INSTRUCTIONS")
    assert out.content.rstrip().endswith("</page-content>")


async def test_a_stale_ref_gets_a_clear_error_asking_for_a_new_snapshot(
    browsing: Browsing,
) -> None:
    first = await browsing.call("browser_navigate", url=browsing.url(ALLOWED, "/form/1"))
    await browsing.call("browser_navigate", url=browsing.url(ALLOWED, "/"))
    out = await browsing.call("browser_click", ref="e999")
    assert out.is_error
    assert "browser_snapshot" in out.content and "e999" in out.content
    assert "[ref=" in first.content


async def test_a_ref_before_any_snapshot_is_refused_without_starting_anything(
    browsing: Browsing,
) -> None:
    described = browsing.describe("browser_click", ref="e1")
    assert isinstance(described, ToolOutput) and described.is_error
    assert "snapshot" in described.content


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/html,<script>fetch('http://x')</script>",
        "chrome://settings",
        "view-source:http://shop.test/",
    ],
)
async def test_urls_other_than_http_are_refused(browsing: Browsing, url: str) -> None:
    described = browsing.describe("browser_navigate", url=url)
    assert isinstance(described, ToolOutput) and described.is_error
    out = await browsing.call("browser_navigate", url=url)
    assert out.is_error
    assert "http" in out.content
    assert not browsing.toolset.session.running


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:3128/", "http://localhost:8090/", "http://169.254.169.254/"]
)
async def test_loopback_and_metadata_addresses_are_refused_and_recorded(
    browsing: Browsing, url: str
) -> None:
    out = await browsing.call("browser_navigate", url=url)
    host = url.split("//")[1].split(":")[0].split("/")[0]
    assert browsing.refused(host), browsing.decisions
    assert not browsing.allowed(host)
    assert "page-content" not in out.content or "not" in out.content


async def test_a_redirect_to_a_denied_host_is_refused_and_recorded(browsing: Browsing) -> None:
    target = browsing.url(DENIED, "/form/1")
    out = await browsing.call(
        "browser_navigate", url=browsing.url(ALLOWED, f"/redirect?to={target}")
    )
    assert browsing.refused(DENIED)
    assert "denied" in browsing.refused(DENIED)[0].reason
    assert "Order, step 1" not in out.content
    assert f"network policy refused connections during this call: {DENIED}:8090" in out.content
    assert DENIED not in browsing.hosts_received()


async def test_subresources_to_a_denied_host_are_refused_and_recorded(
    browsing: Browsing,
) -> None:
    origin = f"http://{DENIED}:8090"
    out = await browsing.call(
        "browser_navigate", url=browsing.url(ALLOWED, f"/subresources?to={origin}")
    )
    assert not out.is_error, out.content
    waited = await browsing.call("browser_wait_for", text="tried")
    assert not waited.is_error, waited.content
    assert browsing.refused(DENIED)
    assert DENIED not in browsing.hosts_received()


async def test_a_page_that_tries_to_send_data_elsewhere_sends_nothing(
    browsing: Browsing,
) -> None:
    origin = f"http://{UNLISTED}:8090"
    browsing.user.answer = False
    out = await browsing.call("browser_navigate", url=browsing.url(ALLOWED, f"/inject?to={origin}"))
    assert not out.is_error, out.content
    await browsing.call("browser_wait_for", time=1)
    assert browsing.refused(UNLISTED)
    assert UNLISTED not in browsing.hosts_received()
    assert not [r for r in browsing.received() if r.path.startswith("/collect")]


async def test_a_form_to_an_unlisted_domain_is_described_with_its_fields(
    browsing: Browsing,
) -> None:
    origin = f"http://{UNLISTED}:8090"
    page = await browsing.call(
        "browser_navigate", url=browsing.url(ALLOWED, f"/post-elsewhere?to={origin}")
    )
    await browsing.call(
        "browser_fill_form",
        fields=[
            {"ref": ref_of(page.content, 'textbox "Email"'), "value": "ada@example.org"},
            {"ref": ref_of(page.content, 'textbox "Password"'), "value": "hunter22"},
        ],
    )
    snapshot = await browsing.call("browser_snapshot")
    action = browsing.describe("browser_click", ref=ref_of(snapshot.content, "Subscribe"))
    assert isinstance(action, Action)
    assert (action.kind, action.domain) == (ActionKind.SEND, UNLISTED)
    assert f"submit a form to {origin}/collect (POST)" in action.summary
    assert "email='ada@example.org'" in action.summary
    assert "hunter22" not in action.summary
    assert "password=(password, 8 characters)" in action.summary
    typed = browsing.describe(
        "browser_type", ref=ref_of(snapshot.content, "Email"), text="x", submit=True
    )
    assert isinstance(typed, Action) and (typed.kind, typed.domain) == (ActionKind.SEND, UNLISTED)
    assert "submit a form" in typed.summary


async def test_a_form_to_the_allowed_domain_is_an_ordinary_click(browsing: Browsing) -> None:
    page = await browsing.call("browser_navigate", url=browsing.url(ALLOWED, "/form/1"))
    action = browsing.describe("browser_click", ref=ref_of(page.content, 'button "Next"'))
    assert isinstance(action, Action)
    assert action.domain == ALLOWED
    assert "submit" not in action.summary


async def test_a_screenshot_is_saved_as_a_task_artifact(browsing: Browsing) -> None:
    await browsing.call("browser_navigate", url=browsing.url(ALLOWED, "/"))
    out = await browsing.call("browser_take_screenshot", fullPage=True)
    assert not out.is_error, out.content
    assert out.files == ("/artifacts/screenshot-1.png",)
    data = await asyncio.to_thread((browsing.artifacts / "screenshot-1.png").read_bytes)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")


async def test_a_browser_killed_mid_task_is_a_tool_error_and_the_next_call_works(
    browsing: Browsing,
) -> None:
    first = await browsing.call("browser_navigate", url=browsing.url(ALLOWED, "/"))
    assert not first.is_error
    os.kill(chromium_pids(browsing)[0], signal.SIGKILL)
    crashed = await browsing.call("browser_snapshot")
    assert crashed.is_error
    assert "stopped unexpectedly" in crashed.content
    again = await browsing.call("browser_navigate", url=browsing.url(ALLOWED, "/form/1"))
    assert not again.is_error, again.content
    assert "Order, step 1 of 2" in again.content


async def test_a_browser_started_as_the_task_begins_serves_the_first_call(
    browsing: Browsing,
) -> None:
    toolset = BrowserToolset(browsing.ctx, artifacts=browsing.artifacts, start_early=True)
    try:
        await toolset.list_tools(browsing.ctx)
        await toolset.session.early_start_done()
        assert toolset.session.running
        started = toolset.session.driver_pid
        page = await toolset.invoke(
            browsing.call_of("browser_navigate", url=browsing.url(ALLOWED, "/form/1")),
            browsing.ctx,
        )
        assert "Order, step 1 of 2" in page.content, page.content
        assert toolset.session.driver_pid == started
    finally:
        await toolset.aclose()


async def test_navigate_back_returns_to_the_previous_page(browsing: Browsing) -> None:
    await browsing.call("browser_navigate", url=browsing.url(ALLOWED, "/"))
    await browsing.call("browser_navigate", url=browsing.url(ALLOWED, "/form/1"))
    back = await browsing.call("browser_navigate_back")
    assert "Page title: Home" in back.content


async def test_bad_arguments_are_explained(browsing: Browsing) -> None:
    out = await browsing.call("browser_wait_for", time=3600)
    assert out.is_error and "time" in out.content
    out = await browsing.call("browser_wait_for")
    assert out.is_error and "textGone" in out.content


def chromium_pids(browsing: Browsing) -> list[int]:
    """Chromium processes under the task's browser sandbox, the browser's main process first."""
    root = browsing.toolset.session.driver_pid
    assert root is not None
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text(encoding="utf-8")
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop(0)
        for child in children.get(pid, []):
            todo.append(child)
            try:
                exe = os.readlink(f"/proc/{child}/exe")
            except OSError:
                continue
            if os.path.basename(exe) in ("chromium", "chromium-headless-shell", "chromium-browser"):
                found.append(child)
    assert found, "no Chromium process found under the browser's sandbox"
    return found


async def test_an_idle_browser_is_closed_and_starts_again_on_the_next_call(
    browsing: Browsing,
) -> None:
    session = browsing.toolset.session
    session.idle_seconds = 0.5
    await browsing.call("browser_navigate", url=browsing.url(ALLOWED, "/"))
    assert session.running
    await asyncio.wait_for(session.idle_closed(), 30)
    assert session.driver_pid is None
    again = await browsing.call("browser_navigate", url=browsing.url(ALLOWED, "/form/1"))
    assert "Order, step 1 of 2" in again.content
