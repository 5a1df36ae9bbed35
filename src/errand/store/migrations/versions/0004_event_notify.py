"""PostgreSQL: every committed event wakes the processes that wait on it (NOTIFY).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

A trigger on ``events`` sends ``NOTIFY errand_events, '<task id> <event type>'`` in the
transaction that inserts the event, so it is delivered exactly when the event is committed,
whoever wrote it. SQLite has no such thing; there the store wakes its own readers in process.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION errand_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('errand_events', NEW.task_id || ' ' || NEW.type);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER events_notify AFTER INSERT ON events"
        " FOR EACH ROW EXECUTE FUNCTION errand_notify_event()"
    )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER events_notify ON events")
    op.execute("DROP FUNCTION errand_notify_event()")
