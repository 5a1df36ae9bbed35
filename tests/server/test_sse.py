"""Live streams: exact resume after a dropped connection, heartbeats, ends, revocation."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from errand.access import create_token
from errand.server.sse import StreamSettings, TaskListWatcher
from errand.store import TaskRecord, TaskStatus
from errand.store.access_store import AccessStore
from errand.tasks import TaskSpec
from server.gateway_harness import (
    LiveGateway,
    SseEvent,
    live_gateway,
    read_some,
    read_sse,
    running_task,
)


@pytest.fixture
async def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveGateway]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    async for running in live_gateway(tmp_path, start_runner=False):
        yield running


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    before=st.integers(0, 15),
    during=st.integers(0, 10),
    drops=st.lists(st.integers(1, 6), max_size=5),
)
async def test_reconnecting_with_the_last_id_seen_gives_the_log_without_gap_or_repeat(
    live: LiveGateway, before: int, during: int, drops: list[int]
) -> None:
    task_id = await running_task(live, before)

    async def writer() -> None:
        for n in range(during):
            await live.store.append_event(task_id, "message.delta", {"text": f"live {n}"})
            await asyncio.sleep(0.005)
        await live.store.set_task_status(task_id, TaskStatus.COMPLETED)

    writing = asyncio.ensure_future(writer())
    view: list[SseEvent] = []
    async with live.client() as client:
        for attempt in range(len(drops) + 50):
            count = drops[attempt] if attempt < len(drops) else None
            last = view[-1].id if view else None
            got, ended = await asyncio.wait_for(read_some(client, task_id, last, count), 10)
            view.extend(got)
            if ended:
                break
    await writing
    logged = await live.store.events(task_id)
    assert [int(e.id or 0) for e in view] == [e.seq for e in logged]
    assert [e.event for e in view] == [e.type for e in logged]
    assert [json.loads(e.data)["payload"] for e in view] == [e.payload for e in logged]


async def test_an_idle_stream_sends_keepalives_and_ends_with_the_task(live: LiveGateway) -> None:
    task_id = await running_task(live, 0)
    comments: list[str] = []
    events: list[SseEvent] = []
    async with (
        live.client() as client,
        client.stream("GET", f"/api/v1/tasks/{task_id}/events?after=2") as response,
    ):
        async for item in read_sse(response):
            if isinstance(item, str):
                comments.append(item)
                if len(comments) == 2:
                    await live.store.set_task_status(task_id, TaskStatus.COMPLETED)
            else:
                events.append(item)
    # A slow machine may send one more keepalive before the status reaches the stream.
    assert len(comments) >= 2 and set(comments) == {": keepalive"}
    assert [e.event for e in events] == ["task.status"]


async def test_a_finished_task_seen_to_its_end_closes_at_once(live: LiveGateway) -> None:
    task_id = await running_task(live, 1)
    await live.store.set_task_status(task_id, TaskStatus.COMPLETED)
    last = (await live.store.get_task(task_id)).last_seq
    async with live.client() as client:
        got, ended = await asyncio.wait_for(read_some(client, task_id, str(last), None), 2)
    assert got == [] and ended


async def test_revoking_the_token_closes_its_open_stream_within_a_second(
    live: LiveGateway,
) -> None:
    issued = await create_token(live.store, "short-lived")
    task_id = await running_task(live, 1)
    async with (
        live.client(issued.token) as client,
        client.stream("GET", f"/api/v1/tasks/{task_id}/events") as response,
    ):
        assert response.status_code == 200
        got: list[str | None] = []
        items = read_sse(response)
        async for item in items:  # the stream is open and authorised: it has sent the log
            if isinstance(item, SseEvent):
                got.append(item.event)
                if len(got) == 3:
                    break
        await AccessStore(live.store).revoke_token(issued.record.id, now=datetime.now(UTC))
        loop = asyncio.get_running_loop()
        revoked_at = loop.time()
        async with asyncio.timeout(3):
            async for item in items:
                if isinstance(item, SseEvent):
                    got.append(item.event)
        # Streams re-check their credential every second; the margin is for a loaded machine.
        assert loop.time() - revoked_at < 2.5
        assert got == ["task.created", "task.status", "message.delta"]
        refused = await client.get(f"/api/v1/tasks/{task_id}")
        assert refused.status_code == 401


async def test_the_task_list_stream_starts_with_the_tasks_and_sends_changes(
    live: LiveGateway,
) -> None:
    first = await live.store.create_task("first", spec=TaskSpec(model="script:unused"))
    seen: list[tuple[str | None, dict[str, object]]] = []
    async with (
        live.client() as client,
        client.stream("GET", "/api/v1/events") as response,
    ):
        async for item in read_sse(response):
            if not isinstance(item, SseEvent):
                continue
            seen.append((item.event, json.loads(item.data)))
            if item.event == "listed":
                await live.store.set_task_status(first.id, TaskStatus.RUNNING)
            if len(seen) == 3:
                break
    # The tasks as they are, the mark that the list is complete, then the news.
    assert [(event, data.get("id"), data.get("status")) for event, data in seen] == [
        ("task", first.id, "queued"),
        ("listed", None, None),
        ("task", first.id, "running"),
    ]
    assert seen[1][1] == {"tasks": 1}


class _Row(BaseModel):
    id: str
    status: str


async def _rows(tasks: Sequence[TaskRecord]) -> list[_Row]:
    return [_Row(id=t.id, status=t.status.value) for t in tasks]


LISTED = b"event: listed\n"


def _row(chunk: bytes) -> tuple[str, str]:
    assert chunk.startswith(b"event: task\n"), chunk
    data = chunk.decode().split("data: ", 1)[1].strip()
    row = _Row.model_validate_json(data)
    return row.id, row.status


async def test_a_change_made_while_a_second_list_stream_opens_reaches_it(
    live: LiveGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A phone opening the task list while another already watches it: a status change
    # committed just after its first read must still reach it (it once missed it for good).
    store = live.store
    task = await store.create_task("opens", spec=TaskSpec(model="script:unused"))
    settings = StreamSettings(
        heartbeat_seconds=600, recheck_seconds=0.05, task_list_poll_seconds=0.05
    )
    watcher = TaskListWatcher(store=store, view=_rows, settings=settings)
    closing = asyncio.Event()

    async def allowed() -> bool:
        return True

    first = watcher.stream(still_allowed=allowed, closing=closing)
    second = watcher.stream(still_allowed=allowed, closing=closing)
    first_saw: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def follow_first() -> None:
        async for chunk in first:
            if not chunk.startswith(LISTED):
                await first_saw.put(_row(chunk))

    read = store.list_tasks
    armed = [True]

    async def read_then_change(**kwargs: Any) -> list[TaskRecord]:
        tasks = await read(**kwargs)
        if asyncio.current_task() is not watcher._poller and armed.pop():
            # The second stream's first read: the change lands just after it.
            await store.set_task_status(task.id, TaskStatus.RUNNING)
            # The poller may tell the first stream now; this waits until it has.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    while (await first_saw.get())[1] != "running":
                        pass
        return tasks

    assert _row(await anext(first)) == (task.id, "queued")
    assert (await anext(first)).startswith(LISTED)
    following = asyncio.ensure_future(follow_first())
    try:
        monkeypatch.setattr(store, "list_tasks", read_then_change)
        assert _row(await anext(second)) == (task.id, "queued")
        assert (await anext(second)).startswith(LISTED)
        assert _row(await asyncio.wait_for(anext(second), 10)) == (task.id, "running")
    finally:
        closing.set()
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        await first.aclose()
        await second.aclose()
        await watcher.aclose()


async def test_a_stream_needs_a_token_and_a_known_task(live: LiveGateway) -> None:
    async with httpx.AsyncClient(base_url=live.url, trust_env=False, timeout=30) as anonymous:
        answer = await anonymous.get("/api/v1/events")
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthorized"
    async with live.client() as client:
        missing = await client.get("/api/v1/tasks/nosuchtask/events")
        assert missing.status_code == 404
        bad_id = await client.get("/api/v1/tasks/nosuchtask/events", headers={"Last-Event-ID": "x"})
        assert bad_id.status_code == 400
