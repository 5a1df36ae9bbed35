"""Folders are the worker's own: a worker label on allowed folders, a place on tasks.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30

``allowed_folders.worker`` names the worker whose folder it is (NULL: the gateway's
computer, as every folder was before). ``tasks.worker`` is where a task must run, copied from
its spec so claims filter on it; NULL lets any runner take it. Tasks stored before that
name folders used the gateway's folders, so they are placed on the gateway's own runner.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GATEWAY_WORKER = "serve"  # errand.tasks.GATEWAY_WORKER when this migration was written


def upgrade() -> None:
    with op.batch_alter_table("allowed_folders") as batch:
        batch.add_column(sa.Column("worker", sa.String(128), nullable=True))
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("worker", sa.String(128), nullable=True))
    # Specs are stored as compact JSON (``TaskSpec.to_json``): one without folders holds
    # ``"folders":[]``, which no escaped string inside a spec can spell.
    tasks = sa.table("tasks", sa.column("spec", sa.Text), sa.column("worker", sa.String))
    op.execute(
        tasks.update()
        .where(tasks.c.spec.not_like('%"folders":[]%'))
        .values(worker=op.inline_literal(_GATEWAY_WORKER))
    )


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("worker")
    with op.batch_alter_table("allowed_folders") as batch:
        batch.drop_column("worker")
