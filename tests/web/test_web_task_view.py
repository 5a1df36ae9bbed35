"""One task on the phone, as a picky user checks it: approval cards that say in words what
will happen, one text box that answers questions and sends messages, landing on what needs
you, following the output, and the header's controls. Chromium at 375×667 against a real
``errand serve``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from web.conftest import PairedPhone, Scripts
from web.test_web_app import (
    CONTROLS_CHECK,
    Phone,
    paired_phone,
    start_task,
    wait_for_pending_approval,
)
from web.web_harness import GatewayProcess, snap, write_script

pytestmark = pytest.mark.browser


@pytest.fixture()
def phone(browser: Browser, gateway: GatewayProcess, paired: PairedPhone) -> Iterator[Phone]:
    yield from paired_phone(browser, gateway, paired, service_worker=False)


DRAFTS = [{"name": "drafts", "mode": "rw"}]


def test_the_approval_card_says_in_words_what_will_happen(
    phone: Phone, scripts: Scripts, tmp_path: Path
) -> None:
    (scripts.drafts / "plan.txt").write_text("one\ntwo\n", encoding="utf-8")
    model = write_script(
        tmp_path / "words.json",
        [
            {
                "text": "Updating the plan.",
                "tool_calls": [
                    {
                        "name": "write_file",
                        "arguments": {"path": "plan.txt", "content": "one\nthree\n"},
                    }
                ],
            },
            {
                "expect_tool_results": [{"is_error": True, "contains": "said: keep line two"}],
                "text": "Then a new file.",
                "tool_calls": [
                    {
                        "name": "write_file",
                        "arguments": {"path": "fresh.txt", "content": "brand new text"},
                    }
                ],
            },
            {
                "expect_tool_results": [{"is_error": False}],
                "text": "And a command.",
                "tool_calls": [{"name": "run_shell", "arguments": {"command": "ls -la"}}],
            },
            {"expect_tool_results": [{"is_error": False}], "text": "All done."},
        ],
    )
    task_id = start_task(phone, "Update my plan", model, folders=DRAFTS)
    assert wait_for_pending_approval(phone, task_id)
    page = phone.page
    page.goto(phone.gateway.url(f"/#/tasks/{task_id}"))

    replace = page.locator(".card.approval").nth(0)
    expect(replace.locator(".approval-what")).to_have_text("Write plan.txt", timeout=20_000)
    expect(replace).to_contain_text("This replaces an existing file.")
    diff = replace.locator("pre.approval-diff")
    expect(diff).to_contain_text("-two")
    expect(diff).to_contain_text("+three")
    expect(replace.locator(".approval-expires")).to_contain_text("it will not run after")
    snap(page, "approval")
    replace.get_by_text("Deny with a reason").click()
    replace.get_by_label("Why not? Errand is told.").fill("keep line two")
    replace.get_by_role("button", name="Deny and tell Errand").click()
    expect(replace.locator("h2")).to_have_text("Denied")
    expect(replace.locator(".approval-status")).to_have_text(
        "Denied on Test phone: “keep line two”"
    )
    expect(replace.locator(".approval-expires")).to_have_count(0)
    expect(replace.get_by_role("button")).to_have_count(0)

    fresh = page.locator(".card.approval").nth(1)
    expect(fresh.locator(".approval-what")).to_have_text(
        "Write a new file fresh.txt with this content:", timeout=20_000
    )
    expect(fresh.locator("pre.approval-content")).to_have_text("brand new text")
    expect(fresh).not_to_contain_text("replaces an existing file")
    fresh.get_by_role("button", name="Approve").click()
    expect(fresh.locator(".approval-status")).to_have_text("Approved on Test phone.")

    command = page.locator(".card.approval").nth(2)
    expect(command.locator("pre.approval-command")).to_have_text("ls -la", timeout=20_000)
    expect(command.locator(".approval-what")).to_have_text("Run this command in drafts:")
    # No sandbox-internal path anywhere on any card, even in the exact arguments.
    command.get_by_text("Exact arguments").click()
    for card in page.locator(".card.approval").all():
        assert "/sessions/" not in card.inner_text()
    command.get_by_role("button", name="Approve").click()
    expect(page.locator(".bubble.assistant", has_text="All done.")).to_be_visible(timeout=20_000)
    assert (scripts.drafts / "plan.txt").read_text(encoding="utf-8") == "one\ntwo\n"
    assert (scripts.drafts / "fresh.txt").read_text(encoding="utf-8") == "brand new text"
    phone.assert_nothing_ran()


def test_one_text_box_answers_the_question_and_sends_messages(
    phone: Phone, scripts: Scripts, tmp_path: Path
) -> None:
    task_id = start_task(phone, "Ask me something", scripts.question)
    page = phone.page
    page.goto(phone.gateway.url(f"/#/tasks/{task_id}"))
    question = page.locator(".card.question")
    expect(question).to_contain_text("Shall I go on?", timeout=20_000)
    # The question's card has no box of its own: the one at the bottom answers it.
    expect(question.locator("textarea")).to_have_count(0)
    expect(page.locator("textarea")).to_have_count(1)
    expect(page.locator(".answering")).to_have_text("Answering: Shall I go on?")
    page.get_by_label("Your answer").fill("yes please")
    page.get_by_role("button", name="Answer", exact=True).click()
    expect(question).to_contain_text("Answered: yes please")
    expect(page.get_by_label("Message to the task")).to_be_visible()
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_visible()
    expect(page.locator(".answering")).to_be_hidden()
    expect(page.locator(".status-slot")).to_have_text("Done", timeout=20_000)

    # A message sent while the task works shows at once, marked sent until the task reads it.
    model = write_script(
        tmp_path / "busy.json",
        [
            {"tool_calls": [{"name": "run_shell", "arguments": {"command": "echo busy"}}]},
            {"text": "Read your note."},
        ],
    )
    busy = start_task(phone, "Work a while", model)
    assert wait_for_pending_approval(phone, busy)
    page.goto(phone.gateway.url(f"/#/tasks/{busy}"))
    expect(page.locator(".card.approval")).to_be_visible(timeout=20_000)
    page.get_by_label("Message to the task").fill("Also add a title")
    page.get_by_role("button", name="Send", exact=True).click()
    note = page.locator(".bubble.user", has_text="Also add a title")
    expect(note.locator(".sent-state")).to_have_text("sent")
    expect(page.get_by_label("Message to the task")).to_have_value("")
    page.locator(".card.approval").get_by_role("button", name="Approve").click()
    expect(page.locator(".bubble.assistant", has_text="Read your note.")).to_be_visible(
        timeout=20_000
    )
    expect(note).to_have_count(1)
    expect(note.locator(".sent-state")).to_have_text("sent")
    page.reload()
    expect(page.locator(".bubble.user", has_text="Also add a title")).to_have_count(
        1, timeout=20_000
    )
    phone.assert_nothing_ran()


def test_a_message_that_answers_the_question_shows_once(phone: Phone, scripts: Scripts) -> None:
    task_id = start_task(phone, "Ask me, then go on", scripts.question)
    page = phone.page
    page.goto(phone.gateway.url(f"/#/tasks/{task_id}"))
    question = page.locator(".card.question")
    expect(question).to_contain_text("Shall I go on?", timeout=20_000)
    # Sent as a message (from another device, or before this one saw the question).
    sent = phone.api("POST", f"/tasks/{task_id}/messages", {"text": "go on, in blue"})
    assert sent.status_code in (200, 202), sent.text
    expect(question).to_contain_text("Answered: go on, in blue")
    expect(page.locator(".status-slot")).to_have_text("Done", timeout=20_000)
    expect(page.locator(".log")).to_contain_text("go on, in blue")
    assert page.locator(".log").inner_text().count("go on, in blue") == 1
    page.reload()
    expect(page.locator(".status-slot")).to_have_text("Done", timeout=20_000)
    expect(page.locator(".card.question")).to_contain_text("Answered: go on, in blue")
    assert page.locator(".log").inner_text().count("go on, in blue") == 1
    phone.assert_nothing_ran()


IN_VIEW = """(el) => {
    const box = el.getBoundingClientRect();
    return box.bottom > 0 && box.top < window.innerHeight;
}"""


def test_a_task_that_needs_you_opens_at_its_card_and_follows_new_output(
    phone: Phone, tmp_path: Path
) -> None:
    report = "\n\n".join(f"Line {n} of a long report." for n in range(60))
    model = write_script(
        tmp_path / "long.json",
        [
            {
                "text": report,
                "tool_calls": [{"name": "run_shell", "arguments": {"command": "ls"}}],
            },
            {"text": "After the approval:\n\n" + report},
        ],
    )
    task_id = start_task(phone, "Write a long report, then run something", model)
    assert wait_for_pending_approval(phone, task_id)
    page = phone.page
    page.goto(phone.gateway.url(f"/#/tasks/{task_id}"))
    card = page.locator(".card.approval.pending")
    expect(card).to_be_visible(timeout=20_000)
    page.wait_for_function(
        "() => { const c = document.querySelector('.card.approval.pending');"
        " const b = c.getBoundingClientRect(); return b.bottom > 0 && b.top < innerHeight; }"
    )
    bar = page.locator(".attention-bar")
    expect(bar).to_be_hidden()

    # Scrolled away from it, a bar points back to it.
    page.mouse.wheel(0, -20_000)
    expect(bar).to_have_text("Approval needed ↓")
    bar.click()
    page.wait_for_function(
        "() => { const c = document.querySelector('.card.approval.pending');"
        " const b = c.getBoundingClientRect(); return b.bottom > 0 && b.top < innerHeight; }"
    )
    expect(bar).to_be_hidden()

    # A reader who scrolled up is not pulled down by new output: a chip says there is more.
    page.mouse.wheel(0, -20_000)
    page.wait_for_function("() => window.scrollY === 0")
    approval = phone.api("GET", f"/approvals?task_id={task_id}").json()["approvals"][0]
    decided = phone.api(
        "POST", f"/approvals/{approval['id']}", {"approve": True, "digest": approval["digest"]}
    )
    assert decided.status_code == 200, decided.text
    chip = page.locator(".new-below")
    expect(chip).to_have_text("New below ↓", timeout=20_000)
    expect(page.locator(".bubble.assistant", has_text="After the approval")).to_have_count(1)
    assert page.evaluate("window.scrollY") == 0
    expect(bar).to_be_hidden()
    chip.click()
    last = page.locator(".bubble.assistant").last
    expect(last).to_contain_text("Line 59")
    assert last.evaluate(IN_VIEW)
    expect(chip).to_be_hidden()
    phone.assert_nothing_ran()


def test_the_header_cancel_and_the_back_button(phone: Phone) -> None:
    page = phone.page
    page.goto(phone.gateway.url("/"))
    page.get_by_role("link", name="New task").click()
    prompt = "Tidy my notes and " * 12 + "tell me what changed"
    page.get_by_label("What should Errand do?").fill(prompt)
    page.get_by_role("button", name="Send").click()
    page.get_by_role("button", name="Send without a folder").click()
    expect(page.locator(".card.question")).to_contain_text("Shall I go on?", timeout=20_000)
    task_id = page.url.rsplit("/", 1)[-1]

    # One title line, cut with an ellipsis.
    title = page.locator(".task-heading")
    sizes = title.evaluate(
        "(el) => [el.scrollWidth, el.clientWidth, el.getBoundingClientRect().height,"
        " getComputedStyle(el).textOverflow, parseFloat(getComputedStyle(el).lineHeight)]"
    )
    assert sizes[0] > sizes[1] and sizes[3] == "ellipsis" and sizes[2] < 1.5 * sizes[4], sizes

    # Cancel sits apart from Files and asks first.
    cancel = page.get_by_role("button", name="Cancel task")
    files = page.get_by_role("button", name="Files")
    cancel_box, files_box = cancel.bounding_box(), files.bounding_box()
    assert cancel_box and files_box and abs(cancel_box["y"] - files_box["y"]) > 20
    cancel.click()
    expect(page.get_by_role("group", name="Cancel this task?")).to_be_visible()
    found = page.evaluate(CONTROLS_CHECK)
    assert found["problems"] == [], found
    page.get_by_role("button", name="Keep it running").click()
    expect(page.get_by_role("group", name="Cancel this task?")).to_be_hidden()
    assert phone.api("GET", f"/tasks/{task_id}").json()["status"] == "waiting"
    cancel.click()
    page.get_by_role("button", name="Stop the task").click()
    expect(page.locator(".status-slot")).to_have_text("Cancelled", timeout=20_000)

    # Back returns to the list, not to the form that was sent.
    page.go_back()
    expect(page.get_by_role("link", name="New task")).to_be_visible()
    assert "#/new" not in page.url
    expect(page.get_by_label("What should Errand do?")).to_have_count(0)
    phone.assert_nothing_ran()


WATCH_STREAMING = """
window.__rawMarkdown = [];
new MutationObserver(() => {
    for (const el of document.querySelectorAll('.streaming')) {
        if (el.textContent.includes('**') || el.textContent.includes('|---')) {
            window.__rawMarkdown.push(el.textContent);
        }
    }
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


def test_markdown_streams_rendered_and_md_files_open_rendered(
    phone: Phone, scripts: Scripts, tmp_path: Path
) -> None:
    table = "| Day | Task |\n|-----|------|\n| Mon | **Water** the plants |\n"
    model = write_script(
        tmp_path / "md.json",
        [
            {
                "text": "Here is the **plan** for the week:\n\n" + table,
                "tool_calls": [
                    {"name": "write_file", "arguments": {"path": "plan.md", "content": table}}
                ],
            },
            {"text": "Saved it as **plan.md**."},
        ],
    )
    task_id = start_task(phone, "Plan my week", model, folders=[{"name": "notes", "mode": "rw"}])
    page = phone.page
    page.add_init_script(WATCH_STREAMING)
    page.goto(phone.gateway.url(f"/#/tasks/{task_id}"))
    expect(page.locator(".status-slot")).to_have_text("Done", timeout=20_000)
    first = page.locator(".bubble.assistant").first
    expect(first.locator("table td strong")).to_have_text("Water")
    expect(first.locator("strong").first).to_have_text("plan")
    assert page.evaluate("window.__rawMarkdown") == []
    page.get_by_role("button", name="Files").click()
    page.get_by_role("button", name="Open plan.md").click()
    rendered = page.locator(".viewer .file-markdown")
    expect(rendered.locator("th")).to_have_text(["Day", "Task"])
    expect(rendered.locator("td strong")).to_have_text("Water")
    phone.assert_nothing_ran()
