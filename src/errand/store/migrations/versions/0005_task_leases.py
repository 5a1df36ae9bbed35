"""Task leases: which worker holds a running task, and until when.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

A worker claims a queued task with a lease and renews it with a heartbeat; a task whose lease
ran out lost its worker and is marked interrupted by whoever notices first.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from errand.store.schema import UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(128), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", UtcDateTime, nullable=True))
        batch.create_index("ix_tasks_lease_expires_at", ["lease_expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_lease_expires_at")
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_owner")
