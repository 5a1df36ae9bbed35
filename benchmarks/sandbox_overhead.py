"""Sandbox overhead: prints one JSON object of figures.

- ``sandboxed_true_ms``: wall time of ``true`` through ``Sandbox.run`` (one fresh bwrap per
  command, the full hardened profile), median and p95 over RUNS runs; the same with a
  read-write folder (its protected paths guarded); and a plain subprocess for comparison.
- ``proxy_added_ms``: the egress proxy's added latency per HTTP request, measured against a
  server in a network-namespace test host (needs root; null otherwise).

Goals on a 2-core machine: sandboxed ``true`` <= 8 ms median, proxy <= 2 ms per request.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from errand.sandbox import FolderGrant, NetworkPolicy, SandboxPolicy
from errand.sandbox.proxy import EgressProxy
from errand.sandbox.session import Sandbox

RUNS = 200
HTTP_RUNS = 200
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median": round(statistics.median(ordered) * 1000, 3),
        "p95": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 3),
        "runs": len(ordered),
    }


async def timed(action: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await action()
        samples.append(time.perf_counter() - start)
    return samples


async def sandboxed_true(policy: SandboxPolicy) -> dict[str, float]:
    async with Sandbox(policy) as sandbox:
        await sandbox.run(["true"])  # warm caches (seccomp program, bwrap version)

        async def once() -> None:
            result = await sandbox.run(["true"])
            assert result.exit_code == 0, result.stderr

        return summary(await timed(once, RUNS))


async def plain_true() -> dict[str, float]:
    async def once() -> None:
        await asyncio.to_thread(subprocess.run, ["true"], check=True)

    return summary(await timed(once, RUNS))


def http_get(address: str, port: int, *, proxy: tuple[int, str] | None = None) -> None:
    """One HTTP/1.1 request on a new connection, direct or through the proxy."""
    if proxy is None:
        conn = socket.create_connection((address, port), timeout=5)
        head = f"GET / HTTP/1.1\r\nHost: {address}:{port}\r\nConnection: close\r\n\r\n"
    else:
        conn = socket.create_connection(("127.0.0.1", proxy[0]), timeout=5)
        head = (
            f"GET http://bench.test:{port}/ HTTP/1.1\r\nHost: bench.test:{port}\r\n"
            f"Proxy-Authorization: Basic {proxy[1]}\r\nConnection: close\r\n\r\n"
        )
    with conn:
        conn.sendall(head.encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data[:200]


async def proxy_overhead() -> dict[str, float] | None:
    from nethost import NetHostUnavailable, TestHost

    try:
        host = TestHost().__enter__()
        host.start_http_server()
    except NetHostUnavailable:
        return None
    try:
        address = str(host.address)

        async def resolve(name: str, port: int) -> list[object]:
            return [host.address]

        network = NetworkPolicy(allow_domains=("bench.test",), allow_cidrs=(host.network,))
        proxy = EgressProxy("bench", network, resolver=resolve)  # type: ignore[arg-type]
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        await proxy.serve(listener)
        user, password = proxy.new_credential("bench")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        direct = await timed(lambda: asyncio.to_thread(http_get, address, 8080), HTTP_RUNS)
        proxied = await timed(
            lambda: asyncio.to_thread(http_get, address, 8080, proxy=(port, token)), HTTP_RUNS
        )
        await proxy.aclose()
    finally:
        host.close()
    direct_ms, proxied_ms = summary(direct), summary(proxied)
    return {
        "direct_median": direct_ms["median"],
        "proxied_median": proxied_ms["median"],
        "added_median": round(proxied_ms["median"] - direct_ms["median"], 3),
        "runs": HTTP_RUNS,
    }


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        rw = SandboxPolicy(folders=(FolderGrant.parse(f"{folder}:rw"),))
        figures = {
            "sandboxed_true_ms": await sandboxed_true(SandboxPolicy()),
            "sandboxed_true_rw_folder_ms": await sandboxed_true(rw),
            "plain_subprocess_true_ms": await plain_true(),
            "proxy_added_ms": await proxy_overhead(),
            "goals": {"sandboxed_true_median_ms": 8, "proxy_added_ms": 2},
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
