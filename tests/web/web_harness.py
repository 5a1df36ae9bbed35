"""What the browser tests share: a real ``errand serve`` subprocess and Debian's Chromium.

``GatewayProcess`` runs ``errand serve`` on a free loopback port with ``ERRAND_HOME`` in a
temporary folder, reads its output on a thread (so the pairing prompt can be answered by
writing to its stdin, as a person would type), and can stop and start it again on the same
port. ``launch_chromium`` starts the system Chromium, never a downloaded browser.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, Playwright, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE: ViewportSize = {"width": 375, "height": 667}
START_SECONDS = 60.0
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


class ServeUnavailable(Exception):
    """``errand serve`` is missing or did not come up; the message says why."""


def launch_chromium(playwright: Playwright) -> Browser:
    """The system Chromium, headless, at phone size later per context.

    Raises:
        RuntimeError: Chromium is not installed or cannot start here.
    """
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def new_phone_context(browser: Browser, *, bypass_csp: bool = False) -> BrowserContext:
    """A fresh phone-sized context (375×667, touch). Service workers are blocked so that
    what the tests see is the network, not a cache (one test turns them on)."""
    return browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        bypass_csp=bypass_csp,
        service_workers="block",
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class GatewayProcess:
    """One ``errand serve`` subprocess; ``start`` and ``stop`` may repeat (same port)."""

    home: Path
    port: int
    env: Mapping[str, str]
    process: subprocess.Popen[str] | None = None

    def __post_init__(self) -> None:
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._reader: threading.Thread | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def errand(self) -> list[str]:
        found = shutil.which("errand", path=str(Path(sys.executable).parent))
        return [found] if found else [sys.executable, "-m", "errand"]

    def start(self) -> None:
        """Start serving and wait until ``/api/v1/health`` answers.

        Raises:
            ServeUnavailable: the command is missing or exited or did not answer in time.
        """
        with self._changed:
            self._lines.clear()
        self.process = subprocess.Popen(
            [*self.errand, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            # Unbuffered, so that a failing test's report shows the gateway's output up to
            # the moment it failed, not up to the last full buffer.
            env={**self.env, "PYTHONUNBUFFERED": "1"},
            cwd=self.home,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServeUnavailable(
                    f"errand serve exited with {self.process.returncode}: {self.output()[-2000:]}"
                )
            try:
                if httpx.get(self.url("/api/v1/health"), timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ServeUnavailable(f"errand serve did not answer in time: {self.output()[-2000:]}")

    def stop(self) -> None:
        """Stop like Ctrl-C would, then wait (killing it if it hangs)."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process.stdin:
            process.stdin.close()
        if self._reader:
            self._reader.join(timeout=5)
        if process.stdout:
            process.stdout.close()
        self.process = None

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()

    def output(self) -> str:
        with self._changed:
            return "".join(self._lines)

    def mark(self) -> int:
        """How much the server has printed so far (for ``wait_for_output(since=...)``)."""
        with self._changed:
            return sum(len(line) for line in self._lines)

    def wait_for_output(
        self, pattern: str, *, since: int = 0, timeout: float = 10.0
    ) -> re.Match[str]:
        """The first match of ``pattern`` in what the server printed after ``since``."""
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = compiled.search("".join(self._lines)[since:])
                if found:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"errand serve never printed {pattern!r}; it printed:\n"
                        + "".join(self._lines)[-3000:]
                    )
                self._changed.wait(remaining)

    def type_line(self, text: str) -> None:
        """Type ``text`` and Enter at the server's terminal."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run another ``errand`` command against the same home, as the owner would."""
        return subprocess.run(
            [*self.errand, *args],
            env=dict(self.env),
            cwd=self.home,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=30,
            check=False,
        )

    def pairing_link(self) -> str:
        """A fresh pairing link, made as the owner would: ``errand pair``."""
        result = self.cli("pair", "--json")
        if result.returncode != 0:
            raise AssertionError(f"errand pair failed: {result.stdout}{result.stderr}")
        link: str = json.loads(result.stdout)["link"]
        return link


def snap(page: Page, name: str) -> None:
    """Keep a screenshot of a main screen in docs/screenshots when ERRAND_WEB_SCREENSHOTS=1
    (how the README's pictures are made); otherwise nothing."""
    if os.environ.get("ERRAND_WEB_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


class DialogLog:
    """Records and dismisses every dialog (alert, confirm, prompt) a page opens."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, dialog: Dialog) -> None:
        self.messages.append(dialog.message)
        dialog.dismiss()


def write_script(path: Path, turns: list[dict[str, object]]) -> str:
    """Write a scripted model file and return its model name (``script:PATH``)."""
    path.write_text(json.dumps({"version": 1, "turns": turns}), encoding="utf-8")
    return f"script:{path}"
