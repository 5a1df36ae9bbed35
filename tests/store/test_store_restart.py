"""Durability: a closed and reopened store has everything, and two processes share one file."""

from __future__ import annotations

import asyncio
import sys

from errand.store import (
    ApprovalStatus,
    QuestionStatus,
    TaskStatus,
    UsageRecord,
    UsageTotals,
    open_store,
)
from errand.store.schema import utc_now
from errand.tasks import NetworkSpec, TaskSpec

MODEL = "openai:test-model"

# Runs in a second process: appends events to an existing task through its own store.
CHILD = """
import asyncio, sys
from errand.store import open_store

async def main(url, task_id, count):
    store = await open_store(url)
    try:
        print("ready", flush=True)
        for n in range(count):
            await store.append_event(task_id, "message.delta", {"from": "child", "n": n})
    finally:
        await store.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_everything_written_survives_closing_and_reopening(db_url: str) -> None:
    store = await open_store(db_url)
    spec = TaskSpec(model=MODEL, network=NetworkSpec(allow_domains=("a.example",)))
    task = await store.create_task("remember me", spec=spec)
    await store.set_task_status(task.id, TaskStatus.RUNNING)
    for n in range(50):
        await store.append_event(task.id, "message.delta", {"n": n})
    await store.append_messages(task.id, [{"role": "user", "content": "remember me"}])
    approval = await store.create_approval(task.id, tool_call_id="c", action={"cmd": "ls"})
    await store.decide_approval(approval.id, approve=True, decided_by="phone")
    question = await store.create_question(task.id, "which one?")
    await store.record_step(
        task.id,
        events=[],
        messages=[],
        usage=UsageRecord(task.id, MODEL, input_tokens=10, output_tokens=5, at=utc_now()),
    )
    before_task = await store.get_task(task.id)
    before_events = await store.events(task.id)
    await store.aclose()

    reopened = await open_store(db_url)
    try:
        assert await reopened.get_task(task.id) == before_task
        assert await reopened.events(task.id) == before_events
        assert await reopened.transcript(task.id) == [{"role": "user", "content": "remember me"}]
        assert (await reopened.get_approval(approval.id)).status is ApprovalStatus.APPROVED
        assert (await reopened.get_question(question.id)).status is QuestionStatus.PENDING
        assert await reopened.usage_totals(task.id) == UsageTotals(1, 10, 5)
        following = await reopened.append_event(task.id, "message", {"text": "after restart"})
        assert following.seq == before_task.last_seq + 1 == before_events[-1].seq + 1
    finally:
        await reopened.aclose()


async def test_a_second_process_appending_to_the_same_file_keeps_numbering_gapless(
    db_url: str,
) -> None:
    store = await open_store(db_url)
    try:
        task = await store.create_task("shared", spec=TaskSpec(model=MODEL))
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            db_url,
            task.id,
            "100",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert child.stdout is not None
        ready = await asyncio.wait_for(child.stdout.readline(), timeout=30)
        assert ready.strip() == b"ready"
        # The child's appends reach this process only through the database: the wait sees
        # them by re-reading at the poll interval.
        seen = await store.wait_for_events(task.id, after_seq=1, timeout=20, poll_interval=0.05)
        for n in range(100):
            await store.append_event(task.id, "message.delta", {"from": "parent", "n": n})
        _, stderr = await asyncio.wait_for(child.communicate(), timeout=60)
        assert child.returncode == 0, stderr.decode()

        log = await store.events(task.id)
        assert seen and seen[0].seq == 2
        assert [event.seq for event in log] == list(range(1, 202))
        for origin in ("child", "parent"):
            numbers = [e.payload["n"] for e in log if e.payload.get("from") == origin]
            assert numbers == list(range(100))
    finally:
        await store.aclose()
