"""Notifications in the phone app, in the system Chromium at 375×667 against a real
``errand serve`` that pushes to a local fake push service.

What is real: the app's offer after pairing and its permission request, the subscription it
hands the computer (``PUT /push/subscription``, checked by the computer), presence and the
in-app toast, the computer's VAPID-signed, RFC 8291-encrypted push (verified and decrypted by
``fakes.push_service`` with the subscription's own keys), the service worker showing that
payload as a notification, and its click opening the task at the approval card.

What is stood in for: headless Chromium's ``PushManager.subscribe`` needs Google's push
service, which no test may reach, so the page's ``PushManager`` hands out the fake service's
subscription (a real P-256 key pair and auth secret). The decrypted payload is given to the
service worker as a ``push`` event, and the tap as a ``notificationclick`` event, both
dispatched inside the worker: a browser cannot be made to click its own notification.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Worker, expect

from errand.store import NotifyState, PushStore, open_store
from fakes.push_service import FakePushService, FakeSubscription
from fakes.push_service import running as push_service_running
from web.web_harness import (
    PHONE,
    GatewayProcess,
    ServeUnavailable,
    free_port,
    snap,
    write_script,
)

pytestmark = pytest.mark.browser

APPROVAL_TURNS: list[dict[str, object]] = [
    {
        "text": "I will run one command.",
        "tool_calls": [{"name": "run_shell", "arguments": {"command": "echo hi"}}],
    },
    {"text": "Done."},
]

STUB_PUSH_MANAGER = """
(() => {
  const sub = %s;
  let current = null;
  PushManager.prototype.getSubscription = async function () { return current; };
  PushManager.prototype.subscribe = async function (options) {
    const key = new Uint8Array(options.applicationServerKey);
    window.__pushKey = btoa(String.fromCharCode(...key))
      .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
    current = {
      endpoint: sub.endpoint,
      options: { applicationServerKey: key.buffer, userVisibleOnly: options.userVisibleOnly },
      toJSON: () => sub,
      unsubscribe: async () => { current = null; return true; },
    };
    return current;
  };
})();
"""


class PushServiceThread:
    """The fake push service on its own event loop, for a synchronous test."""

    def __init__(self) -> None:
        self.service = FakePushService()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FakePushService:
        self._thread.start()
        assert self._ready.wait(10)
        return self.service

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        async def serve() -> None:
            self._stop = asyncio.Event()
            async with push_service_running(self.service):
                self._ready.set()
                await self._stop.wait()

        self._loop.run_until_complete(serve())
        self._loop.close()


@pytest.fixture(scope="module")
def push_service() -> Iterator[FakePushService]:
    with PushServiceThread() as service:
        yield service


@pytest.fixture(scope="module")
def push_gateway(
    tmp_path_factory: pytest.TempPathFactory, push_service: FakePushService
) -> Iterator[GatewayProcess]:
    home = tmp_path_factory.mktemp("push-home")
    (home / "errand.toml").write_text(
        '[approvals]\ntools = {run_shell = "ask"}\n'
        '[notify]\ncontact = "mailto:owner@example.com"\n'
        f'push_services = ["{push_service.origin}"]\n',
        encoding="utf-8",
    )
    model = write_script(home / "approval.json", APPROVAL_TURNS)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith("_API_KEY") and not key.endswith("_BASE_URL")
    }
    env.update(ERRAND_HOME=str(home), ERRAND_MODEL=model, NO_COLOR="1")
    env.pop("ERRAND_DATABASE_URL", None)
    process = GatewayProcess(home=home, port=free_port(), env=env)
    try:
        process.start()
    except (ServeUnavailable, OSError) as exc:
        pytest.skip(f"errand serve is unavailable: {exc}")
    yield process
    process.stop()


def phone_context(
    browser: Browser, gateway: GatewayProcess, sub: FakeSubscription
) -> BrowserContext:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.grant_permissions(["notifications"], origin=gateway.url(""))
    context.add_init_script(STUB_PUSH_MANAGER % json.dumps(sub.to_json()))
    return context


def pair(page: Page, gateway: GatewayProcess, name: str) -> None:
    link = gateway.cli("pair", "--json")
    assert link.returncode == 0, link.stderr
    page.goto(json.loads(link.stdout)["link"])
    page.get_by_label("Name for this device").fill(name)
    page.get_by_role("button", name="Pair").click()
    shown = page.locator(".confirmation")
    expect(shown).to_have_text(re.compile(r"^\d{6}$"), timeout=10_000)
    approved = gateway.cli("devices", "approve", shown.inner_text())
    assert approved.returncode == 0, approved.stderr


def service_worker(context: BrowserContext) -> Worker:
    deadline = time.monotonic() + 15
    while not context.service_workers:
        assert time.monotonic() < deadline, "the app never registered its service worker"
        context.wait_for_event("serviceworker", timeout=15_000)
    return context.service_workers[0]


def api(
    gateway: GatewayProcess, token: str, method: str, path: str, body: object = None
) -> httpx.Response:
    return httpx.request(
        method,
        gateway.url(f"/api/v1{path}"),
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
        trust_env=False,
    )


def wait_for(what: str, check: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.05)


def delivery_states(gateway: GatewayProcess, task_id: str) -> list[NotifyState]:
    async def read() -> list[NotifyState]:
        store = await open_store(f"sqlite+aiosqlite:///{gateway.home / 'errand.db'}")
        try:
            push = PushStore(store)
            return [
                d.state
                for note in await push.notifications_of(task_id)
                for d in await push.deliveries_of(note.id)
            ]
        finally:
            await store.aclose()

    # Playwright's synchronous API keeps an event loop in this thread: read from another.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, read()).result()


def test_a_push_reaches_the_phone_and_its_tap_opens_the_approval(
    browser: Browser, push_gateway: GatewayProcess, push_service: FakePushService
) -> None:
    sub = push_service.subscribe("phone")
    context = phone_context(browser, push_gateway, sub)
    try:
        page = context.new_page()
        pair(page, push_gateway, "Push phone")
        offer = page.locator(".push-offer")
        expect(offer).to_contain_text("Know when a task needs you", timeout=15_000)
        expect(offer).to_contain_text("Approvals expire")
        snap(page, "notifications-offer")
        offer.get_by_role("button", name="Turn on notifications").click()
        expect(offer).to_contain_text("Notifications are on")
        token = str(page.evaluate("localStorage.getItem('errand.token')"))
        state = api(push_gateway, token, "GET", "/push").json()
        assert state["subscribed"] and state["kinds"] == ["failed", "finished", "needs_you"]
        assert page.evaluate("window.__pushKey") == state["public_key"]

        # Open and visible: no push, a toast instead.
        page.goto(push_gateway.url("/#/"))
        expect(page.locator("body[data-notices=live]")).to_have_count(1, timeout=15_000)
        seen = api(push_gateway, token, "POST", "/tasks", {"prompt": "Tidy while I watch"})
        watched = seen.json()["id"]
        toast = page.locator(".toast")
        expect(toast).to_contain_text("Needs you: Tidy while I watch", timeout=20_000)
        wait_for("the suppressed delivery", lambda: delivery_states(push_gateway, watched))
        assert delivery_states(push_gateway, watched) == [NotifyState.SUPPRESSED]
        assert push_service.pushes == []
        api(push_gateway, token, "POST", f"/tasks/{watched}/cancel")

        # The phone goes in a pocket: the app says it is hidden, and the next one is pushed.
        with page.expect_response(
            lambda r: (
                r.url.endswith("/push/presence") and r.request.post_data_json == {"visible": False}
            )
        ) as told:
            page.evaluate(
                """() => {
                  Object.defineProperty(
                    document, "visibilityState", {get: () => "hidden", configurable: true});
                  document.dispatchEvent(new Event("visibilitychange"));
                }"""
            )
        assert told.value.status == 204
        task_id = api(push_gateway, token, "POST", "/tasks", {"prompt": "Pay the bills"}).json()[
            "id"
        ]
        wait_for("a push", lambda: push_service.good())
        [push] = push_service.good()
        assert push.vapid_key == state["public_key"] and push.payload is not None
        assert push.payload["task_id"] == task_id and push.payload["kind"] == "needs_you"
        assert push.payload["title"] == "Pay the bills"

        # The service worker shows it, and tapping it opens the task at the approval card.
        worker = service_worker(context)
        shown = worker.evaluate(
            """async (payload) => {
              self.dispatchEvent(new PushEvent("push", {data: JSON.stringify(payload)}));
              for (let i = 0; i < 100; i++) {
                const found = await self.registration.getNotifications();
                if (found.length) {
                  return found.map((n) => ({title: n.title, body: n.body, tag: n.tag}));
                }
                await new Promise((r) => setTimeout(r, 50));
              }
              return [];
            }""",
            push.payload,
        )
        assert shown == [
            {"title": "Errand: Needs you", "body": "Pay the bills", "tag": push.payload["id"]}
        ]
        page.evaluate(
            """() => {
              Object.defineProperty(
                    document, "visibilityState", {get: () => "visible", configurable: true});
              document.dispatchEvent(new Event("visibilitychange"));
            }"""
        )
        worker.evaluate(
            """async () => {
              const [notification] = await self.registration.getNotifications();
              self.dispatchEvent(new NotificationEvent("notificationclick", {notification}));
            }"""
        )
        expect(page).to_have_url(re.compile(f"#/tasks/{task_id}$"), timeout=10_000)
        card = page.locator(".card.approval.pending")
        expect(card).to_be_visible(timeout=15_000)
        expect(card).to_be_in_viewport()

        # Settings: each kind on and off for this phone.
        page.goto(push_gateway.url("/#/device"))
        finished = page.get_by_label("A task finished")
        expect(finished).to_be_checked(timeout=10_000)
        snap(page, "notifications-settings")
        finished.uncheck()
        wait_for(
            "the kinds to be saved",
            lambda: (
                api(push_gateway, token, "GET", "/push").json()["kinds"] == ["failed", "needs_you"]
            ),
        )
        page.get_by_role("button", name="Turn off notifications").click()
        expect(page.get_by_role("button", name="Turn on notifications")).to_be_visible()
        assert not api(push_gateway, token, "GET", "/push").json()["subscribed"]
    finally:
        context.close()


def test_a_page_without_push_support_says_what_an_iphone_needs(
    browser: Browser, push_gateway: GatewayProcess, tmp_path: Path
) -> None:
    context = browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15",
    )
    context.add_init_script("delete window.PushManager;")
    try:
        page = context.new_page()
        pair(page, push_gateway, "Safari tab")
        offer = page.locator(".push-offer")
        expect(offer).to_contain_text("add Errand to your home screen", timeout=15_000)
        page.goto(push_gateway.url("/#/device"))
        expect(page.locator(".push-settings")).to_contain_text("iOS 16.4 or later")
    finally:
        context.close()
