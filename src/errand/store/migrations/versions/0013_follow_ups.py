"""Follow-ups waiting for their task's loop.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30

A message the user sends to a task is shown at once (``message.user``) and kept here until
the task's loop takes it into the transcript before its next model call, so one accepted
while Errand then crashes reaches the task when it resumes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from errand.store.schema import UtcDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "follow_ups",
        sa.Column(
            "task_id",
            sa.String(32),
            sa.ForeignKey("tasks.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("taken_at", UtcDateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("follow_ups")
