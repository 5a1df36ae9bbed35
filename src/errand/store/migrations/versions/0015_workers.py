"""Runners' liveness: one row per runner, renewed by its heartbeat.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01

Each runner (``errand serve``'s own, each ``errand worker``) records where it runs, which
worker labels it serves and until when it is alive, busy or idle, so a queued task can say
whether the worker it waits for is running at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from errand.store.schema import UtcDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("alive_until", UtcDateTime, nullable=False),
    )
    op.create_index("ix_workers_alive_until", "workers", ["alive_until"])


def downgrade() -> None:
    op.drop_index("ix_workers_alive_until", table_name="workers")
    op.drop_table("workers")
