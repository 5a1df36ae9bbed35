"""A task that completed after trouble says so on the phone: in the task list, at the end of
its log, and with each failed step's reason visible without opening the step."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from web.test_web_app import Phone, phone, start_task  # noqa: F401 - the phone fixture
from web.web_harness import write_script

pytestmark = pytest.mark.browser


def test_a_completed_task_shows_its_failed_step_and_what_needs_a_look(
    phone: Phone,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    model = write_script(
        tmp_path / "trouble.json",
        [
            {"tool_calls": [{"name": "read_file", "arguments": {"path": "nowhere/plan.txt"}}]},
            {"expect_tool_results": [{"is_error": True}], "text": "Done without the plan."},
        ],
    )
    task_id = start_task(phone, "Read my plan", model)
    page = phone.page
    page.goto(phone.gateway.url(f"/#/tasks/{task_id}"))
    expect(page.locator(".status-slot")).to_have_text("Done", timeout=20_000)
    step = page.locator(".entry.tool", has_text="read_file")
    why = step.locator(".tool-error")
    expect(why).to_be_visible()
    expect(step.locator("pre.result")).to_be_hidden()  # the card itself stays closed
    reason = why.inner_text()
    assert reason.strip()
    step.locator("summary").click()
    expect(step.locator("pre.result")).to_contain_text(reason.rstrip("…"))
    last = page.locator(".log > li").last
    expect(last).to_have_text("Needs a look: 1 step failed")

    task = phone.api("GET", f"/tasks/{task_id}").json()
    assert (task["status"], task["attention"]) == ("completed", ["1 step failed"])
    page.goto(phone.gateway.url("/"))
    row = page.locator(".task", has_text="Read my plan")
    expect(row.locator(".attention")).to_have_text("⚠ 1 step failed", timeout=20_000)
    expect(row.locator(".badge")).to_have_text("Done")
    phone.assert_nothing_ran()
