"""Automation under load: prints one JSON object of figures.

- ``schedules``: 1,000 schedules fall due at once (injected clock); the scheduler advances
  each (an occurrence row per schedule) and starts each run as a queued task through intake.
  Reports the wall time, runs per second, and that every schedule ran exactly once.
- ``deliveries``: 1,000 webhook deliveries pending in the outbox are sent, signed, to a
  receiver on loopback (answering 200 at once). Reports wall time and deliveries per second.
- ``task_latency_ms``: meanwhile a concurrent task appends an event every 20 ms, as the agent
  loop does after each model call; its append latency (p50, p99, max) idle and under each load
  shows whether automation starves tasks.

Goal: a task's p99 append latency under either load stays below 250 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from errand.automation import Deliverer, Intake, Scheduler, Schedules, Webhooks
from errand.intake import IntakeSettings
from errand.server.sse import StreamSettings, task_events
from errand.store import AutomationStore, NewSchedule, RunState, Store, TaskStatus, open_store
from errand.tasks import TaskSpec

COUNT = int(os.environ.get("ERRAND_BENCH_COUNT", "1000"))
IDLE_S = 3.0
PROBE_EVERY_S = 0.02


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def _figures(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples) or [0.0]
    return {
        "p50": round(statistics.median(ordered), 2),
        "p99": round(ordered[max(0, int(len(ordered) * 0.99) - 1)], 2),
        "max": round(ordered[-1], 2),
        "samples": len(samples),
    }


async def _allowed() -> bool:
    return True


@dataclass
class Probe:
    """A stand-in for a running task and a phone watching it.

    The task appends an event every 20 ms, as the agent loop does after each model call; a
    reader follows the task's log through the gateway's own SSE stream code. Recorded: each
    append's latency, each event's latency from the start of its append to its SSE message
    (what the phone waits for), and the event loop's lag (how late a 5 ms sleep wakes).
    """

    store: Store
    task_id: str
    appends: list[float] = field(default_factory=list)
    to_stream: list[float] = field(default_factory=list)
    loop_lag: list[float] = field(default_factory=list)
    started: dict[int, float] = field(default_factory=dict)

    async def run(self, stop: asyncio.Event) -> None:
        after = (await self.store.get_task(self.task_id)).last_seq
        parts = [self._append(stop), self._watch(stop, after), self._lag(stop)]
        await asyncio.gather(*parts)

    async def _append(self, stop: asyncio.Event) -> None:
        number = 0
        while not stop.is_set():
            number += 1
            started = time.perf_counter()
            self.started[number] = started
            await self.store.append_event(self.task_id, "message.delta", {"n": number})
            self.appends.append((time.perf_counter() - started) * 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PROBE_EVERY_S)

    async def _watch(self, stop: asyncio.Event, after: int) -> None:
        stream = task_events(
            self.store,
            self.task_id,
            after=after,
            still_allowed=_allowed,
            closing=stop,
            settings=StreamSettings(),
        )
        async for chunk in stream:
            seen = time.perf_counter()
            for line in chunk.decode().splitlines():
                if line.startswith("data: "):
                    number = json.loads(line[6:])["payload"]["n"]
                    self.to_stream.append((seen - self.started[number]) * 1000)

    async def _lag(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            self.loop_lag.append((time.perf_counter() - started) * 1000 - 5)

    def figures(self) -> dict[str, dict[str, float]]:
        return {
            "append": _figures(self.appends),
            "commit_to_sse": _figures(self.to_stream),
            "loop_lag": _figures(self.loop_lag),
        }


async def measured(
    store: Store, task_id: str, work: asyncio.Future[float] | None
) -> tuple[float, dict[str, dict[str, float]]]:
    probe = Probe(store, task_id)
    stop = asyncio.Event()
    running = asyncio.ensure_future(probe.run(stop))
    try:
        if work is None:
            await asyncio.sleep(IDLE_S)
            elapsed = IDLE_S
        else:
            elapsed = await work
    finally:
        # Let the stream deliver what was appended before it stops.
        await asyncio.sleep(0.2)
        stop.set()
        await running
    return elapsed, probe.figures()


async def due_schedules(store: Store, clock: Clock) -> float:
    intake = Intake(
        store,
        config=IntakeSettings(default_model="script:/nonexistent", allow_scripted_models=True),
    )
    scheduler = Scheduler(store, intake, clock=clock)
    clock.now += timedelta(hours=1, seconds=1)
    started = time.perf_counter()
    while True:
        report = await scheduler.tick()
        if not report.advanced and not report.started:
            break
    return time.perf_counter() - started


async def pending_deliveries(store: Store, clock: Clock) -> float:
    deliverer = Deliverer(store, clock=clock)
    started = time.perf_counter()
    try:
        while await deliverer.deliver_due():
            pass
    finally:
        await deliverer.aclose()
    return time.perf_counter() - started


async def receiver() -> tuple[asyncio.Server, int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.decode("latin-1").split("\r\n"):
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ERRAND_HOME"] = str(Path(tmp) / "home")
        store = await open_store(f"sqlite+aiosqlite:///{tmp}/errand.db")
        clock = Clock(datetime(2026, 12, 1, 7, 0, tzinfo=UTC))
        try:
            probe_task = await store.create_task("a running task", spec=TaskSpec(model="script:x"))
            await store.set_task_status(probe_task.id, TaskStatus.RUNNING)
            automation = AutomationStore(store)
            for n in range(COUNT):
                await automation.add_schedule(
                    NewSchedule(
                        name=f"s{n:04}",
                        prompt=f"errand {n}",
                        timing_kind="every",
                        timing="3600",
                        tz="UTC",
                        request={},
                        missed="run-once",
                        max_runs=None,
                        notify=False,
                        token_budget=None,
                        next_at=clock.now + timedelta(hours=1),
                    ),
                    now=clock.now,
                )
            _, idle = await measured(store, probe_task.id, None)
            sched_s, under_schedules = await measured(
                store, probe_task.id, asyncio.ensure_future(due_schedules(store, clock))
            )
            started = await automation.runs_in_state(RunState.STARTED, limit=COUNT)
            ran_once = len(started) == COUNT and len({r.schedule_id for r in started}) == COUNT
            await Schedules(store, clock=clock).list_all()

            server, port = await receiver()
            async with server:
                added = await Webhooks(store, clock=clock).add(
                    f"http://127.0.0.1:{port}/hook", ["task.completed"], allow_private=True
                )
                queued = [t for t in await store.list_tasks(status=TaskStatus.QUEUED, limit=COUNT)]
                for task in queued:
                    await store.set_task_status(task.id, TaskStatus.RUNNING)
                    await store.set_task_status(task.id, TaskStatus.COMPLETED)
                deliver_s, under_deliveries = await measured(
                    store, probe_task.id, asyncio.ensure_future(pending_deliveries(store, clock))
                )
                sent = await automation.deliveries_of(added.record.id, limit=COUNT)
        finally:
            await store.aclose()
    figures = {
        "schedules": {
            "due": COUNT,
            "seconds": round(sched_s, 2),
            "runs_per_second": round(COUNT / sched_s, 1),
            "each_ran_once": ran_once,
        },
        "deliveries": {
            "pending": len(queued),
            "seconds": round(deliver_s, 2),
            "per_second": round(len(queued) / deliver_s, 1),
            "delivered": sum(1 for d, _ in sent if d.state.value == "delivered"),
        },
        "task_latency_ms": {
            "idle": idle,
            "during_schedules": under_schedules,
            "during_deliveries": under_deliveries,
        },
        "goals": {"task_p99_ms_under_load": 250},
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
