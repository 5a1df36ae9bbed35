"""Web Push subscriptions per device, and one delivery row per notification and channel.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30

``notifications.dispatched_at`` marks a notification whose deliveries are written (one per
subscribed device and one for ntfy). Written out in full rather than imported from the
table modules: a migration must keep describing the schema as it was when it was written.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from errand.store.schema import UtcDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("dispatched_at", UtcDateTime(), nullable=True))
    op.create_index("ix_notifications_dispatched_at", "notifications", ["dispatched_at"])
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("device_id", sa.String(32), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("p256dh", sa.String(200), nullable=False),
        sa.Column("auth", sa.String(64), nullable=False),
        sa.Column("kinds", sa.String(100), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name="fk_push_subscriptions_device_id_devices",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_push_subscriptions"),
        sa.UniqueConstraint("device_id", name="uq_push_subscriptions_device_id"),
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("notification_id", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("subscription_id", sa.String(32), nullable=True),
        sa.Column("device_id", sa.String(32), nullable=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name="fk_notification_deliveries_notification_id_notifications",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notification_deliveries"),
    )
    op.create_index(
        "ix_notification_deliveries_state_next_attempt_at",
        "notification_deliveries",
        ["state", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_table("notification_deliveries")
    op.drop_table("push_subscriptions")
    op.drop_index("ix_notifications_dispatched_at", table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("dispatched_at")
