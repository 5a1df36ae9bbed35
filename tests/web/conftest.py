"""Fixtures for the web app's browser tests: Chromium, one ``errand serve`` for the session
(scripted models, ``run_shell`` asking for approval, an allowed read-write folder), and one
phone paired through the QR link exactly as a person would pair it."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from web.web_harness import (
    GatewayProcess,
    ServeUnavailable,
    free_port,
    launch_chromium,
    new_phone_context,
    snap,
    write_script,
)

QUESTION_TURNS: list[dict[str, object]] = [
    {
        "text": "Hello from Errand. I need one thing from you.",
        "tool_calls": [{"name": "ask_user", "arguments": {"question": "Shall I go on?"}}],
        "usage": [100, 20],
    },
    {"text": "Going on, as you said. **Done.**", "usage": [150, 10]},
]


@dataclass(frozen=True)
class Scripts:
    """Model names (``script:PATH``) of the scripted models the tests use."""

    question: str
    folder: Path
    drafts: Path
    """An allowed read-write folder whose every write asks for approval."""
    choices: Path
    """Where the scripts of the models ``errand.toml`` lists (``models``) live, one file per
    name in ``MODEL_CHOICES``: a test writes the turns, then picks the model on the phone."""

    def choice(self, name: str, turns: list[dict[str, object]]) -> str:
        """Write the turns of the listed model ``name`` and return its model name."""
        assert name in MODEL_CHOICES, name
        return write_script(self.choices / f"{name}.json", turns)


MODEL_CHOICES = ("report", "review")


@dataclass(frozen=True)
class PairedPhone:
    """The session's phone: its device token, id and the browser storage holding them."""

    token: str
    device_id: str
    storage_state: dict[str, object]
    confirmation_on_phone: str
    approved_on_computer: str
    """What ``errand devices approve <number on the phone>`` printed."""
    address_after_pairing: str


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report ends with what ``errand serve`` printed lately."""
    report: pytest.TestReport = yield
    gateway = getattr(item, "funcargs", {}).get("gateway")
    if report.failed and call.when == "call" and isinstance(gateway, GatewayProcess):
        report.sections.append(
            ("errand serve's output (last 8,000 characters)", gateway.output()[-8000:])
        )
    return report


# Package scope, not session: Playwright's synchronous API keeps an event loop running in
# the main thread while it is open, and every asynchronous test run after it in the same
# session would fail to start its own. It is closed once this folder's tests are done.
@pytest.fixture(scope="package")
def playwright_session() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="package")
def browser(playwright_session: Playwright) -> Iterator[Browser]:
    try:
        chromium = launch_chromium(playwright_session)
    except Exception as exc:  # any failure to start means: no browser on this machine
        pytest.skip(f"Chromium cannot start here: {exc}")
    yield chromium
    chromium.close()


@pytest.fixture(scope="package")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> Scripts:
    base = tmp_path_factory.mktemp("scripts")
    folder = tmp_path_factory.mktemp("notes")
    drafts = tmp_path_factory.mktemp("drafts")
    return Scripts(
        question=write_script(base / "question.json", QUESTION_TURNS),
        folder=folder,
        drafts=drafts,
        choices=tmp_path_factory.mktemp("choices"),
    )


@pytest.fixture(scope="package")
def gateway(tmp_path_factory: pytest.TempPathFactory, scripts: Scripts) -> Iterator[GatewayProcess]:
    home = tmp_path_factory.mktemp("errand-home")
    listed = json.dumps([f"script:{scripts.choices / name}.json" for name in MODEL_CHOICES])
    (home / "errand.toml").write_text(
        f"models = {listed}\n"
        '[approvals]\ntools = {run_shell = "ask"}\nfolders = {drafts = "ask"}\n',
        encoding="utf-8",
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith("_API_KEY") and not key.endswith("_BASE_URL")
    }
    env.update(ERRAND_HOME=str(home), ERRAND_MODEL=scripts.question, NO_COLOR="1")
    process = GatewayProcess(home=home, port=free_port(), env=env)
    added = process.cli("folders", "add", str(scripts.folder), "--name", "notes", "--mode", "rw")
    if added.returncode != 0:
        pytest.skip(f"errand folders add is unavailable: {added.stdout}{added.stderr}")
    added = process.cli("folders", "add", str(scripts.drafts), "--name", "drafts", "--mode", "rw")
    assert added.returncode == 0, added.stdout + added.stderr
    try:
        process.start()
    except (ServeUnavailable, OSError) as exc:
        pytest.skip(f"errand serve is unavailable: {exc}")
    yield process
    process.stop()


def pair_phone(
    page: Page,
    gateway: GatewayProcess,
    name: str,
    *,
    link: str | None = None,
    screenshot: str | None = None,
) -> tuple[str, str]:
    """Pair ``page`` through ``link`` (default: a fresh one from ``errand pair``), approving it
    as the owner would from another terminal (``errand serve`` runs without one here): with
    ``errand devices approve`` and the number the phone shows. Returns that number and what
    the approval printed."""
    page.goto(link or gateway.pairing_link())
    page.get_by_label("Name for this device").fill(name)
    since = gateway.mark()
    page.get_by_role("button", name="Pair").click()
    shown = page.locator(".confirmation")
    expect(shown).to_have_text(_SIX_DIGITS, timeout=10_000)
    on_phone = shown.inner_text()
    if screenshot:
        snap(page, screenshot)
    gateway.wait_for_output(
        rf'A phone "{re.escape(name)}" \(from [^)]+\) asks to pair', since=since
    )
    approved = gateway.cli("devices", "approve", on_phone)
    assert approved.returncode == 0, approved.stderr
    on_computer = approved.stdout.strip()
    expect(page.get_by_role("heading", name="Errand")).to_be_visible(timeout=15_000)
    return on_phone, on_computer


_SIX_DIGITS = re.compile(r"^\d{6}$")


@pytest.fixture(scope="package")
def paired(browser: Browser, gateway: GatewayProcess) -> PairedPhone:
    context = new_phone_context(browser)
    try:
        page = context.new_page()
        on_phone, on_computer = pair_phone(page, gateway, "Test phone", screenshot="pairing")
        address = page.url
        token = page.evaluate("localStorage.getItem('errand.token')")
        device = json.loads(page.evaluate("localStorage.getItem('errand.device')"))
        state = context.storage_state()
    finally:
        context.close()
    return PairedPhone(
        token=str(token),
        device_id=str(device["id"]),
        storage_state=dict(state),
        confirmation_on_phone=on_phone,
        approved_on_computer=on_computer,
        address_after_pairing=address,
    )
