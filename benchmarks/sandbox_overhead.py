"""Sandbox overhead: prints one JSON object of figures.

- ``bare_bwrap_true_ms``: the floor: ``true`` in a bare bwrap (new namespaces, ``/usr``
  read-only), started the same way (asyncio subprocess), median and p95 over RUNS runs.
- ``sandboxed_true_ms``: wall time of ``true`` through ``Sandbox.run`` (one fresh bwrap per
  command, the full hardened profile); the same with a read-write folder (an overlay mounted
  for the command, its protected paths guarded, its changes applied afterwards); each also
  as a multiple of the floor (``*_x_floor``); and a plain subprocess for comparison. The
  floor and the two sandboxed figures are taken in turn (ten commands back to back of each),
  so that the machine's load weighs on them alike; ``load_average`` is the load at the end.
- ``apply_ms_per_file``: applying a command's changes (created and modified small files,
  pre-images kept), per file; ``file_create_rename_ms`` is the file system's own cost of
  creating a small file and renaming it into place, for comparison.
- ``undo_1000_files_s``: undoing a task that modified 1,000 small files.
- ``proxy_added_ms``: the egress proxy's added latency per HTTP request, measured against a
  server in a network-namespace test host (needs root; null otherwise).

Goals on a 2-core machine: sandboxed ``true`` <= 2x the floor, with a read-write folder
<= 2.5x; applying <= 1 ms per changed small file; proxy <= 2 ms per request.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from errand.sandbox import FolderGrant, NetworkPolicy, SandboxPolicy
from errand.sandbox.changes import FolderLayer
from errand.sandbox.proxy import EgressProxy
from errand.sandbox.session import Sandbox

RUNS = int(os.environ.get("BENCH_RUNS", "200"))
HTTP_RUNS = int(os.environ.get("BENCH_RUNS", "200"))
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


async def start_figures(folder: str) -> tuple[list[float], list[float], list[float]]:
    """Wall times of ``true`` in a bare bwrap (the floor), through ``Sandbox.run`` with no
    folder, and with one read-write folder: ten of each in turn, back to back, until each
    has RUNS, so that a change in the machine's load weighs on the three alike."""
    floor_argv = ["bwrap", "--unshare-all", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib",
                  "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
                  "--proc", "/proc", "--dev", "/dev", "--", "/usr/bin/true"]  # fmt: skip

    async def floor() -> None:
        proc = await asyncio.create_subprocess_exec(*floor_argv, close_fds=True)
        assert await proc.wait() == 0

    rw = SandboxPolicy(folders=(FolderGrant.parse(f"{folder}:rw"),))
    samples: tuple[list[float], list[float], list[float]] = ([], [], [])
    async with Sandbox(SandboxPolicy()) as bare, Sandbox(rw) as layered:

        async def run(sandbox: Sandbox) -> None:
            result = await sandbox.run(["true"])
            assert result.exit_code == 0, result.stderr

        actions = (floor, lambda: run(bare), lambda: run(layered))
        for action in actions:  # warm caches (seccomp program, bwrap version, page cache)
            await action()
        for _ in range(max(1, RUNS // 10)):
            for action, times in zip(actions, samples, strict=True):
                times += await timed(action, 10)
    return samples


def apply_per_file(files: int = 500) -> float:
    """Milliseconds per changed small file to apply an upper layer."""
    with tempfile.TemporaryDirectory() as base:
        root, storage = Path(base) / "folder", Path(base) / "storage"
        root.mkdir()
        for i in range(files // 2):
            (root / f"old{i}.txt").write_text(f"old {i}\n", encoding="utf-8")
        layer = FolderLayer(root, storage, "bench")
        for i in range(files // 2):
            (layer.upper / f"old{i}.txt").write_text(f"new {i}\n", encoding="utf-8")
            (layer.upper / f"new{i}.txt").write_text(f"created {i}\n", encoding="utf-8")
        start = time.perf_counter()
        changes = layer.apply()
        elapsed = time.perf_counter() - start
        assert len(changes) == files and all(c.status == "applied" for c in changes)
    return round(elapsed * 1000 / files, 4)


def undo_seconds(files: int = 1000) -> float:
    """Seconds to undo a task that modified ``files`` small files."""
    with tempfile.TemporaryDirectory() as base:
        root, storage = Path(base) / "folder", Path(base) / "storage"
        root.mkdir()
        for i in range(files):
            (root / f"f{i}.txt").write_text(f"old {i}\n", encoding="utf-8")
        layer = FolderLayer(root, storage, "bench")
        for i in range(files):
            (layer.upper / f"f{i}.txt").write_text(f"new {i}\n", encoding="utf-8")
        layer.apply()
        start = time.perf_counter()
        undone = layer.undo()
        elapsed = time.perf_counter() - start
        assert len(undone) == files and all(c.status == "applied" for c in undone)
        assert (root / "f7.txt").read_text(encoding="utf-8") == "old 7\n"
    return round(elapsed, 3)


def file_create_floor_ms(files: int = 500) -> float:
    """Milliseconds to create a small file and rename it into place on this file system:
    the least any apply can cost per file."""
    with tempfile.TemporaryDirectory() as base:
        start = time.perf_counter()
        for i in range(files):
            path = Path(base) / f"s{i}"
            path.write_bytes(b"created\n")
            path.rename(Path(base) / f"f{i}")
        return round((time.perf_counter() - start) * 1000 / files, 4)


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
        floor, bare, with_folder = map(summary, await start_figures(folder))
        figures = {
            "load_average": [round(load, 2) for load in os.getloadavg()],
            "bare_bwrap_true_ms": floor,
            "sandboxed_true_ms": bare,
            "sandboxed_true_x_floor": round(bare["median"] / floor["median"], 2),
            "sandboxed_true_rw_folder_ms": with_folder,
            "sandboxed_true_rw_folder_x_floor": round(with_folder["median"] / floor["median"], 2),
            "apply_ms_per_file": apply_per_file(),
            "file_create_rename_ms": file_create_floor_ms(),
            "undo_1000_files_s": undo_seconds(),
            "plain_subprocess_true_ms": await plain_true(),
            "proxy_added_ms": await proxy_overhead(),
            "goals": {
                "sandboxed_true_x_floor": 2,
                "sandboxed_true_rw_folder_x_floor": 2.5,
                "apply_ms_per_file": 1,
                "undo_1000_files_s": 2,
                "proxy_added_ms": 2,
            },
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
