"""A real ``errand serve`` killed with SIGKILL while webhook deliveries are in flight: after a
restart every delivery arrives (verified by standardwebhooks), none is lost, and a repeat
carries the same ``webhook-id`` so the receiver can drop it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import IO

from automation.receiver import Receiver, running
from errand.automation import Webhooks
from errand.store import AutomationStore, DeliveryState, TaskStatus, open_store
from errand.tasks import TaskSpec

ERRAND = [sys.executable, "-m", "errand"]
TASKS = 20


async def _serve(env: dict[str, str], log: IO[str]) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        *ERRAND,
        "serve",
        "--port",
        "0",
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
    )
    assert proc.stdout is not None
    async with asyncio.timeout(60):
        seen = ""
        while not re.search(r"serving at http://127\.0\.0\.1:\d+", seen):
            line = await proc.stdout.readline()
            assert line, "errand serve ended early; see serve.log"
            seen += line.decode()
    return proc


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
        try:
            async with asyncio.timeout(30):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def test_deliveries_pending_at_a_kill_are_sent_after_the_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    db = f"sqlite+aiosqlite:///{home / 'errand.db'}"
    env = {**os.environ, "ERRAND_HOME": str(home), "ERRAND_MODEL": "script:/nonexistent"}
    env.pop("ERRAND_DATABASE_URL", None)
    hold = asyncio.Event()
    with (tmp_path / "serve.log").open("w", encoding="utf-8") as log:
        await _run(db, env, log, hold)


async def _run(db: str, env: dict[str, str], log: IO[str], hold: asyncio.Event) -> None:
    async with running(Receiver(hold=hold)) as receiver:
        store = await open_store(db)
        try:
            added = await Webhooks(store).add(receiver.url, ["task.completed"], allow_private=True)
            receiver.secret = added.secret
            for n in range(TASKS):
                task = await store.create_task(f"errand {n}", spec=TaskSpec(model="script:x"))
                await store.set_task_status(task.id, TaskStatus.RUNNING)
                await store.set_task_status(task.id, TaskStatus.COMPLETED)
        finally:
            await store.aclose()

        first = await _serve(env, log)
        try:
            await receiver.wait_for(1, timeout=60)  # sending has begun, answers held
            first.kill()  # SIGKILL: nothing is recorded about what was in flight
            await first.wait()
        finally:
            if first.returncode is None:
                first.kill()
                await first.wait()
        in_flight = {r.headers["webhook-id"] for r in receiver.received}
        assert in_flight and all(r.verified for r in receiver.received)

        hold.set()
        second = await _serve(env, log)
        try:
            async with asyncio.timeout(60):
                while len(receiver.unique_ids()) < TASKS:
                    receiver.arrived.clear()
                    await receiver.arrived.wait()
            store = await open_store(db)
            try:
                async with asyncio.timeout(30):
                    while True:
                        found = await AutomationStore(store).deliveries_of(added.record.id)
                        if all(d.state is DeliveryState.DELIVERED for d, _ in found):
                            break
                        await asyncio.sleep(0.05)
            finally:
                await store.aclose()
        finally:
            await _stop(second)
    assert len(found) == TASKS
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert set(ids) == {d.id for d, _ in found}
    repeated = {i for i in ids if ids.count(i) > 1}
    assert repeated <= in_flight  # only what was in flight at the kill came twice
