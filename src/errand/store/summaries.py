"""What a list of tasks shows beside each task, read in the same statement as the tasks.

A task list (the API's, the phone's) shows each task's tokens and its open approvals and
questions. Each is a correlated subquery on the task's row, answered from an index on
``task_id``; a page of tasks and their summaries is therefore one statement, however many
of its tasks have changed, and one snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Row,
    ScalarSelect,
    Table,
    bindparam,
    func,
    select,
)
from sqlalchemy.engine import Connection

from errand.store import tasks
from errand.store.approvals import approvals
from errand.store.questions import questions
from errand.store.records import (
    NO_SUMMARY,
    ApprovalStatus,
    QuestionStatus,
    TaskRecord,
    TaskSummary,
    UsageTotals,
)
from errand.store.usage import usage
from errand.tasks import TaskStatus


def _of_task(
    value: ColumnElement[int], table: Table, *where: ColumnElement[bool]
) -> ScalarSelect[int]:
    """``value`` over ``table``'s rows of the task on the same row of ``tasks``."""
    return (
        select(value)
        .where(table.c.task_id == tasks.tasks.c.id, *where)
        .correlate(tasks.tasks)
        .scalar_subquery()
    )


# Built once: making a statement and its cache key costs more Python than running it.
COLUMNS = (
    _of_task(func.count(usage.c.id), usage).label("summary_calls"),
    _of_task(func.coalesce(func.sum(usage.c.input_tokens), 0), usage).label("summary_input"),
    _of_task(func.coalesce(func.sum(usage.c.output_tokens), 0), usage).label("summary_output"),
    _of_task(func.count(), approvals, approvals.c.status == ApprovalStatus.PENDING.value).label(
        "summary_approvals"
    ),
    _of_task(func.count(), questions, questions.c.status == QuestionStatus.PENDING.value).label(
        "summary_questions"
    ),
)
"""The summary of the task on each row, as five columns for any select over ``tasks``."""

_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
_OF_IDS = select(tasks.tasks.c.id, *COLUMNS).where(tasks.tasks.c.id.in_(_IDS))


def from_row(row: Row[tuple[object, ...]]) -> TaskSummary:
    """The summary in a row that selected :data:`COLUMNS`."""
    m = row._mapping
    return TaskSummary(
        usage=UsageTotals(
            calls=int(m["summary_calls"]),
            input_tokens=int(m["summary_input"]),
            output_tokens=int(m["summary_output"]),
        ),
        pending_approvals=int(m["summary_approvals"]),
        pending_questions=int(m["summary_questions"]),
    )


def of_tasks(conn: Connection, task_ids: Sequence[str]) -> dict[str, TaskSummary]:
    """Each of ``task_ids``'s summary; an id without a task gets zeros."""
    if not task_ids:
        return {}
    found = {str(row[0]): from_row(row) for row in conn.execute(_OF_IDS, {"ids": task_ids})}
    return {task_id: found.get(task_id, NO_SUMMARY) for task_id in task_ids}


def page(
    conn: Connection,
    *,
    statuses: Sequence[TaskStatus],
    limit: int,
    before: str | None,
    now: datetime,
) -> list[tuple[TaskRecord, TaskSummary]]:
    """A page of tasks as :func:`errand.store.tasks.page` reads it, each with its summary."""
    rows = tasks.page_rows(
        conn,
        (tasks.tasks, *COLUMNS),
        statuses=statuses,
        limit=limit,
        before=before,
        after=None,
        now=now,
    )
    return [(tasks.to_record(row, now=now), from_row(row)) for row in rows]
