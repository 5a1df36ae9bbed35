"""Who may use the gateway: devices, API tokens, pairing codes, allowed folders, idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02

Written out in full rather than imported from the table modules: a migration must keep
describing the schema as it was when it was written.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from errand.store.schema import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_seen_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_used_at", UtcDateTime(), nullable=True),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
    )
    op.create_table(
        "pairing_codes",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("auto_approve", sa.Boolean(), nullable=False),
        sa.Column("bad_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("claim_id", sa.String(32), nullable=True),
        sa.Column("claim_token_hash", sa.String(64), nullable=True),
        sa.Column("device_name", sa.String(100), nullable=True),
        sa.Column("client_id", sa.String(200), nullable=True),
        sa.Column("confirmation", sa.String(6), nullable=True),
        sa.Column("device_id", sa.String(32), nullable=True),
        sa.Column("closed_at", UtcDateTime(), nullable=True),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("locked_until", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pairing_codes"),
        sa.UniqueConstraint("secret_hash", name="uq_pairing_codes_secret_hash"),
        sa.UniqueConstraint("claim_id", name="uq_pairing_codes_claim_id"),
    )
    op.create_index("ix_pairing_codes_state", "pairing_codes", ["state"])
    op.create_index("ix_pairing_codes_closed_at", "pairing_codes", ["closed_at"])
    op.create_table(
        "allowed_folders",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(2), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_allowed_folders"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("principal_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("principal_id", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("allowed_folders")
    op.drop_table("pairing_codes")
    op.drop_table("api_tokens")
    op.drop_table("devices")
