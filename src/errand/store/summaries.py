"""What a list of tasks shows beside each task, read for a whole page at once.

A task list (the API's, the phone's) shows each task's tokens and its open approvals and
questions. Three grouped queries over the page's ids answer that for every task on it, so a
page costs the same few statements however many of its tasks have changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from errand.store.approvals import approvals
from errand.store.questions import questions
from errand.store.records import ApprovalStatus, QuestionStatus, TaskSummary, UsageTotals
from errand.store.usage import usage

NO_USAGE = UsageTotals(calls=0, input_tokens=0, output_tokens=0)


async def of_tasks(conn: AsyncConnection, task_ids: Sequence[str]) -> dict[str, TaskSummary]:
    """Each of ``task_ids``'s summary; an id without a task gets zeros."""
    if not task_ids:
        return {}
    rows = await conn.execute(
        select(
            usage.c.task_id,
            func.count(usage.c.id),
            func.coalesce(func.sum(usage.c.input_tokens), 0),
            func.coalesce(func.sum(usage.c.output_tokens), 0),
        )
        .where(usage.c.task_id.in_(task_ids))
        .group_by(usage.c.task_id)
    )
    totals = {
        str(task_id): UsageTotals(calls=int(calls), input_tokens=int(used), output_tokens=int(made))
        for task_id, calls, used, made in rows
    }
    pending_approvals = await _count(conn, approvals, ApprovalStatus.PENDING.value, task_ids)
    pending_questions = await _count(conn, questions, QuestionStatus.PENDING.value, task_ids)
    return {
        task_id: TaskSummary(
            usage=totals.get(task_id, NO_USAGE),
            pending_approvals=pending_approvals.get(task_id, 0),
            pending_questions=pending_questions.get(task_id, 0),
        )
        for task_id in task_ids
    }


async def _count(
    conn: AsyncConnection, table: Table, status: str, task_ids: Sequence[str]
) -> dict[str, int]:
    """Rows of ``table`` (approvals or questions) in ``status``, counted per task."""
    rows = await conn.execute(
        select(table.c.task_id, func.count())
        .where(table.c.task_id.in_(task_ids), table.c.status == status)
        .group_by(table.c.task_id)
    )
    return {str(task_id): int(count) for task_id, count in rows}
