"""Counting a task's trouble and keeping its ``attention`` column current.

Runs inside a transaction its caller owns, so the sentences change in the same commit as
what caused them: a failed step's ``tool.result``, a refusal or an expiry, a status change.
Each step counts once, under its cause: a call whose approval was refused or expired is
not also counted as failed, though the model was told so as an error.
"""

from __future__ import annotations

import json

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from errand.store.approvals import approvals
from errand.store.events import events
from errand.store.records import ApprovalStatus
from errand.store.tasks import tasks
from errand.tasks import Trouble, attention

VOIDED_BY = "the task stopped"
"""``decided_by`` of approvals left pending when their task stopped: nobody failed to
answer them, so they are not counted as expired."""

# Payloads are compact JSON (``encode_json``) and a quote inside a string value is always
# escaped, so this pattern only matches the key itself: the database skips successful results.
_ERROR_RESULT = '%"is_error":true%'


async def trouble_of(conn: AsyncConnection, task_id: str) -> Trouble:
    """What went wrong in the task so far, from its approvals and its logged results."""
    denied: set[str] = set()
    expired: set[str] = set()
    expired_count = 0
    rows = await conn.execute(
        select(approvals.c.tool_call_id, approvals.c.status, approvals.c.decided_by).where(
            approvals.c.task_id == task_id,
            approvals.c.status.in_([ApprovalStatus.DENIED.value, ApprovalStatus.EXPIRED.value]),
        )
    )
    for call_id, status, decided_by in rows:
        if status == ApprovalStatus.DENIED.value:
            denied.add(call_id)
        elif decided_by != VOIDED_BY:
            expired.add(call_id)
            expired_count += 1
    refused = denied | expired
    failed = interrupted = 0
    results = await conn.execute(
        select(events.c.payload).where(
            events.c.task_id == task_id,
            events.c.type == "tool.result",
            events.c.payload.like(_ERROR_RESULT),
        )
    )
    for (payload,) in results:
        result = json.loads(payload)
        if result.get("interrupted"):
            interrupted += 1
        elif result.get("call_id") not in refused:
            failed += 1
    return Trouble(
        failed=failed, denied=len(denied), expired=expired_count, interrupted=interrupted
    )


async def refresh(conn: AsyncConnection, task_id: str) -> tuple[str, ...]:
    """Recount the task's trouble and store its attention sentences; returns them."""
    sentences = attention(await trouble_of(conn, task_id))
    await conn.execute(
        update(tasks)
        .where(tasks.c.id == task_id)
        .values(attention=json.dumps(list(sentences), ensure_ascii=False))
    )
    return sentences
