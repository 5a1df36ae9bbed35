"""The Playwright driver, started inside the task's sandbox.

Playwright for Python drives browsers through a Node.js driver that it talks to over a pipe
(length-prefixed JSON). Errand starts that driver itself, as a long-lived process in the
task's sandbox, and speaks the same protocol over the process's stdin and stdout. The driver
then launches Chromium as its own child, so the browser runs confined too: the task's network
namespace (only the egress proxy is reachable), the seccomp filter, the read-only system and
the granted folders only. Files the driver reads or writes for the page (uploads, downloads,
the browser profile) are the sandbox's, never the host's.

This is the one module that uses Playwright's private transport classes (``playwright._impl``):
the public API offers no way to run the driver anywhere but as a plain host process.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import playwright
from playwright._impl.connection import Connection
from playwright._impl.transport import Transport
from playwright._repo_version import version as playwright_version
from playwright.async_api import Playwright

from errand.sandbox import (
    ExtraMount,
    MemoryLimit,
    NetworkDecision,
    Sandbox,
    SandboxProcess,
    SandboxUnavailable,
)

DRIVER_DIR = Path(playwright.__file__).parent / "driver"
"""The Node.js runtime and driver package that ship with Playwright for Python."""
SANDBOX_DRIVER_DIR = "/opt/errand/playwright"
"""Where the driver folder appears (read-only) inside the sandbox."""
SANDBOX_NODE = f"{SANDBOX_DRIVER_DIR}/node"
SANDBOX_CLI = f"{SANDBOX_DRIVER_DIR}/package/cli.js"
SANDBOX_COMPILE_CACHE = "/opt/errand/node-cache"
"""Where Node.js's compile cache for the driver appears (read-only) inside the sandbox."""
FONTS_DIR = Path("/etc/fonts")
_HAS_FONTS = FONTS_DIR.is_dir()
SANDBOX_FONTS_DIR = "/opt/errand/fonts"

ADDRESS_SPACE = 1 << 41
"""The browser's address-space limit (2 TiB). Chromium reserves about a terabyte of virtual
address space up front (V8's pointer cage); it aborts under the usual 4 GiB limit, which caps
reservations, not memory use."""

_HELLO_SECONDS = 60.0
_STDERR_KEEP = 16_384
_READ_CHUNK = 32_768

# The first line the sandboxed process prints is its proxy URL: the session gives every
# sandboxed process a credential of its own in its proxy variables, and Chromium takes proxy
# credentials only through Playwright's proxy settings, so the driver's own must reach them.
_LAUNCHER = 'printf "%s\\n" "$HTTP_PROXY" && exec "$0" "$1" run-driver'


@dataclass(frozen=True, slots=True)
class ProxyCredential:
    """The egress proxy as the sandboxed browser must use it."""

    server: str
    username: str
    password: str


class Driver:
    """A running Playwright driver in the sandbox; :attr:`playwright` is the API object.

    :meth:`aclose` kills the driver and, with it, every browser it launched (they share its
    sandbox, which dies with it).
    """

    def __init__(
        self,
        process: SandboxProcess,
        transport: _PipeTransport,
        api: Playwright,
        proxy: ProxyCredential,
    ) -> None:
        self._process = process
        self._transport = transport
        self.playwright = api
        self.proxy = proxy

    @property
    def pid(self) -> int:
        """The host pid of the sandbox that holds the driver and its browser."""
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.returncode is None and not self._transport.closed

    @property
    def memory(self) -> MemoryLimit | None:
        """The cgroup capping the memory of the driver and its browser, where there is one."""
        return self._process.memory

    @property
    def network(self) -> tuple[NetworkDecision, ...]:
        """The egress proxy's decisions about the browser's connections so far."""
        return self._process.network

    def stderr_tail(self) -> str:
        """The last few kilobytes the driver and browser wrote to stderr."""
        return self._transport.stderr_tail()

    async def aclose(self) -> None:
        """Stop the driver and everything it started (idempotent)."""
        self._transport.request_stop()
        await self._process.aclose()
        await self._transport.wait_until_stopped()


def driver_mounts(compile_cache: Path | None) -> tuple[list[ExtraMount], dict[str, str]]:
    """The read-only mounts and the environment the driver runs with (``compile_cache``: the
    host folder holding Node.js's compile cache for it, if there is one)."""
    mounts = [ExtraMount(DRIVER_DIR, SANDBOX_DRIVER_DIR)]
    env: dict[str, str] = {
        "PW_LANG_NAME": "python",
        "PW_LANG_NAME_VERSION": f"{sys.version_info.major}.{sys.version_info.minor}",
        "PW_CLI_DISPLAY_VERSION": playwright_version,
    }
    if _HAS_FONTS:
        mounts.append(ExtraMount(FONTS_DIR, SANDBOX_FONTS_DIR))
        env["FONTCONFIG_FILE"] = f"{SANDBOX_FONTS_DIR}/fonts.conf"
    if compile_cache is not None:
        mounts.append(ExtraMount(compile_cache, SANDBOX_COMPILE_CACHE))
        env["NODE_COMPILE_CACHE"] = SANDBOX_COMPILE_CACHE
    return mounts, env


async def start_driver(
    sandbox: Sandbox, *, call_id: str, memory_bytes: int, compile_cache: Path | None = None
) -> Driver:
    """Start the driver in ``sandbox``; its network decisions carry ``call_id``; the driver
    and its browsers may use ``memory_bytes`` together where the sandbox can cap it; it reads
    Node.js's compile cache from the host folder ``compile_cache`` (read-only) when given.

    Raises:
        SandboxUnavailable: the driver could not be started or did not answer.
    """
    mounts, env = driver_mounts(compile_cache)
    process = await sandbox.spawn(
        ["/bin/sh", "-c", _LAUNCHER, SANDBOX_NODE, SANDBOX_CLI],
        call_id=call_id,
        env=env,
        extra_mounts=mounts,
        address_space=ADDRESS_SPACE,
        memory_bytes=memory_bytes,
    )
    try:
        proxy = await _read_proxy(process)
        loop = asyncio.get_running_loop()
        transport = _PipeTransport(loop, process)
        connection = Connection(loop)
        connection.onmessage = transport.send
        transport.on_message = connection.dispatch
        transport.on_close = connection.close
        transport.start()
        async with asyncio.timeout(_HELLO_SECONDS):
            impl = await connection.initialize_playwright()
    except BaseException as exc:
        await process.aclose()
        if isinstance(exc, TimeoutError | OSError | ValueError | asyncio.IncompleteReadError):
            raise SandboxUnavailable(
                f"the browser driver did not start in the sandbox: {exc or type(exc).__name__}",
                "check `errand sandbox check`",
            ) from exc
        raise
    return Driver(process, transport, Playwright(impl), proxy)


async def _read_proxy(process: SandboxProcess) -> ProxyCredential:
    async with asyncio.timeout(_HELLO_SECONDS):
        line = await process.stdout.readline()
    if not line:
        code = await process.wait()
        raise ValueError(f"the sandboxed launcher exited with status {code}")
    url = urlsplit(line.decode("ascii", errors="replace").strip())
    if not (url.hostname and url.port and url.username and url.password):
        raise ValueError("the sandbox gave the browser no proxy")
    return ProxyCredential(
        server=f"http://{url.hostname}:{url.port}",
        username=unquote(url.username),
        password=unquote(url.password),
    )


class _PipeTransport(Transport):
    """Playwright's driver protocol over a sandboxed process's stdin and stdout.

    Messages are a 4-byte little-endian length and that many bytes of JSON, in both
    directions. Stderr is drained all along (a full pipe would stall the browser), keeping
    the tail for error messages.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, process: SandboxProcess) -> None:
        super().__init__(loop)
        self._process = process
        self._stopped = False
        self.closed = False
        self._stderr = bytearray()
        self._tasks: list[asyncio.Task[None]] = []
        self._done: asyncio.Future[None] = loop.create_future()
        self.on_close: Callable[[], None] = lambda: None
        """Called once the driver's output ends: calls in flight then fail at once."""

    def start(self) -> None:
        self._tasks = [
            asyncio.ensure_future(self.run()),
            asyncio.ensure_future(self._drain_stderr()),
        ]

    def request_stop(self) -> None:
        self._stopped = True
        with contextlib.suppress(Exception):
            self._process.stdin.close()

    async def wait_until_stopped(self) -> None:
        for task in self._tasks:
            if not task.done():
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def connect(self) -> None:
        """The process is already running; nothing to connect."""

    async def run(self) -> None:
        stdout = self._process.stdout
        try:
            while not self._stopped:
                try:
                    head = await stdout.readexactly(4)
                    size = int.from_bytes(head, byteorder="little", signed=False)
                    chunks: list[bytes] = []
                    while size:
                        chunk = await stdout.readexactly(min(size, _READ_CHUNK))
                        size -= len(chunk)
                        chunks.append(chunk)
                except (asyncio.IncompleteReadError, ConnectionError):
                    break  # on_close fails the calls in flight
                self.on_message(self.deserialize_message(b"".join(chunks)))
                # The driver's client expects each message to be handled in its own turn.
                await asyncio.sleep(0)
        finally:
            self.closed = True
            self.on_close()
            if not self._done.done():
                self._done.set_result(None)

    def send(self, message: Mapping[str, Any]) -> None:
        if self.closed or self._stopped:
            return
        data = self.serialize_message(dict(message))
        self._process.stdin.write(len(data).to_bytes(4, byteorder="little") + data)

    async def _drain_stderr(self) -> None:
        while chunk := await self._process.stderr.read(_READ_CHUNK):
            self._stderr += chunk
            del self._stderr[:-_STDERR_KEEP]

    def stderr_tail(self) -> str:
        return self._stderr.decode("utf-8", errors="replace")
