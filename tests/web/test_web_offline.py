"""The phone without its computer: what it saw stays readable, messages typed meanwhile are
queued and sent once it is back, and "can't reach" lines go away when it answers again.
Chromium at 375×667 with the app's service worker on, against a real ``errand serve``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from web.conftest import PairedPhone
from web.test_web_app import Phone, paired_phone, start_task
from web.web_harness import GatewayProcess, write_script

pytestmark = pytest.mark.browser

WEB_DIR = Path(__file__).resolve().parents[2] / "src" / "errand" / "web"

KEPT = """async (key) => {
    const db = await new Promise((resolve, reject) => {
        const request = indexedDB.open('errand-offline', 1);
        request.onupgradeneeded = () => request.result.createObjectStore('kept');
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
    });
    const value = await new Promise((resolve) => {
        const request = db.transaction('kept').objectStore('kept').get(key);
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => resolve(undefined);
    });
    db.close();
    return JSON.stringify(value ?? null);
}"""


def wait_until_kept(page: Page, key: str, text: str) -> None:
    """Wait until the app has kept ``key`` on the phone with ``text`` in it."""
    for _ in range(300):
        if text in page.evaluate(f"({KEPT})({json.dumps(key)})"):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the app never kept {key!r} with {text!r}")


@pytest.fixture()
def phone(browser: Browser, gateway: GatewayProcess, paired: PairedPhone) -> Iterator[Phone]:
    yield from paired_phone(browser, gateway, paired, service_worker=True)


def test_what_was_seen_stays_readable_and_messages_wait_for_the_computer(
    phone: Phone, tmp_path: Path
) -> None:
    model = write_script(
        tmp_path / "offline.json",
        [{"text": "The **offline** answer."}, {"text": "Got your note about the train."}],
    )
    task_id = start_task(phone, "Answer before my train", model)
    page = phone.page
    page.goto(phone.gateway.url(f"/#/tasks/{task_id}"))
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    expect(page.locator(".status-slot")).to_have_text("Done", timeout=20_000)
    page.get_by_role("link", name="Back to tasks").click()
    expect(page.locator(".task", has_text="Answer before my train")).to_be_visible()
    wait_until_kept(page, f"task:{task_id}", "offline")
    wait_until_kept(page, "tasks", task_id)
    cached = page.evaluate(
        """async () => {
            const urls = [];
            for (const name of await caches.keys()) {
                const cache = await caches.open(name);
                for (const r of await cache.keys()) urls.push(new URL(r.url).pathname);
            }
            return urls;
        }"""
    )
    modules = {f"/{p.name}" for p in WEB_DIR.glob("*.js") if p.name != "sw.js"}
    assert modules <= set(cached), modules - set(cached)  # every module opens offline

    # In a tunnel, the app opened again: the list and the transcript it saw are there.
    phone.context.set_offline(True)
    page.reload()
    expect(page.locator("#banner")).to_contain_text("Can't reach your computer", timeout=20_000)
    row = page.locator(".task", has_text="Answer before my train")
    expect(row.locator(".badge")).to_have_text("Done", timeout=20_000)
    expect(page.locator(".kept")).to_have_text("Shown as this phone last saw them.")
    row.locator("a").click()
    answer = page.locator(".bubble.assistant").first
    expect(answer.locator("strong")).to_have_text("offline", timeout=20_000)
    expect(page.locator(".status-slot")).to_have_text("Done")

    # A message typed meanwhile waits on the phone, visibly, and goes when the computer is back.
    posts: list[Request] = []
    page.on(
        "request",
        lambda r: posts.append(r) if r.method == "POST" and r.url.endswith("/messages") else None,
    )
    page.get_by_label("Message to the task").fill("I am on the train now")
    page.get_by_role("button", name="Send", exact=True).click()
    note = page.locator(".bubble.user", has_text="I am on the train now")
    expect(note.locator(".sent-state")).to_have_text("Queued — sends when your computer is back")
    queued = json.loads(page.evaluate("localStorage.getItem('errand.outbox')"))
    assert [item["text"] for item in queued] == ["I am on the train now"]
    page.reload()  # still queued after the app is closed and opened again
    expect(note.locator(".sent-state")).to_have_text(
        "Queued — sends when your computer is back", timeout=20_000
    )
    expect(page.locator(".bubble.assistant").first.locator("strong")).to_have_text("offline")

    phone.context.set_offline(False)
    expect(page.locator("#banner")).to_be_hidden(timeout=20_000)
    reply = page.locator(".bubble.assistant", has_text="Got your note about the train.")
    expect(reply).to_be_visible(timeout=20_000)
    expect(note).to_have_count(1)
    assert posts and {r.headers["idempotency-key"] for r in posts} == {queued[0]["key"]}
    assert page.evaluate("localStorage.getItem('errand.outbox')") == "[]"
    expect(page.locator(".status-line")).to_have_count(2)
    phone.assert_nothing_ran()


def test_a_cant_reach_line_clears_when_the_computer_answers(phone: Phone) -> None:
    page = phone.page
    page.goto(phone.gateway.url("/#/new"))
    expect(page.get_by_label("notes", exact=True)).to_be_visible(timeout=20_000)
    page.get_by_label("What should Errand do?").fill("Sort the photos")
    page.get_by_label("notes", exact=True).check()
    phone.context.set_offline(True)
    expect(page.locator("#banner")).to_contain_text("Can't reach your computer")
    page.get_by_role("button", name="Send").click()
    error = page.get_by_role("alert")
    expect(error).to_have_text("Can't reach your computer. Tap Send to try again.")
    phone.context.set_offline(False)
    expect(page.locator("#banner")).to_be_hidden(timeout=20_000)
    expect(error).to_be_hidden()
    assert not any(
        t["title"] == "Sort the photos" for t in phone.api("GET", "/tasks").json()["tasks"]
    )
    phone.assert_nothing_ran()
