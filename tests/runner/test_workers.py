"""A gateway and two ``errand worker`` processes sharing a real PostgreSQL server.

Forty tasks spread over both workers; an approval decided through the gateway, a cancel and
a follow-up each reach the task on a worker process; a worker killed -9 mid-task loses it
(marked interrupted within its lease) and the other worker resumes it; every task's stream
from the gateway is its exact log, whichever process wrote it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from errand.access import add_folder, create_token
from errand.store import JsonValue, Store, open_store

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")

ERRAND = [sys.executable, "-m", "errand"]
# Short, so a killed worker is noticed soon; long enough that a busy machine's pauses do not
# cost a live worker its lease.
LEASE_SECONDS = 5.0
TASKS = 40


def script(path: Path, *turns: Mapping[str, object]) -> str:
    path.write_text(json.dumps({"turns": list(turns)}), encoding="utf-8")
    return f"script:{path}"


def shell(command: str) -> dict[str, object]:
    return {"tool_calls": [{"name": "run_shell", "arguments": {"command": command}}]}


DONE: Mapping[str, object] = {"text": "done"}


@dataclass
class Process:
    proc: subprocess.Popen[str]
    log: Path
    lines: list[str] = field(default_factory=list)

    def read_until(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        stream = self.proc.stdout
        assert stream is not None
        while time.monotonic() < deadline:
            line = stream.readline()
            if not line:
                break
            self.lines.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"{pattern!r} never printed; got:\n{''.join(self.lines)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@contextmanager
def started(argv: list[str], env: dict[str, str], log: Path) -> Iterator[Process]:
    """A child whose stdout and stderr are read together (line by line) by the test."""
    proc = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    process = Process(proc, log)
    try:
        yield process
    finally:
        process.stop()
        if proc.stdout is not None:
            proc.stdout.close()


class Api:
    """The gateway's API as a phone uses it, and each task's stream as it arrives."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.streams: dict[str, list[tuple[int, str, dict[str, JsonValue]]]] = {}
        self._readers: list[asyncio.Task[None]] = []

    async def create(self, prompt: str, model: str, folder: str | None = None) -> str:
        body: dict[str, object] = {"prompt": prompt, "model": model}
        if folder is not None:
            body["folders"] = [{"name": folder, "mode": "ro"}]
        answer = await self.client.post("/api/v1/tasks", json=body)
        assert answer.status_code == 201, answer.text
        task_id: str = answer.json()["id"]
        self.streams[task_id] = []
        self._readers.append(asyncio.ensure_future(self._read(task_id)))
        return task_id

    async def _read(self, task_id: str) -> None:
        """Read the task's stream, reconnecting with Last-Event-ID, until its final status."""
        received = self.streams[task_id]
        while True:
            headers = {"Last-Event-ID": str(received[-1][0])} if received else {}
            async with self.client.stream(
                "GET", f"/api/v1/tasks/{task_id}/events", headers=headers, timeout=None
            ) as response:
                event_id = None
                async for line in response.aiter_lines():
                    if line.startswith("id: "):
                        event_id = int(line[4:])
                    elif line.startswith("data: ") and event_id is not None:
                        data = json.loads(line[6:])
                        received.append((event_id, data["type"], data["payload"]))
                        event_id = None
            if received and received[-1][1] == "task.status":
                status = received[-1][2]["status"]
                if status in ("completed", "failed", "cancelled"):
                    return

    async def event(self, task_id: str, kind: str, timeout: float = 60) -> dict[str, JsonValue]:
        """The first streamed event of ``kind`` (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _, seen_kind, payload in self.streams[task_id]:
                if seen_kind == kind:
                    return payload
            await asyncio.sleep(0.05)
        raise AssertionError(f"{task_id} never streamed {kind}: {self.streams[task_id]}")

    async def status(self, task_id: str, status: str, timeout: float = 60) -> float:
        """Wait until the stream shows ``status``; returns when (monotonic)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(
                kind == "task.status" and payload["status"] == status
                for _, kind, payload in self.streams[task_id]
            ):
                return time.monotonic()
            await asyncio.sleep(0.05)
        raise AssertionError(f"{task_id} never became {status}: {self.streams[task_id]}")

    async def aclose(self) -> None:
        for reader in self._readers:
            reader.cancel()
        for reader in self._readers:
            with suppress(asyncio.CancelledError):
                await reader


@asynccontextmanager
async def api_for(url: str, token: str) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": f"Bearer {token}"},
        trust_env=False,
        timeout=30,
        limits=httpx.Limits(max_connections=200),
    ) as client:
        api = Api(client)
        try:
            yield api
        finally:
            await api.aclose()


async def workers_of(store: Store, task_ids: list[str]) -> dict[str, str]:
    """Which worker name first claimed each task (from its log)."""
    found: dict[str, str] = {}
    for task_id in task_ids:
        for event in await store.events(task_id):
            worker = event.payload.get("worker")
            if event.type == "task.status" and isinstance(worker, str):
                found[task_id] = worker.split("/")[0]
                break
    return found


async def test_a_gateway_and_two_workers_share_the_work_and_every_request(
    tmp_path: Path, database_url: str
) -> None:
    quick = script(tmp_path / "quick.json", DONE)
    asks = script(
        tmp_path / "asks.json",
        {"tool_calls": [{"name": "fetch_url", "arguments": {"url": "http://example.invalid/"}}]},
        DONE,
    )
    sleepy = script(tmp_path / "sleepy.json", shell("sleep 30"), DONE)
    talky = script(tmp_path / "talky.json", shell("sleep 4"), DONE)
    # The server trusts local connections: the password is only there to be never shown.
    with_password = database_url.replace("//errand@", "//errand:pw-never-shown@")
    base_env = {
        **os.environ,
        "ERRAND_DATABASE_URL": with_password,
        "ERRAND_MODEL": quick,
        "ERRAND_LEASE_SECONDS": str(LEASE_SECONDS),
        "COLUMNS": "200",
    }
    homes = {name: tmp_path / name for name in ("gateway", "w1", "w2")}
    for name, home in homes.items():
        home.mkdir()
        if name != "gateway":  # each worker host has its own errand.toml
            (home / "errand.toml").write_text(
                '[approvals]\ntools = {fetch_url = "ask"}\n', encoding="utf-8"
            )
    store = await open_store(database_url)
    token = (await create_token(store, "workers test")).token
    for name in ("w1", "w2"):  # each worker's own folder (on its host, here the same one)
        (tmp_path / f"{name} files").mkdir()
        await add_folder(store, tmp_path / f"{name} files", worker=name)
    try:
        with (
            started(
                [*ERRAND, "serve", "--no-runner", "--port", "0"],
                {**base_env, "ERRAND_HOME": str(homes["gateway"])},
                tmp_path / "gateway.log",
            ) as gateway,
            started(
                [*ERRAND, "worker", "--name", "w1", "--concurrency", "4"],
                {**base_env, "ERRAND_HOME": str(homes["w1"])},
                tmp_path / "w1.log",
            ) as w1,
            started(
                [*ERRAND, "worker", "--name", "w2", "--concurrency", "4"],
                {**base_env, "ERRAND_HOME": str(homes["w2"])},
                tmp_path / "w2.log",
            ) as w2,
        ):
            gateway.read_until(r"tasks are stored in postgresql\+asyncpg://errand:\*\*\*@")
            url = gateway.read_until(r"serving at (http://127\.0\.0\.1:\d+)").group(1)
            for worker in (w1, w2):
                worker.read_until(
                    r"errand worker w\d/\w+: running up to 4 tasks from "
                    r"postgresql\+asyncpg://errand:\*\*\*@"
                )
            workers = {"w1": w1, "w2": w2}
            async with api_for(url, token) as api:
                # Both are listed while idle; the gateway runs nothing, so it is not.
                listed = (await api.client.get("/api/v1/workers")).json()["workers"]
                assert [(w["name"], w["alive"], w["running"]) for w in listed] == [
                    ("w1", True, 0),
                    ("w2", True, 0),
                ]
                # Forty tasks, spread over both workers.
                many = [await api.create(f"task {n}", quick) for n in range(TASKS)]
                for task_id in many:
                    await api.status(task_id, "completed")
                ran_on = await workers_of(store, many)
                assert set(ran_on.values()) == {"w1", "w2"}, ran_on

                # A task using a worker's folder runs on that worker.
                placed = {
                    name: await api.create("look", quick, f"{name} files") for name in ("w1", "w2")
                }
                for task_id in placed.values():
                    await api.status(task_id, "completed")
                ran_on = await workers_of(store, list(placed.values()))
                assert ran_on == {task_id: name for name, task_id in placed.items()}

                # An approval decided through the gateway reaches the worker.
                asking = await api.create("write something", asks)
                requested = await api.event(asking, "approval.requested")
                decided = await api.client.post(
                    f"/api/v1/approvals/{requested['approval_id']}",
                    json={"approve": True, "digest": requested["digest"]},
                )
                assert decided.status_code == 200, decided.text
                await api.status(asking, "completed")

                # A follow-up reaches the running task on its worker before its next turn.
                talking = await api.create("talk", talky)
                await api.event(talking, "tool.call")
                followed = await api.client.post(
                    f"/api/v1/tasks/{talking}/messages", json={"text": "and one more thing"}
                )
                assert followed.status_code == 202, followed.text
                await api.status(talking, "completed")
                kinds = [(kind, payload) for _, kind, payload in api.streams[talking]]
                assert ("message.user", {"text": "and one more thing"}) in kinds
                statuses = [p["status"] for k, p in kinds if k == "task.status"]
                assert statuses == ["running", "completed"]  # delivered live, not reopened

                # A cancel reaches the running task on its worker at once.
                cancelling = await api.create("sleep long", sleepy)
                await api.event(cancelling, "tool.call")
                asked = time.monotonic()
                cancelled = await api.client.post(f"/api/v1/tasks/{cancelling}/cancel")
                assert cancelled.status_code == 202, cancelled.text
                assert await api.status(cancelling, "cancelled", timeout=20) - asked < 15

                # A worker killed -9 mid-task: its task is interrupted within the lease and
                # the other worker resumes it (from its transcript: the script's next turn).
                doomed = await api.create("sleep through a crash", sleepy)
                await api.event(doomed, "tool.call")
                holder = (await store.get_task(doomed)).lease_owner
                assert holder is not None
                victim_name = holder.split("/")[0]
                survivor_name = "w2" if victim_name == "w1" else "w1"
                workers[victim_name].proc.kill()
                killed = time.monotonic()
                interrupted_at = await api.status(doomed, "interrupted", timeout=40)
                assert interrupted_at - killed <= LEASE_SECONDS * 2 + 5
                # Its heartbeat stopped with its leases: it is listed, no longer alive.
                listed = (await api.client.get("/api/v1/workers")).json()["workers"]
                alive = {worker["name"]: worker["alive"] for worker in listed}
                assert alive == {victim_name: False, survivor_name: True}
                resumed = await api.client.post(f"/api/v1/tasks/{doomed}/resume")
                assert resumed.status_code == 202, resumed.text
                await api.status(doomed, "completed")
                changes = [data for _, kind, data in api.streams[doomed] if kind == "task.status"]
                assert [change["status"] for change in changes] == [
                    "running",
                    "interrupted",
                    "queued",
                    "running",
                    "completed",
                ]
                assert str(changes[0]["worker"]).startswith(victim_name)
                assert str(changes[3]["worker"]).startswith(survivor_name)

                # Every stream is exactly its task's log, whichever process wrote it.
                for task_id, received in api.streams.items():
                    log = [(e.seq, e.type, e.payload) for e in await store.events(task_id)]
                    assert received == log[: len(received)], task_id
                    assert [seq for seq, _, _ in received] == list(range(1, len(received) + 1))
                for task_id in [*many, asking, talking, cancelling, doomed]:
                    assert len(api.streams[task_id]) == len(await store.events(task_id))
            for process in (gateway, w1, w2):
                assert not any("pw-never-shown" in line for line in process.lines)
    finally:
        await store.aclose()
