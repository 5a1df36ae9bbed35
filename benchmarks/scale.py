"""How Errand grows past one process, printed as one JSON object.

* ``api``: ``POST /api/v1/tasks`` and ``GET /api/v1/tasks?limit=20`` at 8 concurrent clients,
  p50/p99 in ms and requests per second, on SQLite (``errand serve``, each task running in
  it: a scripted answer, no command, so the API rather than the sandbox is measured) and on
  PostgreSQL (``errand serve --no-runner``; tasks stay queued). Goals on SQLite: POST p99 <=
  50 ms, GET >= 300 requests/s. ``gateway_cpu_ms`` is the gateway's CPU time per request:
  with eight in flight its one core is the limit, so it sets the rate. On this machine the
  same request's CPU varies by up to a factor of two from run to run, as does the CPU time
  of a fixed loop of plain Python: run it more than once.
* ``commit_to_sse_ms``: an event appended by another process (its own store) until a client
  streaming the task from the gateway receives it, p50/p99 (goal: p99 <= 50 ms), on
  PostgreSQL (a worker's events) and on SQLite (an ``errand run`` beside ``errand serve``).
* ``workers``: gateway + 1, 2 and 4 ``errand worker`` processes (concurrency 2 each) on
  PostgreSQL running 40 tasks of the scripted model (one sandboxed ``true``, then an answer):
  tasks completed per second.

Everything runs on this machine: a throwaway PostgreSQL server (tests/pg.py, durable
commits) and the real ``errand`` commands as child processes.

    .venv/bin/python benchmarks/scale.py
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pg import PostgresServer, start_postgres

ERRAND = [sys.executable, "-m", "errand"]
CLIENTS = 8
SECONDS = 4.0
SSE_EVENTS = 300
WORKER_TASKS = 40

WRITER = """
import asyncio, json, sys, time
from errand.store import TaskStatus, open_store

async def main(url, task_id, count):
    store = await open_store(url)
    committed = {}
    try:
        sys.stdin.readline()
        for _ in range(count):
            event = await store.append_event(task_id, "message.delta", {"text": "x"})
            committed[event.seq] = time.time()
            await asyncio.sleep(0.005)
        # Ended, so that the measurements after this one find no task still running.
        await store.set_task_status(task_id, TaskStatus.COMPLETED)
    finally:
        await store.aclose()
    print(json.dumps(committed), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p99": round(ordered[max(0, int(len(ordered) * 0.99) - 1)], 2),
    }


@contextmanager
def child(argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def wait_for_line(proc: subprocess.Popen[str], pattern: str) -> re.Match[str]:
    """The first line ``proc`` prints that matches; from then on its output is drained.

    A child writing to a pipe nobody reads stops once the pipe is full: the gateway logs each
    request, so an unread pipe would stall it in the middle of the measurement.
    """
    assert proc.stdout is not None
    seen = ""
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{pattern!r} never printed: {seen}")
        seen += line
        found = re.search(pattern, line)
        if found:
            threading.Thread(target=deque, args=(proc.stdout, 0), daemon=True).start()
            return found


def make_env(home: Path, database_url: str, model: str) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "ERRAND_HOME": str(home),
        "ERRAND_DATABASE_URL": database_url,
        "ERRAND_MODEL": model,
        "COLUMNS": "200",
    }


def new_token(env: dict[str, str]) -> str:
    done = subprocess.run(
        [*ERRAND, "tokens", "create", "--name", "benchmark"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure_api(
    url: str, token: str, gateway_pid: int, *, tasks_run: bool
) -> dict[str, object]:
    # The load comes from aiohttp: httpx spends about 10 ms of CPU per request at eight
    # requests in flight, so on two cores it measured itself rather than the gateway.
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(url, headers=headers) as session:

        async def hammer(
            method: str, *, json: object = None, params: dict[str, int] | None = None
        ) -> tuple[dict[str, float], int]:
            """``CLIENTS`` clients sending the request back to back for ``SECONDS``: its
            figures, and how many were answered."""
            latencies: list[float] = []
            deadline = time.monotonic() + SECONDS

            async def one_client() -> None:
                while time.monotonic() < deadline:
                    started = time.perf_counter()
                    async with session.request(
                        method, "/api/v1/tasks", json=json, params=params
                    ) as answer:
                        answer.raise_for_status()
                        await answer.read()
                    latencies.append((time.perf_counter() - started) * 1000)

            began, cpu = time.monotonic(), cpu_seconds(gateway_pid)
            await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
            measured = {
                **percentiles(latencies),
                "per_s": round(len(latencies) / (time.monotonic() - began), 1),
                # The gateway's CPU per request: at eight in flight its one core is the limit.
                "gateway_cpu_ms": round(
                    (cpu_seconds(gateway_pid) - cpu) * 1000 / len(latencies), 2
                ),
            }
            return measured, len(latencies)

        async def unfinished() -> bool:
            for status in ("queued", "running"):
                params = {"status": status, "limit": 1}
                async with session.get("/api/v1/tasks", params=params) as answer:
                    answer.raise_for_status()
                    if (await answer.json())["tasks"]:
                        return True
            return False

        posted, count = await hammer("POST", json={"prompt": "benchmark"})
        figures: dict[str, object] = {"post_tasks_ms": posted, "tasks_posted": count}
        if tasks_run:
            # The list is read once the posted tasks have run, so that GET is measured alone
            # rather than beside a backlog of hundreds of tasks being worked off.
            started = time.monotonic()
            for _ in range(3000):
                if not await unfinished():
                    break
                await asyncio.sleep(0.2)
            else:
                raise RuntimeError("the posted tasks did not finish within 10 minutes")
            figures["backlog_run_s"] = round(time.monotonic() - started, 1)
        listed, _ = await hammer("GET", params={"limit": 20})
    return {**figures, "get_tasks_ms": listed}


async def measure_sse(url: str, token: str, database_url: str) -> dict[str, object]:
    from errand.store import TaskStatus, open_store
    from errand.tasks import TaskSpec

    store = await open_store(database_url)
    try:
        task = await store.create_task("stream me", spec=TaskSpec(model="script:none"))
        await store.set_task_status(task.id, TaskStatus.RUNNING)
    finally:
        await store.aclose()
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WRITER,
        database_url,
        task.id,
        str(SSE_EVENTS),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    arrivals: dict[int, float] = {}
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, trust_env=False, timeout=60
    ) as client:

        async def read() -> None:
            async with client.stream("GET", f"/api/v1/tasks/{task.id}/events") as response:
                async for line in response.aiter_lines():
                    if line.startswith("id: "):
                        arrivals[int(line[4:])] = time.time()
                        if len(arrivals) == 2:  # task.created and running: the stream is live
                            live.set()
                        if len(arrivals) >= SSE_EVENTS + 2:
                            return

        live = asyncio.Event()
        reader = asyncio.ensure_future(read())
        await asyncio.wait_for(live.wait(), 60)
        assert writer.stdin is not None and writer.stdout is not None
        writer.stdin.write(b"go\n")
        await writer.stdin.drain()
        committed = json.loads(await writer.stdout.readline())
        await asyncio.wait_for(reader, 60)
    await asyncio.wait_for(writer.wait(), 30)
    delays = [(arrivals[int(seq)] - at) * 1000 for seq, at in committed.items()]
    return {"events": len(delays), **percentiles(delays), "goal_p99": 50}


async def run_tasks(url: str, token: str, model: str) -> float:
    """Submit ``WORKER_TASKS`` tasks; returns tasks completed per second."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, trust_env=False, timeout=60
    ) as client:
        started = time.monotonic()
        ids = []
        for n in range(WORKER_TASKS):
            answer = await client.post("/api/v1/tasks", json={"prompt": f"t{n}", "model": model})
            answer.raise_for_status()
            ids.append(answer.json()["id"])
        pending = set(ids)
        while pending:
            page = (await client.get("/api/v1/tasks", params={"limit": 100})).json()["tasks"]
            for task in page:
                if task["status"] in ("completed", "failed", "cancelled"):
                    if task["status"] != "completed":
                        raise RuntimeError(f"task {task['id']} {task['status']}")
                    pending.discard(task["id"])
            await asyncio.sleep(0.1)
        return WORKER_TASKS / (time.monotonic() - started)


def gateway_url(proc: subprocess.Popen[str]) -> str:
    return wait_for_line(proc, r"serving at (http://127\.0\.0\.1:\d+)").group(1)


def api_figures(
    directory: Path, name: str, database_url: str, model: str, *, sse: bool = False
) -> tuple[dict[str, object], dict[str, object] | None]:
    """The API's figures and, with ``sse``, commit to SSE first (on the still empty store)."""
    env = make_env(directory / name, database_url, model)
    token = new_token(env)
    no_runner = database_url.startswith("postgresql")
    argv = [*ERRAND, "serve", "--port", "0", *(["--no-runner"] if no_runner else [])]
    with child(argv, env) as gateway:
        url = gateway_url(gateway)
        streamed = asyncio.run(measure_sse(url, token, database_url)) if sse else None
        api = asyncio.run(measure_api(url, token, gateway.pid, tasks_run=not no_runner))
        return api, streamed


def main() -> None:
    # Other work on the machine slows every figure here; say how busy it was.
    figures: dict[str, object] = {
        "load_average_at_start": round(os.getloadavg()[0], 1),
    }
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        script = directory / "quick.json"
        script.write_text(
            json.dumps(
                {
                    "turns": [
                        {"tool_calls": [{"name": "run_shell", "arguments": {"command": "true"}}]},
                        {"text": "done"},
                    ]
                }
            ),
            encoding="utf-8",
        )
        model = f"script:{script}"
        answer_only = directory / "answer.json"
        answer_only.write_text(json.dumps({"turns": [{"text": "done"}]}), encoding="utf-8")
        server: PostgresServer = start_postgres(durable=True)
        try:
            sqlite_url = f"sqlite+aiosqlite:///{directory / 'sqlite' / 'errand.db'}"
            on_sqlite, sqlite_sse = api_figures(
                directory, "sqlite", sqlite_url, f"script:{answer_only}", sse=True
            )
            on_postgresql, _ = api_figures(
                directory, "pg-api", server.url(asyncio.run(server.create_database())), model
            )
            figures["api"] = {
                "clients": CLIENTS,
                "sqlite": on_sqlite,
                "postgresql": on_postgresql,
                "goals_sqlite": {"post_p99_ms": 50, "get_per_s": 300},
            }
            database_url = server.url(asyncio.run(server.create_database()))
            env = make_env(directory / "gateway", database_url, model)
            token = new_token(env)
            scaling: dict[str, float] = {}
            with child([*ERRAND, "serve", "--port", "0", "--no-runner"], env) as gateway:
                url = gateway_url(gateway)
                figures["commit_to_sse_ms"] = {
                    "postgresql": asyncio.run(measure_sse(url, token, database_url)),
                    "sqlite": sqlite_sse,
                }
                for count in (1, 2, 4):
                    procs = []
                    try:
                        for n in range(count):
                            worker_env = make_env(directory / f"w{n}", database_url, model)
                            procs.append(
                                subprocess.Popen(
                                    [*ERRAND, "worker", "--name", f"w{n}", "--concurrency", "2"],
                                    env=worker_env,
                                    stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT,
                                    text=True,
                                )
                            )
                        for proc in procs:
                            wait_for_line(proc, r"errand worker ")
                        scaling[str(count)] = round(asyncio.run(run_tasks(url, token, model)), 2)
                    finally:
                        for proc in procs:
                            proc.send_signal(signal.SIGTERM)
                        for proc in procs:
                            proc.wait(30)
            figures["workers"] = {
                "tasks": WORKER_TASKS,
                "concurrency_each": 2,
                "tasks_per_s": scaling,
            }
        finally:
            server.stop()
    figures["load_average_at_end"] = round(os.getloadavg()[0], 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
