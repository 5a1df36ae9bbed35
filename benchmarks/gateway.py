"""Gateway figures, printed as one JSON object.

* ``commit_to_sse_ms``: from an event's append (in the server process, as the runner does)
  to its arrival at a streaming client, p50 and p99 (goal: p99 <= 50 ms).
* ``fanout``: 50 clients streaming one task; every client must get every event.
* ``task_list_rps``: ``GET /api/v1/tasks?limit=20`` answered per second (10 clients).
* ``rss_mb``: the server process's resident memory idle and at its peak under that load
  (goal: idle <= 150 MB).

The server runs in a child process (this script with ``--serve``) on loopback, with its own
SQLite store in a temporary directory; the parent tells it over stdin when to write events.

    .venv/bin/python benchmarks/gateway.py
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

CLIENTS = 50
LATENCY_EVENTS = 400
FANOUT_EVENTS = 200
THROUGHPUT_SECONDS = 3.0
THROUGHPUT_WORKERS = 10


# -- the server side (child process) -------------------------------------------------------


async def serve(directory: Path) -> None:
    from errand.access import PairingService, create_token
    from errand.runner import LocalRunner
    from errand.server.app import build_gateway
    from errand.server.exposure import plan
    from errand.server.gateway import GatewayConfig
    from errand.server.running import GatewayServer, bind_socket
    from errand.server.security import SecuritySettings
    from errand.store import TaskStatus, open_store
    from errand.tasks import TaskSpec

    store = await open_store(f"sqlite+aiosqlite:///{directory / 'errand.db'}")

    async def refuse(pending: object) -> bool:
        return False

    pairing = PairingService(store, confirm=refuse, on_warning=lambda message: None)
    sock = bind_socket("127.0.0.1", 0)
    exposure = plan(host="127.0.0.1", port=sock.getsockname()[1])
    config = GatewayConfig(
        base_url=exposure.base_url,
        security=SecuritySettings(
            allowed_hosts=exposure.allowed_hosts, app_origins=exposure.app_origins
        ),
        admin_hosts=exposure.admin_hosts,
    )
    gateway = build_gateway(store, LocalRunner(store), pairing, config)
    server = GatewayServer(gateway, sock, access_log=False)
    token = (await create_token(store, "benchmark")).token
    spec = TaskSpec(model="script:none")
    tasks = [await store.create_task(f"task {n}", spec=spec) for n in range(100)]
    for task in tasks[:2]:
        await store.set_task_status(task.id, TaskStatus.RUNNING)
    await server.start()
    print(
        json.dumps({"url": exposure.base_url, "token": token, "tasks": [t.id for t in tasks[:2]]}),
        flush=True,
    )
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()

    def read_commands() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, line.strip())
        loop.call_soon_threadsafe(commands.put_nowait, "quit")

    threading.Thread(target=read_commands, daemon=True).start()
    while (command := await commands.get()) != "quit":
        verb, task_id, *rest = command.split()
        committed: dict[int, float] = {}
        if verb == "emit":
            count, interval = int(rest[0]), float(rest[1])
            for _ in range(count):
                event = await store.append_event(task_id, "message.delta", {"text": "x"})
                committed[event.seq] = time.time()  # append_event returns after the commit
                await asyncio.sleep(interval)
        elif verb == "finish":
            await store.set_task_status(task_id, TaskStatus.COMPLETED)
        print(json.dumps({"committed": committed}), flush=True)
    await server.stop()
    await pairing.aclose()
    await store.aclose()


# -- the client side -------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def stream(client: httpx.AsyncClient, task_id: str, arrivals: dict[int, float]) -> int:
    """Read a task's stream to its end; returns the events seen, records arrival times."""
    seen = 0
    async with client.stream("GET", f"/api/v1/tasks/{task_id}/events") as response:
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                seen += 1
                arrivals[int(line[4:])] = time.time()
    return seen


class Child:
    def __init__(self, directory: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(directory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        self.info = json.loads(self.proc.stdout.readline())

    async def command(self, text: str) -> dict[int, float]:
        """Run a command in the server; returns when each event it wrote was committed."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        answer = json.loads(await asyncio.to_thread(self.proc.stdout.readline))
        return {int(seq): at for seq, at in answer["committed"].items()}

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


async def measure(child: Child) -> dict[str, object]:
    url, token = child.info["url"], child.info["token"]
    latency_task, fanout_task = child.info["tasks"]
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=CLIENTS + 10)
    await asyncio.sleep(1.0)
    idle = rss_mb(child.proc.pid)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=60, trust_env=False
    ) as client:
        arrivals: dict[int, float] = {}
        reader = asyncio.ensure_future(stream(client, latency_task, arrivals))
        await asyncio.sleep(0.3)
        committed = await child.command(f"emit {latency_task} {LATENCY_EVENTS} 0.002")
        await child.command(f"finish {latency_task}")
        await asyncio.wait_for(reader, 30)
        delays = [arrivals[seq] - at for seq, at in committed.items()]

        ignored: dict[int, float] = {}
        readers = [
            asyncio.ensure_future(stream(client, fanout_task, ignored)) for _ in range(CLIENTS)
        ]
        await asyncio.sleep(0.5)
        peak = rss_mb(child.proc.pid)
        emitting = asyncio.ensure_future(child.command(f"emit {fanout_task} {FANOUT_EVENTS} 0.001"))
        while not emitting.done():
            peak = max(peak, rss_mb(child.proc.pid))
            await asyncio.sleep(0.05)
        await emitting
        await child.command(f"finish {fanout_task}")
        counts = await asyncio.wait_for(asyncio.gather(*readers), 60)
        expected = FANOUT_EVENTS + 3  # task.created, running, the deltas, completed

        done = 0
        deadline = time.monotonic() + THROUGHPUT_SECONDS

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                answer = await client.get("/api/v1/tasks", params={"limit": 20})
                answer.raise_for_status()
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(THROUGHPUT_WORKERS)))
        rps = done / (time.monotonic() - started)
        peak = max(peak, rss_mb(child.proc.pid))
    ms = sorted(d * 1000 for d in delays)
    return {
        "commit_to_sse_ms": {
            "events": len(ms),
            "p50": round(statistics.median(ms), 2),
            "p99": round(ms[int(len(ms) * 0.99) - 1], 2),
            "goal_p99": 50,
        },
        "fanout": {
            "clients": CLIENTS,
            "events_each": expected,
            "clients_with_every_event": sum(1 for c in counts if c == expected),
        },
        "task_list_rps": round(rps, 1),
        "rss_mb": {"idle": round(idle, 1), "under_load": round(peak, 1), "goal_idle": 150},
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        asyncio.run(serve(Path(sys.argv[2])))
        return
    with tempfile.TemporaryDirectory() as directory:
        os.environ["ERRAND_HOME"] = directory
        child = Child(Path(directory))
        try:
            figures = asyncio.run(measure(child))
        finally:
            child.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
