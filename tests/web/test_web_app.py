"""The phone app end to end: Chromium at 375×667 against a real ``errand serve``.

Every flow a person uses from the phone: pairing through the QR link, starting a task and
watching it stream, approving a step, answering a question, opening an HTML artifact,
cancelling, surviving a dropped connection, and being locked out after revocation. Agent
output in these runs includes an injection corpus, and nothing in it may ever run.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import APIResponse, Browser, BrowserContext, Request, Route, expect

from web.conftest import PairedPhone, Scripts, pair_phone
from web.test_web_markdown import XSS_CORPUS
from web.web_harness import DialogLog, GatewayProcess, new_phone_context, snap, write_script

pytestmark = pytest.mark.browser

FINAL_STATUSES = {"completed", "failed", "cancelled", "interrupted"}

WATCH_PAGE = """
window.__xss = [];
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective));
"""


class Phone:
    """A paired phone's browser page plus what it saw (dialogs, requests)."""

    def __init__(self, context: BrowserContext, gateway: GatewayProcess, token: str) -> None:
        self.context = context
        self.gateway = gateway
        self.token = token
        self.dialogs = DialogLog()
        self.urls: list[str] = []
        self.unauthenticated_api: list[str] = []
        self.posts_without_key: list[str] = []
        self.resumed_from: list[str] = []
        context.add_init_script(WATCH_PAGE)
        self.page = context.new_page()
        self.page.on("dialog", self.dialogs)
        self.page.on("request", self._saw)

    def _saw(self, request: Request) -> None:
        self.urls.append(request.url)
        path = request.url.split(str(self.gateway.port), 1)[-1]
        api = path.startswith("/api/v1/") and not path.startswith("/api/v1/pair")
        if api and request.headers.get("authorization") != f"Bearer {self.token}":
            self.unauthenticated_api.append(request.url)
        if "last-event-id" in request.headers:
            self.resumed_from.append(request.headers["last-event-id"])
        if request.method in ("POST", "DELETE") and "idempotency-key" not in request.headers:
            self.posts_without_key.append(request.url)

    def api(self, method: str, path: str, body: object | None = None) -> httpx.Response:
        """Call the API as this device, from outside the browser (the test's own hands)."""
        return httpx.request(
            method,
            self.gateway.url(f"/api/v1{path}"),
            headers={"Authorization": f"Bearer {self.token}"},
            json=body,
            timeout=10.0,
        )

    def question_id(self, task_id: str) -> str:
        """The id of the task's first question, read from its live event stream."""
        with httpx.stream(
            "GET",
            self.gateway.url(f"/api/v1/tasks/{task_id}/events"),
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=20.0,
        ) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:") and '"question.asked"' in line:
                    found: str = json.loads(line[5:])["payload"]["question_id"]
                    return found
        raise AssertionError(f"task {task_id} asked no question")

    def assert_nothing_ran(self) -> None:
        assert self.page.evaluate("window.__xss") == []
        assert self.page.evaluate("window.__csp") == []
        assert self.dialogs.messages == []
        assert not any(self.token in url for url in self.urls)
        assert self.unauthenticated_api == []
        assert self.posts_without_key == []


def paired_phone(
    browser: Browser, gateway: GatewayProcess, paired: PairedPhone, *, service_worker: bool
) -> Iterator[Phone]:
    """The paired phone at 375×667 in a context of its own, closed afterwards."""
    context = browser.new_context(
        viewport={"width": 375, "height": 667},
        is_mobile=True,
        has_touch=True,
        service_workers="allow" if service_worker else "block",
        storage_state=paired.storage_state,  # type: ignore[arg-type]
    )
    try:
        yield Phone(context, gateway, paired.token)
    finally:
        context.close()


@pytest.fixture()
def phone(browser: Browser, gateway: GatewayProcess, paired: PairedPhone) -> Iterator[Phone]:
    yield from paired_phone(browser, gateway, paired, service_worker=False)


def start_task(phone: Phone, prompt: str, model: str, **extra: object) -> str:
    answer = phone.api("POST", "/tasks", {"prompt": prompt, "model": model, **extra})
    assert answer.status_code == 201, answer.text
    task_id: str = answer.json()["id"]
    return task_id


def wait_for_pending_approval(phone: Phone, task_id: str) -> bool:
    """Whether the task stops for an approval (False if it went on or ended without one)."""
    for _ in range(200):
        pending = phone.api("GET", f"/approvals?task_id={task_id}&status=pending")
        if pending.json()["approvals"]:
            return True
        task = phone.api("GET", f"/tasks/{task_id}").json()
        if task["pending_questions"] or task["status"] in FINAL_STATUSES:
            return False
        time.sleep(0.1)
    return False


def test_pairing_through_the_qr_link(paired: PairedPhone, gateway: GatewayProcess) -> None:
    assert paired.approved_on_computer.startswith('Paired "Test phone"')
    # The secret left the address bar at once; the token is never in an address.
    assert "#v1." not in paired.address_after_pairing
    assert paired.token.startswith("errand_dev_")
    devices = httpx.get(
        gateway.url("/api/v1/devices"), headers={"Authorization": f"Bearer {paired.token}"}
    ).json()["devices"]
    assert [d["name"] for d in devices if d["current"]] == ["Test phone"]


def test_a_mistyped_pairing_code_says_what_to_do(browser: Browser, gateway: GatewayProcess) -> None:
    context = new_phone_context(browser)
    try:
        page = context.new_page()
        page.goto(gateway.url("/pair#v1.AAAAAAAAAAAAAAAAAAAAAA"))
        expect(page).to_have_url(gateway.url("/pair"))
        page.get_by_role("button", name="Pair").click()
        expect(page.get_by_role("alert")).to_contain_text(
            re.compile(r"not valid.*run “errand pair” on your computer", re.IGNORECASE)
        )
    finally:
        context.close()


REPORT_HTML = (
    "<!doctype html><html><body><h1>Report</h1>"
    "<script>document.body.insertAdjacentHTML('beforeend', '<p id=ran>ran</p>');"
    "parent.__xss.push('artifact-script')</script>"
    "<img src=x onerror=\"parent.__xss.push('artifact-img')\">"
    "</body></html>"
)


CHART_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" '
    'onload="parent.__xss.push(\'svg-onload\')"><rect width="40" height="40"/></svg>'
)


def test_start_a_task_from_the_form_and_watch_it_stream(phone: Phone, scripts: Scripts) -> None:
    model = scripts.choice(
        "report",
        [
            {
                "text": "Writing the report now.",
                "tool_calls": [
                    {
                        "name": "write_file",
                        "arguments": {"path": "report.html", "content": REPORT_HTML},
                    },
                    {
                        "name": "write_file",
                        "arguments": {"path": "chart.svg", "content": CHART_SVG},
                    },
                ],
                "usage": [200, 40],
            },
            {
                "expect_tool_results": [{"is_error": False}, {"is_error": False}],
                "text": XSS_CORPUS + "\n\n**Report written.**",
                "usage": [300, 50],
            },
            {"text": "Added a summary at the top.", "usage": [10, 5]},
        ],
    )
    page = phone.page
    page.goto(phone.gateway.url("/"))
    page.get_by_role("link", name="New task").click()
    page.get_by_label("What should Errand do?").fill("Write a short report as HTML")
    page.get_by_text("Review, websites and model").click()
    page.get_by_label("notes", exact=True).check()
    page.get_by_label("Access to notes").select_option("rw")
    expect(page.get_by_label("Save it in")).to_have_value("notes")  # where a file would go
    # The model is picked among the configured ones, the computer's default preselected.
    picker = page.get_by_label("Model", exact=True)
    expect(picker).to_have_value(scripts.question)
    expect(picker.locator("option")).to_have_text(
        ["script: question.json (default)", "script: report.json", "script: review.json"]
    )
    picker.select_option(model)
    if os.environ.get("ERRAND_WEB_SCREENSHOTS") == "1":
        page.evaluate("window.scrollTo(0, 0)")
        snap(page, "new-task")
    with page.expect_request("**/api/v1/tasks") as sent:
        page.get_by_role("button", name="Send").click()
    assert (sent.value.post_data_json or {})["model"] == model

    expect(page).to_have_url(re.compile(r"#/tasks/"))
    expect(page.locator(".bubble.assistant strong", has_text="Report written.")).to_be_visible(
        timeout=20_000
    )
    expect(page.locator(".status-slot")).to_have_text("Done")
    expect(page.locator(".task-info")).to_contain_text("500 in / 90 out tokens")
    expect(page.locator(".task-info")).to_contain_text(re.compile(r"took \d+ s"))
    # The tool call is one compact line that opens to its arguments and result.
    expect(page.locator(".entry.tool", has_text="write_file")).to_have_count(2)
    tool = page.locator(".entry.tool", has_text="report.html")
    expect(tool).to_have_count(1)
    expect(tool.locator("pre.arguments")).to_be_hidden()
    tool.locator("summary").click()
    expect(tool.locator("pre.arguments")).to_contain_text('"path": "report.html"')
    expect(tool.locator("pre.result")).to_be_visible()

    # The injection corpus arrived, is shown as text, and none of it became live markup.
    log = page.locator(".log")
    expect(log).to_contain_text("<script>window.__xss.push('script')</script>")
    assert log.locator("script, img, svg, iframe, style, math, object, embed").count() == 0
    hrefs = log.locator("a").evaluate_all("(links) => links.map((a) => a.href)")
    assert hrefs and all(h.startswith(("https:", "http:", "mailto:")) for h in hrefs)

    # The HTML artifact opens only in a sandboxed frame, and its script does not run.
    page.get_by_role("button", name="Files").click()
    page.get_by_role("button", name="Open report.html").click()
    frame = page.locator("iframe.artifact")
    expect(frame).to_have_attribute("sandbox", "")
    expect(frame).to_have_attribute("src", re.compile(r"^blob:"))
    inside = page.frame_locator("iframe.artifact")
    expect(inside.locator("h1")).to_have_text("Report")
    page.wait_for_timeout(300)
    expect(inside.locator("#ran")).to_have_count(0)

    # Images show inline (an SVG as an image, where its handlers cannot run); any file downloads.
    page.get_by_role("button", name="Open chart.svg").click()
    expect(page.locator(".viewer img")).to_have_attribute("src", re.compile(r"^blob:"))
    with page.expect_download() as download:
        page.get_by_role("button", name="Download report.html").click()
    assert download.value.suggested_filename == "report.html"

    # A follow-up reopens the finished task, which answers and ends again.
    page.get_by_label("Message to the task").fill("Add a summary")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator(".bubble.user", has_text="Add a summary")).to_have_count(1)
    expect(page.locator(".bubble.assistant", has_text="Added a summary at the top.")).to_be_visible(
        timeout=20_000
    )
    expect(page.locator(".status-slot")).to_have_text("Done")
    expect(page.locator(".status-line")).to_have_count(2)
    phone.assert_nothing_ran()


def test_approve_a_step_and_answer_a_question(phone: Phone, tmp_path: Path) -> None:
    model = write_script(
        tmp_path / "approve.json",
        [
            {
                "text": "I will run one command.",
                "tool_calls": [
                    {"name": "run_shell", "arguments": {"command": "echo approved-$((40+2))"}}
                ],
            },
            {
                "expect_tool_results": [{"contains": "approved-42"}],
                "text": "It printed the answer.",
                "tool_calls": [
                    {
                        "name": "ask_user",
                        "arguments": {"question": "Which colour should the chart be?"},
                    }
                ],
            },
            {"expect_tool_results": [{"contains": "teal"}], "text": "The chart will be **teal**."},
        ],
    )
    task_id = start_task(phone, "Check the command, then ask me a colour", model)
    assert wait_for_pending_approval(phone, task_id), (
        "errand serve ran run_shell without asking: errand.toml [approvals] was not applied"
    )
    page = phone.page
    page.goto(phone.gateway.url("/"))
    waiting = page.locator(".needs-you .task", has_text="Check the command")
    expect(waiting).to_be_visible(timeout=20_000)
    expect(waiting.locator(".badge")).to_have_text("Waiting for you")
    waiting.locator("a").click()
    expect(page).to_have_url(re.compile(f"#/tasks/{task_id}$"))

    card = page.locator(".card.approval")
    expect(card).to_contain_text("run_shell")
    expect(card.locator("pre.approval-command")).to_have_text("echo approved-$((40+2))")
    snap(page, "approval")
    card.get_by_role("button", name="Approve").click()
    expect(card).to_contain_text("Approved")
    tool = page.locator(".entry.tool", has_text="run_shell")
    tool.locator("summary").click()
    expect(tool.locator("pre.result")).to_contain_text("approved-42", timeout=20_000)

    question = page.locator(".card.question")
    expect(question).to_contain_text("Which colour should the chart be?", timeout=20_000)
    page.get_by_label("Your answer").fill("teal")
    page.get_by_role("button", name="Answer", exact=True).click()
    expect(question).to_contain_text("Answered: teal")
    expect(page.locator(".bubble.assistant", has_text="The chart will be teal.")).to_be_visible(
        timeout=20_000
    )
    expect(page.locator(".status-slot")).to_have_text("Done")
    phone.assert_nothing_ran()


def test_deny_a_website_the_task_was_not_given(phone: Phone, tmp_path: Path) -> None:
    model = write_script(
        tmp_path / "fetch.json",
        [
            {
                "text": "Let me look that up.",
                "tool_calls": [
                    {"name": "fetch_url", "arguments": {"url": "https://unlisted.example/prices"}}
                ],
            },
            {"expect_tool_results": [{"is_error": True}], "text": "I could not reach it."},
        ],
    )
    task_id = start_task(phone, "Look up the prices", model, allow_domains=["example.com"])
    page = phone.page
    page.goto(phone.gateway.url("/"))
    waiting = page.locator(".needs-you .task", has_text="Look up the prices")
    # The task's first command starts its sandbox and proxy: slow on a loaded machine.
    expect(waiting.locator(".badge")).to_have_text("Waiting for you", timeout=45_000)
    snap(page, "task-list")
    waiting.locator("a").click()
    expect(page).to_have_url(re.compile(f"#/tasks/{task_id}$"))
    card = page.locator(".card.approval")
    expect(card).to_contain_text("unlisted.example", timeout=20_000)
    expect(card).to_contain_text("fetch_url")
    card.get_by_role("button", name="Deny").click()
    expect(card.locator("h2")).to_have_text("Denied")
    expect(page.locator(".entry.network")).to_contain_text("unlisted.example")
    expect(page.locator(".bubble.assistant", has_text="I could not reach it.")).to_be_visible(
        timeout=45_000
    )
    denied = phone.api("GET", f"/approvals?task_id={task_id}&status=denied").json()["approvals"]
    assert [a["action"]["domain"] for a in denied] == ["unlisted.example"]
    phone.assert_nothing_ran()


def test_the_task_list_follows_changes_live(phone: Phone, scripts: Scripts) -> None:
    page = phone.page
    page.goto(phone.gateway.url("/"))
    expect(page.get_by_role("link", name="New task")).to_be_visible()
    # Started elsewhere (the CLI, another device): it appears, waits, and finishes, unreloaded.
    task_id = start_task(phone, "Started from elsewhere", scripts.question)
    row = page.locator(".task", has_text="Started from elsewhere")
    expect(row.locator(".badge")).to_have_text("Waiting for you", timeout=20_000)
    expect(page.locator(".needs-you")).to_contain_text("Started from elsewhere")
    answered = phone.api(
        "POST", f"/questions/{phone.question_id(task_id)}/answer", {"answer": "yes"}
    )
    assert answered.status_code == 200, answered.text
    expect(row.locator(".badge")).to_have_text("Done", timeout=20_000)
    expect(page.locator(".needs-you .task", has_text="Started from elsewhere")).to_have_count(0)
    phone.assert_nothing_ran()


def test_a_list_page_read_before_the_streams_news_does_not_undo_them(
    phone: Phone, scripts: Scripts
) -> None:
    # The list's page and its live stream race: a page read before changes the stream has
    # shown must neither put a task back as it was nor drop a task created since.
    task_id = start_task(phone, "Asked before the list came", scripts.question)
    question_id = phone.question_id(task_id)
    for _ in range(400):
        if phone.api("GET", f"/tasks/{task_id}").json()["status"] == "waiting":
            break
        time.sleep(0.05)
    page = phone.page
    held: list[tuple[Route, APIResponse]] = []
    page.route(
        re.compile(r"/api/v1/tasks\?limit=30$"), lambda route: held.append((route, route.fetch()))
    )
    page.goto(phone.gateway.url("/"))
    row = page.locator(".task", has_text="Asked before the list came")
    expect(row.locator(".badge")).to_have_text("Waiting for you", timeout=20_000)
    for _ in range(400):  # the page, read as the stream opened, is held here
        if held:
            break
        page.wait_for_timeout(50)
    route, stale = held[0]
    answered = phone.api("POST", f"/questions/{question_id}/answer", {"answer": "yes"})
    assert answered.status_code == 200, answered.text
    later_id = start_task(phone, "Started while the list loaded", scripts.question)
    later = page.locator(".task", has_text="Started while the list loaded")
    expect(row.locator(".badge")).to_have_text("Done", timeout=20_000)
    expect(later).to_be_visible(timeout=20_000)
    page_read = stale.json()
    assert [t["status"] for t in page_read["tasks"] if t["id"] == task_id] == ["waiting"]
    assert later_id not in [t["id"] for t in page_read["tasks"]]
    # "Show older tasks" appears once the app has taken this page in.
    page_read["next_before"] = page_read["tasks"][-1]["id"]
    route.fulfill(response=stale, json=page_read)
    expect(page.get_by_role("button", name="Show older tasks")).to_be_visible()
    expect(row.locator(".badge")).to_have_text("Done")
    expect(page.locator(".needs-you .task", has_text="Asked before the list came")).to_have_count(0)
    expect(later).to_be_visible()
    assert phone.api("POST", f"/tasks/{later_id}/cancel").is_success
    phone.assert_nothing_ran()


def test_sending_without_a_folder_warns_once_and_cancel_stops_it(phone: Phone) -> None:
    page = phone.page
    page.goto(phone.gateway.url("/#/new"))
    # The allowed folders are up front, each at the most the computer allows.
    expect(page.get_by_label("notes", exact=True)).to_be_visible(timeout=20_000)
    expect(page.get_by_label("Access to notes")).to_have_value("rw")
    page.get_by_label("What should Errand do?").fill("Tidy my notes")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_contain_text("No folder is chosen")
    expect(page).to_have_url(re.compile(r"#/new$"))  # nothing was sent yet
    with page.expect_request("**/api/v1/tasks") as sent:
        page.get_by_role("button", name="Send without a folder").click()
    assert "model" not in (sent.value.post_data_json or {})  # the default: the computer's
    expect(page.locator(".card.question")).to_contain_text("Shall I go on?", timeout=20_000)
    task_id = page.url.rsplit("/", 1)[-1]
    page.get_by_role("button", name="Cancel task").click()
    page.get_by_role("button", name="Stop the task").click()
    expect(page.locator(".status-line")).to_have_text("Cancelled", timeout=20_000)
    expect(page.locator(".status-slot")).to_have_text("Cancelled")
    assert phone.api("GET", f"/tasks/{task_id}").json()["status"] == "cancelled"
    phone.assert_nothing_ran()


def test_a_quick_send_waits_for_the_folders_and_still_warns(phone: Phone) -> None:
    page = phone.page
    held: list[Route] = []
    page.route("**/api/v1/folders", lambda route: held.append(route))
    page.goto(phone.gateway.url("/#/new"))
    page.get_by_label("What should Errand do?").fill("Sort my receipts")
    page.get_by_role("button", name="Send").click()  # before the folder list has come
    for _ in range(400):  # the app asked for the list at start; its answer is held here
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    expect(page).to_have_url(re.compile(r"#/new$"))
    held[0].continue_()
    expect(page.get_by_role("alert")).to_contain_text("No folder is chosen")
    expect(page.get_by_label("notes", exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(r"#/new$"))  # nothing was sent
    assert not any(
        t["title"] == "Sort my receipts" for t in phone.api("GET", "/tasks").json()["tasks"]
    )
    phone.assert_nothing_ran()


def test_a_dropped_connection_resumes_without_losing_or_repeating_events(
    phone: Phone, scripts: Scripts
) -> None:
    task_id = start_task(phone, "Ask me, then finish", scripts.question)
    page = phone.page
    page.goto(phone.gateway.url(f"/#/tasks/{task_id}"))
    question = page.locator(".card.question")
    expect(question).to_contain_text("Shall I go on?", timeout=20_000)
    question_id = question.get_attribute("data-question")

    phone.context.set_offline(True)
    expect(page.locator("#banner")).to_contain_text("Can't reach your computer")
    # While the phone is away the task goes on: answered from elsewhere, then finished.
    answered = phone.api("POST", f"/questions/{question_id}/answer", {"answer": "yes"})
    assert answered.status_code == 200, answered.text
    for _ in range(100):
        if phone.api("GET", f"/tasks/{task_id}").json()["status"] == "completed":
            break
        page.wait_for_timeout(100)
    phone.context.set_offline(False)

    expect(page.locator(".status-slot")).to_have_text("Done", timeout=20_000)
    expect(page.locator("#banner")).to_be_hidden()
    expect(question).to_contain_text("Answered: yes")
    expect(page.locator(".card.question")).to_have_count(1)
    expect(page.locator(".bubble.user")).to_have_count(1)
    expect(page.locator(".bubble.assistant")).to_have_count(2)
    expect(page.locator(".bubble.assistant", has_text="Going on, as you said.")).to_have_count(1)
    expect(page.locator(".status-line")).to_have_count(1)
    # It asked for what it missed, not the whole log again.
    assert phone.resumed_from and all(int(seq) > 0 for seq in phone.resumed_from)
    phone.assert_nothing_ran()


def test_the_app_recovers_when_the_computer_restarts(
    phone: Phone, gateway: GatewayProcess, scripts: Scripts
) -> None:
    task_id = start_task(phone, "Wait for me across a restart", scripts.question)
    page = phone.page
    page.goto(gateway.url(f"/#/tasks/{task_id}"))
    expect(page.locator(".card.question")).to_contain_text("Shall I go on?", timeout=20_000)
    gateway.stop()
    expect(page.locator("#banner")).to_contain_text("Can't reach your computer", timeout=10_000)
    gateway.start()
    expect(page.locator("#banner")).to_be_hidden(timeout=20_000)
    # The task was stopped with the computer: it says so, and Resume picks it up again.
    expect(page.locator(".status-slot")).to_have_text("Interrupted", timeout=10_000)
    expect(page.locator(".card.question")).to_contain_text("Not answered: the task stopped.")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator(".bubble.assistant", has_text="Going on, as you said.")).to_have_count(
        1, timeout=20_000
    )
    expect(page.locator(".status-slot")).to_have_text("Done")
    expect(page.locator(".status-line")).to_have_count(2)
    phone.assert_nothing_ran()


def test_a_revoked_device_is_locked_out(browser: Browser, gateway: GatewayProcess) -> None:
    context = new_phone_context(browser)
    try:
        page = context.new_page()
        link = gateway.pairing_link()
        pair_phone(page, gateway, "Doomed phone", link=link)
        # The same QR code a second time (a photo of it, say) pairs nothing.
        again = context.new_page()
        again.goto(link)
        again.get_by_label("Name for this device").fill("Copycat")
        again.get_by_role("button", name="Pair").click()
        expect(again.get_by_role("alert")).to_contain_text("already used")
        expect(again.get_by_role("alert")).to_contain_text("Run “errand pair” on your computer")
        again.close()
        device = json.loads(page.evaluate("localStorage.getItem('errand.device')"))
        revoked = gateway.cli("devices", "revoke", device["id"])
        assert revoked.returncode == 0, revoked.stdout + revoked.stderr
        expect(page.get_by_role("alert")).to_contain_text("This device was removed", timeout=10_000)
        expect(page.get_by_role("heading", name="Pair this phone")).to_be_visible()
        assert page.evaluate("localStorage.getItem('errand.token')") is None
    finally:
        context.close()


def test_forget_this_device(browser: Browser, gateway: GatewayProcess, paired: PairedPhone) -> None:
    context = new_phone_context(browser)
    try:
        page = context.new_page()
        pair_phone(page, gateway, "Spare phone")
        page.get_by_role("link", name="This device").click()
        expect(page.locator(".device-name")).to_have_text("Spare phone")
        page.get_by_role("button", name="Forget this device").click()
        page.get_by_role("button", name="Forget it").click()
        expect(page.get_by_role("heading", name="Pair this phone")).to_be_visible()
        assert page.evaluate("localStorage.length") == 0
    finally:
        context.close()
    names = [
        d["name"]
        for d in httpx.get(
            gateway.url("/api/v1/devices"), headers={"Authorization": f"Bearer {paired.token}"}
        ).json()["devices"]
    ]
    assert "Spare phone" not in names and "Test phone" in names


def test_the_app_shell_is_cached_but_never_the_api(
    browser: Browser, gateway: GatewayProcess, paired: PairedPhone
) -> None:
    context = browser.new_context(
        viewport={"width": 375, "height": 667},
        service_workers="allow",
        storage_state=paired.storage_state,  # type: ignore[arg-type]
    )
    try:
        page = context.new_page()
        page.goto(gateway.url("/"))
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.reload()
        expect(page.get_by_role("heading", name="Errand")).to_be_visible()
        cached = page.evaluate(
            """async () => {
                const urls = [];
                for (const name of await caches.keys()) {
                    const cache = await caches.open(name);
                    for (const request of await cache.keys()) {
                        urls.push(new URL(request.url).pathname);
                    }
                }
                return urls;
            }"""
        )
        assert "/app.js" in cached and "/index.html" in cached
        assert not [url for url in cached if url.startswith("/api/")]
    finally:
        context.close()


CONTROLS_CHECK = """() => {
    const problems = [];
    const controls = document.querySelectorAll(
        'main button, main a, main input, main select, main textarea, main summary');
    for (const el of controls) {
        const box = el.getBoundingClientRect();
        if (box.width === 0 && box.height === 0) continue;  // not shown
        const labelled = el.getAttribute('aria-label')
            || (el.id && document.querySelector(`label[for="${el.id}"]`))
            || el.closest('label') || (el.textContent || '').trim();
        const what = el.outerHTML.slice(0, 80);
        if (!labelled) problems.push(`no label: ${what}`);
        const inText = el.tagName === 'A' && el.closest('.markdown');
        if (el.tagName === 'INPUT' && el.type === 'checkbox') {
            if (box.height < 24) problems.push(`small checkbox: ${what}`);
        } else if (!inText && box.height < 44) {
            problems.push(`small target (${Math.round(box.height)}px): ${what}`);
        }
    }
    if (document.documentElement.scrollWidth > window.innerWidth) problems.push('scrolls sideways');
    return { checked: controls.length, problems };
}"""


def test_every_control_is_labelled_and_big_enough_at_375px(phone: Phone, scripts: Scripts) -> None:
    task_id = start_task(phone, "Ask me, then finish", scripts.question)
    page = phone.page
    for address, ready in [
        ("/", page.get_by_role("link", name="New task")),
        ("/#/new", page.get_by_label("What should Errand do?")),
        ("/#/device", page.get_by_role("button", name="Forget this device")),
        ("/#/schedules", page.get_by_role("heading", name="Schedules")),
        (f"/#/tasks/{task_id}", page.locator(".card.question")),
    ]:
        page.goto(phone.gateway.url(address))
        expect(ready).to_be_visible(timeout=20_000)
        if address == "/#/new":
            page.get_by_text("Review, websites and model").click()
        found = page.evaluate(CONTROLS_CHECK)
        assert found["checked"] >= 1 and found["problems"] == [], address
    phone.api("POST", f"/tasks/{task_id}/cancel")


def test_dark_mode_follows_the_system(browser: Browser, gateway: GatewayProcess) -> None:
    backgrounds = []
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 375, "height": 667}, color_scheme=scheme)
        try:
            page = context.new_page()
            page.goto(gateway.url("/"))
            expect(page.get_by_role("heading", name="Pair this phone")).to_be_visible()
            backgrounds.append(page.evaluate("getComputedStyle(document.body).backgroundColor"))
        finally:
            context.close()
    assert backgrounds == ["rgb(246, 247, 246)", "rgb(16, 21, 19)"]


def test_do_this_every_morning_and_the_schedules_screen(phone: Phone, tmp_path: Path) -> None:
    model = write_script(tmp_path / "water.json", [{"text": "The plants are watered."}])
    task_id = start_task(phone, "Water the plants", model)
    page = phone.page
    page.goto(phone.gateway.url(f"/#/tasks/{task_id}"))
    expect(page.locator(".status-slot")).to_have_text("Done", timeout=20_000)
    page.get_by_role("button", name="Do this every morning").click()
    expect(page.locator(".task-info")).to_contain_text("Scheduled every morning", timeout=10_000)
    page.goto(phone.gateway.url("/"))
    page.get_by_role("link", name="Schedules").click()
    row = page.locator(".schedule", has_text="water-the-plants")
    expect(row).to_contain_text("cron 0 8 * * *")
    expect(row.locator(".next-run")).to_contain_text("Next:")
    expect(row.locator(".last-result")).to_have_text("Last: Not run yet")
    row.get_by_role("button", name="Pause").click()
    expect(row.get_by_role("button", name="Resume")).to_be_visible(timeout=10_000)
    expect(row.locator(".next-run")).to_have_text("Paused")
    row.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("status")).to_contain_text("was queued", timeout=10_000)
    listed = phone.api("GET", "/schedules").json()["schedules"]
    mine = [s for s in listed if s["name"].startswith("water-the-plants")]
    assert len(mine) == 1 and mine[0]["paused"] and mine[0]["prompt"] == "Water the plants"
    phone.assert_nothing_ran()


def test_review_changes_then_apply_and_undo_from_the_files_view(
    phone: Phone, scripts: Scripts
) -> None:
    model = scripts.choice(
        "review",
        [
            {
                "tool_calls": [
                    {
                        "name": "write_file",
                        "arguments": {"path": "reviewed.txt", "content": "held back\n"},
                    },
                    {
                        "name": "write_file",
                        "arguments": {"path": "later.txt", "content": "applied later\n"},
                    },
                ]
            },
            {"text": "Wrote them for your review."},
        ],
    )
    target = scripts.folder / "reviewed.txt"
    page = phone.page
    page.goto(phone.gateway.url("/"))
    page.get_by_role("link", name="New task").click()
    page.get_by_label("What should Errand do?").fill("Write a file for review")
    page.get_by_text("Review, websites and model").click()
    page.get_by_label("notes", exact=True).check()
    page.get_by_label("Access to notes").select_option("rw")
    page.get_by_label("Review changes before they reach my folders").check()
    page.get_by_label("Model", exact=True).select_option(model)
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".status-slot")).to_have_text("Done", timeout=20_000)
    assert not target.exists()

    page.get_by_role("button", name="Files").click()
    change = page.locator(".change", has_text="notes/reviewed.txt")
    expect(change).to_contain_text("created · held")
    change.locator("summary", has_text="Diff").click()
    expect(change.locator("pre.diff")).to_contain_text("+held back")
    later = page.locator(".change", has_text="notes/later.txt")
    expect(later).to_contain_text("created · held")
    page.get_by_role("button", name="Apply notes/reviewed.txt", exact=True).click()
    expect(change).to_contain_text("created · applied")
    assert target.read_text(encoding="utf-8") == "held back\n"
    expect(later).to_contain_text("created · held")  # one file applied, the other still held
    assert not (scripts.folder / "later.txt").exists()
    page.get_by_role("button", name="Apply all", exact=True).click()
    expect(later).to_contain_text("created · applied")
    assert (scripts.folder / "later.txt").read_text(encoding="utf-8") == "applied later\n"
    page.get_by_role("button", name="Undo", exact=True).click()
    expect(page.locator(".change", has_text="notes/reviewed.txt").first).to_contain_text("undone")
    assert not target.exists()

    # The next new task starts from the folders this one used.
    page.goto(phone.gateway.url("/#/new"))
    expect(page.get_by_label("notes", exact=True)).to_be_checked(timeout=20_000)
    expect(page.get_by_label("Access to notes")).to_have_value("rw")
    expect(page.get_by_label("drafts", exact=True)).not_to_be_checked()
    phone.assert_nothing_ran()


def test_attach_a_photo_into_a_folder(phone: Phone, scripts: Scripts) -> None:
    (scripts.folder / "receipt.jpg").write_bytes(b"an older photo")
    page = phone.page
    page.goto(phone.gateway.url("/#/new"))
    page.get_by_label("What should Errand do?").fill("Add this receipt to my expenses")
    expect(page.get_by_label("Save it in")).to_have_value("drafts", timeout=20_000)
    page.get_by_label("Save it in").select_option("notes")
    expect(page.get_by_label("notes", exact=True)).not_to_be_checked()
    page.get_by_label("Photo or file to attach").set_input_files(
        {"name": "receipt.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8\xff new receipt"}
    )
    # The photo goes into its folder, so that folder is given to the task, read-write.
    expect(page.get_by_label("notes", exact=True)).to_be_checked()
    expect(page.get_by_label("Access to notes")).to_have_value("rw")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".card.question")).to_contain_text("Shall I go on?", timeout=20_000)
    task_id = page.url.rsplit("/", 1)[-1]
    assert (scripts.folder / "receipt (2).jpg").read_bytes() == b"\xff\xd8\xff new receipt"
    assert (scripts.folder / "receipt.jpg").read_bytes() == b"an older photo"
    task = phone.api("GET", f"/tasks/{task_id}").json()
    assert task["folders"] == [{"name": "notes", "mode": "rw"}]
    assert task["prompt"].endswith(
        "I attached a file from my phone: “receipt (2).jpg”, saved at the top of the folder notes."
    )
    expect(page.locator(".bubble.user").first).to_contain_text("“receipt (2).jpg”")
    phone.api("POST", f"/tasks/{task_id}/cancel")
    phone.assert_nothing_ran()
