"""What a list of tasks shows beside each task, read for a whole page at once.

A task list (the API's, the phone's) shows each task's tokens and its open approvals and
questions. Three grouped queries over the page's ids answer that for every task on it, so a
page costs the same few statements however many of its tasks have changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BindParameter, Select, Table, bindparam, func, select
from sqlalchemy.engine import Connection

from errand.store.approvals import approvals
from errand.store.questions import questions
from errand.store.records import ApprovalStatus, QuestionStatus, TaskSummary, UsageTotals
from errand.store.usage import usage

NO_USAGE = UsageTotals(calls=0, input_tokens=0, output_tokens=0)

# Built once: making a statement and its cache key costs more Python than running it.
_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
_USAGE = (
    select(
        usage.c.task_id,
        func.count(usage.c.id),
        func.coalesce(func.sum(usage.c.input_tokens), 0),
        func.coalesce(func.sum(usage.c.output_tokens), 0),
    )
    .where(usage.c.task_id.in_(_IDS))
    .group_by(usage.c.task_id)
)


def _pending(table: Table, status: str) -> Select[str, int]:
    """Rows of ``table`` (approvals or questions) in ``status``, counted per task."""
    return (
        select(table.c.task_id, func.count())
        .where(table.c.task_id.in_(_IDS), table.c.status == status)
        .group_by(table.c.task_id)
    )


_PENDING_APPROVALS = _pending(approvals, ApprovalStatus.PENDING.value)
_PENDING_QUESTIONS = _pending(questions, QuestionStatus.PENDING.value)


def of_tasks(conn: Connection, task_ids: Sequence[str]) -> dict[str, TaskSummary]:
    """Each of ``task_ids``'s summary; an id without a task gets zeros."""
    if not task_ids:
        return {}
    ids = {"ids": list(task_ids)}
    totals = {
        str(task_id): UsageTotals(calls=int(calls), input_tokens=int(used), output_tokens=int(made))
        for task_id, calls, used, made in conn.execute(_USAGE, ids)
    }
    pending_approvals = _count(conn, _PENDING_APPROVALS, ids)
    pending_questions = _count(conn, _PENDING_QUESTIONS, ids)
    return {
        task_id: TaskSummary(
            usage=totals.get(task_id, NO_USAGE),
            pending_approvals=pending_approvals.get(task_id, 0),
            pending_questions=pending_questions.get(task_id, 0),
        )
        for task_id in task_ids
    }


def _count(
    conn: Connection, statement: Select[str, int], ids: dict[str, list[str]]
) -> dict[str, int]:
    return {str(task_id): int(count) for task_id, count in conn.execute(statement, ids)}
