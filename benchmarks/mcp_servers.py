"""MCP servers in the sandbox versus run directly: prints one JSON object of figures.

For each test server (mcp-server-time from PyPI; server-everything from npm when
``make mcp-servers`` has installed it):

- ``start_s``: from launch to a finished handshake and tool listing, median over STARTS runs,
  in Errand's sandbox (a session of its own, as a task starts it) and as a plain process;
- ``call_ms``: one tool call on a started server (get_current_time; echo), median and p95
  over CALLS calls, both ways; ``call_added_ms`` is the sandbox's share of a call.

``everything_remote``: server-everything serving streamable HTTP on a namespace test host,
reached through the egress proxy as a task reaches a remote server (``proxied``) versus
with a plain HTTP client; ``call_added_ms`` is the proxy's share of a call.

Needs root (the sandbox's namespaces). Run: ``.venv/bin/python benchmarks/mcp_servers.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx2

from errand.evals import NamespaceHost
from errand.mcp import (
    RemoteLink,
    ServerConfig,
    ServerConnection,
    proxied,
    sandboxed,
    server_config,
    server_policy,
    unsandboxed,
)
from errand.mcp.connection import Launcher

STARTS = 5
CALLS = 100
HERE = Path(__file__).resolve().parent.parent
EVERYTHING = (
    HERE
    / "tests/connectors/servers/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
)
PROGRAMS = [sys.prefix, str(Path(sys.base_prefix).resolve()), str(EVERYTHING.parents[3])]


def _ms(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median": round(statistics.median(ordered) * 1000, 3),
        "p95": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 3),
    }


async def _measure(
    config: ServerConfig, tool: str, arguments: Mapping[str, Any], *, sandbox: bool
) -> tuple[list[float], list[float]]:
    def launcher() -> Launcher:
        if sandbox:
            return sandboxed(config, server_policy(config, {}))
        return lambda: unsandboxed(list(config.command), {"PATH": "/usr/bin:/bin"})

    return await _timed(config, launcher, tool, arguments)


async def _timed(
    config: ServerConfig,
    launcher: Callable[[], Launcher],
    tool: str,
    arguments: Mapping[str, Any],
) -> tuple[list[float], list[float]]:
    starts: list[float] = []
    calls: list[float] = []
    for run in range(STARTS):
        began = time.perf_counter()
        connection = ServerConnection(config, launcher())
        try:
            await connection.start()
            starts.append(time.perf_counter() - began)
            if run == 0:
                await connection.call(tool, dict(arguments))  # warm the server's code path
                for _ in range(CALLS):
                    began = time.perf_counter()
                    result = await connection.call(tool, dict(arguments))
                    calls.append(time.perf_counter() - began)
                    assert not result.is_error, result
        finally:
            await connection.aclose()
    return starts, calls


async def _server(
    name: str, command: list[str], tool: str, arguments: Mapping[str, Any]
) -> dict[str, Any]:
    config = server_config(name, {"command": command, "programs": PROGRAMS, "start_timeout": 300})
    boxed_starts, boxed_calls = await _measure(config, tool, arguments, sandbox=True)
    plain_starts, plain_calls = await _measure(config, tool, arguments, sandbox=False)
    boxed, plain = _ms(boxed_calls), _ms(plain_calls)
    return {
        "start_s": {
            "sandboxed_median": round(statistics.median(boxed_starts), 3),
            "direct_median": round(statistics.median(plain_starts), 3),
            "runs": STARTS,
        },
        "call_ms": {"sandboxed": boxed, "direct": plain, "calls": CALLS},
        "call_added_ms": round(boxed["median"] - plain["median"], 3),
    }


@contextlib.contextmanager
def _remote_everything() -> Iterator[tuple[str, str]]:
    """server-everything serving streamable HTTP on a namespace test host: URL, range."""
    node = shutil.which("node")
    assert node is not None, "node is needed"
    with NamespaceHost() as host:
        server = subprocess.Popen(
            host.command([node, str(EVERYTHING), "streamableHttp"]),
            env={"PATH": os.environ["PATH"], "PORT": "3001"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stderr is not None
            ready, _, _ = select.select([server.stderr], [], [], 120)
            assert ready and "listening" in server.stderr.readline()
            yield f"http://{host.address}:3001/mcp", str(host.network)
        finally:
            server.kill()
            server.communicate(timeout=10)


async def _remote() -> dict[str, Any]:
    with _remote_everything() as (url, network):
        config = server_config(
            "everything", {"url": url, "allow_cidrs": [network], "start_timeout": 300}
        )

        @contextlib.asynccontextmanager
        async def direct() -> AsyncIterator[RemoteLink]:
            async with httpx2.AsyncClient(trust_env=False) as client:
                yield RemoteLink(url, client, [])

        args = {"message": "hi"}
        via_proxy = await _timed(
            config, lambda: proxied(config, server_policy(config, {})), "echo", args
        )
        plain = await _timed(config, lambda: direct, "echo", args)
    proxied_ms, direct_ms = _ms(via_proxy[1]), _ms(plain[1])
    return {
        "start_s": {
            "proxied_median": round(statistics.median(via_proxy[0]), 3),
            "direct_median": round(statistics.median(plain[0]), 3),
            "runs": STARTS,
        },
        "call_ms": {"proxied": proxied_ms, "direct": direct_ms, "calls": CALLS},
        "call_added_ms": round(proxied_ms["median"] - direct_ms["median"], 3),
    }


async def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["ERRAND_HOME"] = home
        figures: dict[str, Any] = {
            "time": await _server(
                "time",
                [str(Path(sys.prefix) / "bin/mcp-server-time")],
                "get_current_time",
                {"timezone": "UTC"},
            )
        }
        if EVERYTHING.exists():
            figures["everything"] = await _server(
                "everything", ["node", str(EVERYTHING), "stdio"], "echo", {"message": "hi"}
            )
            figures["everything_remote"] = await _remote()
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
