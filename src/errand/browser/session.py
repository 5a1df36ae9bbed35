"""One task's browser: Chromium in the task's sandbox, one clean context, one page.

Started on first use (:meth:`BrowserSession.page`), or ahead of it in the background
(:meth:`BrowserSession.start_soon`, when the task begins), closed when the task ends or after
it has been idle for a while. A browser that dies mid-task (a crash, or killed) is noticed on
the next call, reported once as a tool error, and started afresh on the call after.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Download, Page, ProxySettings
from playwright.async_api import Error as PlaywrightError

from errand.browser.compile_cache import ensure_compile_cache
from errand.browser.driver import Driver, start_driver
from errand.sandbox import NetworkDecision, Sandbox, SandboxUnavailable, Verdict

CHROMIUM_PATHS = (
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/lib/chromium/chromium",
    "/usr/lib/chromium-browser/chromium-browser",
)
"""Where distributions put the Chromium binaries, best first (the ``/usr/bin`` names are shell
wrappers that read host configuration the sandbox does not show). The headless shell (Debian's
``chromium-headless-shell``, the build Playwright itself prefers for headless work) starts with
half the processor time and about two thirds of the memory of the full browser."""

DOWNLOADS_DIR = "/tmp/downloads"
"""Where the browser saves downloads: scratch space inside the browser's sandbox."""

VIEWPORT = {"width": 1280, "height": 800}
IDLE_SECONDS = 300.0
MEMORY_MB = 1024
"""What one task's browser (driver and Chromium together) may use, where a cgroup caps it."""
EARLY_CALL_ID = "browser-start"
LAUNCH_SECONDS = 60.0

# Chromium takes one --disable-features list, so this one repeats Playwright's own (as of
# 1.65) and adds the services that would otherwise ask the proxy for Google hosts with the
# page's credential, which would put a question about them to the user.
_DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
    "AutofillServerCommunication",
    "Translate",
    "OptimizationGuideModelDownloading",
    "OptimizationHintsFetching",
    "CertificateTransparencyComponentUpdater",
    "InterestFeedContentSuggestions",
)

# Playwright already turns off most background traffic; these point the remaining
# browser-level requests (sign-in, component updates) at the reserved ``.invalid`` domain,
# which bypasses the proxy and so fails at once inside the sandbox: they could only ever be
# refused and would clutter the task's network log.
_CHROMIUM_ARGS = (
    "--disable-gpu",
    "--in-process-gpu",  # one process fewer: about 100 MB less per task
    "--no-pings",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--gaia-url=http://gaia.invalid",
    "--component-updater=url-source=http://updates.invalid",
    "--js-flags=--max-old-space-size=512",
    "--disable-features=" + ",".join(_DISABLED_FEATURES),
)


@dataclass(frozen=True, slots=True)
class StartSteps:
    """How long each step of the last browser start took, in seconds (for benchmarks)."""

    compile_cache: float
    """Finding (or, the first time, making) the driver's compile cache."""
    driver: float
    """The sandbox's spawn and the driver's boot, until Playwright answers."""
    launch: float
    context: float
    page: float
    """The first page, its renderer process started."""

    @property
    def total(self) -> float:
        return self.compile_cache + self.driver + self.launch + self.context + self.page


class BrowserUnavailable(Exception):
    """The browser cannot run here; the message says what to install or fix."""


class BrowserCrashed(Exception):
    """The browser stopped under a call; it is started afresh on the next one."""


def chromium_path() -> str:
    """The system Chromium binary.

    Raises:
        BrowserUnavailable: no Chromium is installed.
    """
    for path in CHROMIUM_PATHS:
        if Path(path).is_file():
            return path
    if shutil.which("chromium") is None and shutil.which("chromium-headless-shell") is None:
        raise BrowserUnavailable(
            "the browser tool needs Chromium, which is not installed: "
            "sudo apt-get install chromium-headless-shell (Errand never downloads a browser)"
        )
    raise BrowserUnavailable("Chromium is installed in a place Errand does not know")


@dataclass
class _Running:
    driver: Driver
    browser: Browser
    context: BrowserContext
    page: Page
    downloads: list[Download] = field(default_factory=list)
    decisions_seen: int = 0
    crashed: bool = False
    """The page's renderer died (Chromium lives on, but the page is gone)."""


class BrowserSession:
    """A task's browser, started on first use.

    ``sandbox`` is the task's sandbox session: the browser runs inside it and its connections
    go through its egress proxy, attributed to the call that started the browser.
    """

    def __init__(
        self, sandbox: Sandbox, *, idle_seconds: float = IDLE_SECONDS, memory_mb: int = MEMORY_MB
    ) -> None:
        self._sandbox = sandbox
        self.memory_mb = memory_mb
        """The memory cap of the task's browser, in MB."""
        self.idle_seconds = idle_seconds
        """How long the browser may sit unused before it is closed."""
        self._running: _Running | None = None
        self._lock = asyncio.Lock()
        self._idle: asyncio.Task[None] | None = None
        self._busy = 0
        self._early: asyncio.Task[None] | None = None
        self.start_steps: StartSteps | None = None
        """What the last start took, step by step."""

    @property
    def running(self) -> bool:
        return self._running is not None

    @property
    def driver_pid(self) -> int | None:
        """Host pid of the sandbox that holds the browser (tests kill it to crash it)."""
        return self._running.driver.pid if self._running else None

    @property
    def downloads(self) -> list[Download]:
        """What the current browser has downloaded (into its scratch space), oldest first."""
        return list(self._running.downloads) if self._running else []

    def new_refusals(self) -> list[NetworkDecision]:
        """Connections the egress proxy refused since the last time this was asked."""
        running = self._running
        if running is None:
            return []
        decisions = running.driver.network
        fresh = decisions[running.decisions_seen :]
        running.decisions_seen = len(decisions)
        # A first request without the proxy credential is answered with a challenge and
        # retried with it: that refusal is the protocol, not the policy.
        return [d for d in fresh if d.verdict is Verdict.DENY and d.call_id]

    def start_soon(self) -> None:
        """Start the browser in the background, so that the first call finds it ready.

        A start that fails here is forgotten: the first call starts it again and reports
        what went wrong. Its network decisions carry the call id ``browser-start``.
        """
        if self._early is None and self._running is None:
            self._early = asyncio.ensure_future(self._start_early())

    async def early_start_done(self) -> None:
        """Wait until the background start (if one was asked for) has finished."""
        if self._early is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._early)

    async def _start_early(self) -> None:
        async with self._lock:
            if self._running is not None:
                return
            # Whatever failed is met again, and reported, by the first call's own start.
            with contextlib.suppress(Exception):
                await self._start(EARLY_CALL_ID)
            unused = self._busy == 0 and self._idle is None
        if unused and self.running:
            self._idle = asyncio.ensure_future(self._close_when_idle())

    async def page(self, call_id: str) -> Page:
        """The task's page, starting the browser if it is not running.

        Raises:
            BrowserCrashed: the browser died since the last call (it will start on the next).
            BrowserUnavailable: Chromium is missing or would not start.
            SandboxUnavailable: the sandbox could not start the browser.
        """
        async with self._lock:
            running = self._running
            if running is not None and not self._healthy(running):
                message = self.crash_message()
                await self._stop()
                raise BrowserCrashed(message)
            if running is None:
                running = await self._start(call_id)
            return running.page

    @contextlib.asynccontextmanager
    async def use(self, call_id: str) -> AsyncIterator[Page]:
        """The task's page for the length of one call: the idle timer is stopped while any
        call is using the browser and restarted when the last one ends.

        Raises:
            BrowserCrashed, BrowserUnavailable, SandboxUnavailable: as :meth:`page`.
        """
        self._busy += 1
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        try:
            yield await self.page(call_id)
        finally:
            self._busy -= 1
            if self._busy == 0 and self._running is not None:
                self._idle = asyncio.ensure_future(self._close_when_idle())

    def crash_message(self, during: str = "") -> str:
        """What to tell the model about a browser that stopped under it (``during`` names the
        call it stopped in)."""
        where = f" during {during}" if during else ""
        if self.ran_out_of_memory():
            return (
                f"The browser ran out of memory{where} (a task's browser may use at most "
                f"{self.memory_mb} MB) and was stopped; the pages opened so far are gone. The "
                "next browser call starts a fresh browser; avoid the page that used so much."
            )
        return (
            f"The browser stopped unexpectedly{where} (it crashed or was killed); the pages "
            "opened so far are gone. The next browser call starts a fresh browser."
        )

    def ran_out_of_memory(self) -> bool:
        """Whether the kernel has killed one of the browser's processes for its memory cap."""
        running = self._running
        memory = running.driver.memory if running else None
        return memory is not None and memory.oom_kills() > 0

    def memory_peak_mb(self) -> float | None:
        """The most memory the running browser has used, where a cgroup counts it."""
        running = self._running
        memory = running.driver.memory if running else None
        peak = memory.peak_bytes() if memory else None
        return round(peak / (1 << 20), 1) if peak is not None else None

    def mark_crashed_if_dead(self) -> bool:
        """After a failed call: whether the browser itself is gone (then it restarts)."""
        running = self._running
        return running is not None and not self._healthy(running)

    async def discard(self) -> None:
        """Forget a dead browser so that the next call starts a fresh one."""
        async with self._lock:
            await self._stop()

    async def idle_closed(self) -> None:
        """Wait until the idle timer started by the last call has closed the browser."""
        timer = self._idle
        if timer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(timer)

    async def aclose(self) -> None:
        """Close the browser and its sandboxed driver (idempotent)."""
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._early is not None:
            self._early.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._early
        async with self._lock:
            await self._stop()

    def _healthy(self, running: _Running) -> bool:
        return (
            running.driver.alive
            and running.browser.is_connected()
            and not running.page.is_closed()
            and not running.crashed
        )

    async def _start(self, call_id: str) -> _Running:
        executable = chromium_path()
        times = [time.perf_counter()]
        compile_cache = await ensure_compile_cache()
        times.append(time.perf_counter())
        driver = await start_driver(
            self._sandbox,
            call_id=call_id,
            memory_bytes=self.memory_mb << 20,
            compile_cache=compile_cache,
        )
        times.append(time.perf_counter())
        try:
            async with asyncio.timeout(LAUNCH_SECONDS):
                proxy: ProxySettings = {
                    "server": driver.proxy.server,
                    "bypass": "*.invalid",
                    "username": driver.proxy.username,
                    "password": driver.proxy.password,
                }
                browser = await driver.playwright.chromium.launch(
                    executable_path=executable,
                    headless=True,
                    chromium_sandbox=False,
                    args=list(_CHROMIUM_ARGS),
                    proxy=proxy,
                    downloads_path=DOWNLOADS_DIR,
                    handle_sigint=False,
                    handle_sigterm=False,
                    handle_sighup=False,
                )
                times.append(time.perf_counter())
                context = await browser.new_context(
                    viewport={"width": VIEWPORT["width"], "height": VIEWPORT["height"]},
                    accept_downloads=True,
                    service_workers="block",
                )
                times.append(time.perf_counter())
                page = await context.new_page()
                times.append(time.perf_counter())
        except (PlaywrightError, TimeoutError) as exc:
            tail = driver.stderr_tail().strip().splitlines()[-3:]
            await driver.aclose()
            detail = f" ({' / '.join(tail)})" if tail else ""
            raise SandboxUnavailable(
                f"Chromium did not start in the sandbox: {_first_line(exc)}{detail}",
                "check that the chromium package works: chromium --headless --version",
            ) from exc
        except BaseException:
            await driver.aclose()
            raise
        running = _Running(driver, browser, context, page)
        page.on("download", lambda download: self._downloaded(running, download))
        page.on("crash", lambda _: self._page_crashed(running))
        self._running = running
        self.start_steps = StartSteps(*(after - before for before, after in pairwise(times)))
        return running

    def _page_crashed(self, running: _Running) -> None:
        running.crashed = True

    def _downloaded(self, running: _Running, download: Download) -> None:
        running.downloads.append(download)

    async def _stop(self) -> None:
        running, self._running = self._running, None
        if running is None:
            return
        with contextlib.suppress(PlaywrightError, TimeoutError, ConnectionError):
            async with asyncio.timeout(5):
                await running.browser.close()
        await running.driver.aclose()

    async def _close_when_idle(self) -> None:
        await asyncio.sleep(self.idle_seconds)
        async with self._lock:
            await self._stop()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
