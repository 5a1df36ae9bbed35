"""Approvals: the first decision wins, decisions bind to the action shown, deadlines hold."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from errand.store import (
    AlreadyDecided,
    ApprovalExpired,
    ApprovalNotFound,
    ApprovalStatus,
    DigestMismatch,
    InvalidPayload,
    Store,
    TaskNotFound,
    TaskStatus,
)
from errand.tasks import TaskSpec

MODEL = "script:turns.json"
ACTION = {"tool": "shell", "command": ["rm", "-r", "build"], "cwd": "/sessions/s/mnt/proj"}


async def test_requesting_an_approval_stores_it_pending_and_logs_it(store: Store) -> None:
    task = await store.create_task("needs approval", spec=TaskSpec(model=MODEL))
    approval = await store.create_approval(task.id, tool_call_id="call_1", action=ACTION)
    assert approval.status is ApprovalStatus.PENDING
    assert approval.action == ACTION
    assert len(approval.digest) == 64
    assert await store.get_approval(approval.id) == approval
    requested = (await store.events(task.id))[-1]
    assert requested.type == "approval.requested"
    assert requested.payload["approval_id"] == approval.id
    assert requested.payload["digest"] == approval.digest


async def test_the_digest_ignores_key_order(store: Store) -> None:
    task = await store.create_task("digest", spec=TaskSpec(model=MODEL))
    one = await store.create_approval(task.id, tool_call_id="a", action={"x": 1, "y": [2]})
    two = await store.create_approval(task.id, tool_call_id="b", action={"y": [2], "x": 1})
    three = await store.create_approval(task.id, tool_call_id="c", action={"y": [2], "x": 2})
    assert one.digest == two.digest != three.digest


async def test_concurrent_decisions_exactly_one_wins(store: Store) -> None:
    task = await store.create_task("race", spec=TaskSpec(model=MODEL))
    approval = await store.create_approval(task.id, tool_call_id="call_1", action=ACTION)

    async def decide(n: int) -> str:
        try:
            await store.decide_approval(approval.id, approve=n % 2 == 0, decided_by=f"device-{n}")
        except AlreadyDecided:
            return "late"
        return f"device-{n}"

    outcomes = await asyncio.gather(*(decide(n) for n in range(20)))
    winners = [outcome for outcome in outcomes if outcome != "late"]
    assert len(winners) == 1
    stored = await store.get_approval(approval.id)
    assert stored.decided_by == winners[0]
    expected = ApprovalStatus.APPROVED if int(winners[0][7:]) % 2 == 0 else ApprovalStatus.DENIED
    assert stored.status is expected
    decided = [e for e in await store.events(task.id) if e.type == "approval.decided"]
    assert len(decided) == 1 and decided[0].payload["decided_by"] == winners[0]


async def test_a_second_decision_is_told_it_was_already_decided(store: Store) -> None:
    task = await store.create_task("twice", spec=TaskSpec(model=MODEL))
    approval = await store.create_approval(task.id, tool_call_id="c", action=ACTION)
    await store.decide_approval(approval.id, approve=False, decided_by="phone")
    with pytest.raises(AlreadyDecided) as caught:
        await store.decide_approval(approval.id, approve=True, decided_by="cli")
    assert caught.value.status == "denied"
    assert (await store.get_approval(approval.id)).status is ApprovalStatus.DENIED


async def test_a_decision_about_a_different_action_is_refused(store: Store) -> None:
    task = await store.create_task("bound", spec=TaskSpec(model=MODEL))
    approval = await store.create_approval(task.id, tool_call_id="c", action=ACTION)
    with pytest.raises(DigestMismatch):
        await store.decide_approval(approval.id, approve=True, decided_by="phone", digest="0" * 64)
    assert (await store.get_approval(approval.id)).status is ApprovalStatus.PENDING
    decided = await store.decide_approval(
        approval.id, approve=True, decided_by="phone", digest=approval.digest
    )
    assert decided.status is ApprovalStatus.APPROVED


async def test_a_late_decision_finds_the_approval_expired(store: Store) -> None:
    task = await store.create_task("deadline", spec=TaskSpec(model=MODEL))
    past = datetime.now(UTC) - timedelta(seconds=1)
    approval = await store.create_approval(
        task.id, tool_call_id="c", action=ACTION, expires_at=past
    )
    with pytest.raises(ApprovalExpired):
        await store.decide_approval(approval.id, approve=True, decided_by="phone")
    stored = await store.get_approval(approval.id)
    assert stored.status is ApprovalStatus.EXPIRED and stored.decided_by is None
    assert (await store.events(task.id))[-1].payload["status"] == "expired"


async def test_sweeping_expires_only_overdue_approvals(store: Store) -> None:
    task = await store.create_task("sweep", spec=TaskSpec(model=MODEL))
    now = datetime.now(UTC)
    overdue = await store.create_approval(
        task.id, tool_call_id="a", action=ACTION, expires_at=now - timedelta(seconds=1)
    )
    later = await store.create_approval(
        task.id, tool_call_id="b", action=ACTION, expires_at=now + timedelta(hours=1)
    )
    forever = await store.create_approval(task.id, tool_call_id="c", action=ACTION)
    expired = await store.expire_approvals()
    assert [record.id for record in expired] == [overdue.id]
    pending = await store.list_approvals(task_id=task.id, status=ApprovalStatus.PENDING)
    assert [record.id for record in pending] == [later.id, forever.id]


async def test_finishing_a_task_expires_its_pending_approvals(store: Store) -> None:
    task = await store.create_task("ends", spec=TaskSpec(model=MODEL))
    await store.set_task_status(task.id, TaskStatus.RUNNING)
    approval = await store.create_approval(task.id, tool_call_id="c", action=ACTION)
    await store.set_task_status(task.id, TaskStatus.CANCELLED)
    assert (await store.get_approval(approval.id)).status is ApprovalStatus.EXPIRED


async def test_listing_filters_by_task_and_status(store: Store) -> None:
    first = await store.create_task("one", spec=TaskSpec(model=MODEL))
    second = await store.create_task("two", spec=TaskSpec(model=MODEL))
    a = await store.create_approval(first.id, tool_call_id="a", action=ACTION)
    b = await store.create_approval(second.id, tool_call_id="b", action=ACTION)
    await store.decide_approval(b.id, approve=True, decided_by="cli")
    assert [r.id for r in await store.list_approvals(status=ApprovalStatus.PENDING)] == [a.id]
    assert [r.id for r in await store.list_approvals(task_id=second.id)] == [b.id]
    assert [r.id for r in await store.list_approvals()] == [a.id, b.id]


async def test_unknown_ids_and_bad_input_change_nothing(store: Store) -> None:
    task = await store.create_task("strict", spec=TaskSpec(model=MODEL))
    with pytest.raises(ApprovalNotFound):
        await store.decide_approval("missing", approve=True, decided_by="cli")
    with pytest.raises(TaskNotFound):
        await store.create_approval("missing", tool_call_id="c", action=ACTION)
    with pytest.raises(InvalidPayload):
        await store.create_approval(task.id, tool_call_id="", action=ACTION)
    with pytest.raises(InvalidPayload):
        await store.create_approval(
            task.id, tool_call_id="c", action=ACTION, expires_at=datetime(2030, 1, 1)
        )
    assert await store.list_approvals() == []
    assert len(await store.events(task.id)) == 1
