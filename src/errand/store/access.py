"""Tables for who may use the gateway: devices, API tokens, pairing codes, allowed folders,
idempotency keys.

Only hashes of secrets are stored (SHA-256, hex): a copy of the database grants nothing.
Functions here run inside a transaction their caller owns (``AccessStore``). Pairing codes
change state only through conditional updates (``... WHERE state = 'open'``), so two
claims racing for one code cannot both win, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Row,
    String,
    Table,
    Text,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from errand.store.records import JsonValue
from errand.store.schema import UtcDateTime, metadata

devices = Table(
    "devices",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
)

pairing_codes = Table(
    "pairing_codes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
    # open -> claimed -> approved | burned; open -> burned | expired. Never back to open.
    Column("state", String(16), nullable=False),
    Column("auto_approve", Boolean, nullable=False),
    Column("bad_attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("claim_id", String(32), nullable=True, unique=True),
    Column("claim_token_hash", String(64), nullable=True),
    Column("device_name", String(100), nullable=True),
    Column("client_id", String(200), nullable=True),
    Column("confirmation", String(6), nullable=True),
    Column("device_id", String(32), nullable=True),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("reason", String(32), nullable=True),
    # Set on the third burn in a row: pairing stays locked until then.
    Column("locked_until", UtcDateTime, nullable=True),
    Index("ix_pairing_codes_state", "state"),
    Index("ix_pairing_codes_closed_at", "closed_at"),
)

allowed_folders = Table(
    "allowed_folders",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("path", Text, nullable=False),
    Column("mode", String(2), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # The worker whose folder it is (its path is on that worker's host); NULL: the gateway's.
    Column("worker", String(128), nullable=True),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("principal_id", String(32), nullable=False),
    Column("key", String(200), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("principal_id", "key"),
    Index("ix_idempotency_keys_created_at", "created_at"),
)


class CodeState:
    """The states a pairing code moves through (stored as text)."""

    OPEN = "open"
    CLAIMED = "claimed"
    APPROVED = "approved"
    BURNED = "burned"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A paired device. Its token's secret is not here: only its hash is stored."""

    id: str
    name: str
    created_at: datetime
    last_seen_at: datetime
    revoked_at: datetime | None

    def is_expired(self, now: datetime, inactive_after: timedelta) -> bool:
        """True once the device has gone unused for ``inactive_after``."""
        return now - self.last_seen_at >= inactive_after


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An API token made with ``errand tokens create``; ``scopes`` in the order given."""

    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class PairingCodeRecord:
    """One pairing code and, once claimed, who claimed it (hashes only, never secrets)."""

    id: str
    state: str
    auto_approve: bool
    bad_attempts: int
    created_at: datetime
    expires_at: datetime
    claim_id: str | None
    claim_token_hash: str | None = field(repr=False)
    device_name: str | None
    client_id: str | None
    confirmation: str | None
    device_id: str | None
    closed_at: datetime | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class AllowedFolderRecord:
    """A host folder the owner lets tasks use, under ``name``, at most in ``mode``; on the
    host of the worker labelled ``worker`` (None: the gateway's computer)."""

    name: str
    path: str
    mode: str
    created_at: datetime
    worker: str | None = None


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The answer first given to an idempotent request."""

    status: int
    body: JsonValue


def device_record(row: Row[tuple[object, ...]]) -> DeviceRecord:
    m = row._mapping
    return DeviceRecord(
        id=m["id"],
        name=m["name"],
        created_at=m["created_at"],
        last_seen_at=m["last_seen_at"],
        revoked_at=m["revoked_at"],
    )


def token_record(row: Row[tuple[object, ...]]) -> TokenRecord:
    m = row._mapping
    return TokenRecord(
        id=m["id"],
        name=m["name"],
        scopes=tuple(m["scopes"].split()),
        created_at=m["created_at"],
        last_used_at=m["last_used_at"],
        revoked_at=m["revoked_at"],
    )


def code_record(row: Row[tuple[object, ...]]) -> PairingCodeRecord:
    m = row._mapping
    return PairingCodeRecord(
        id=m["id"],
        state=m["state"],
        auto_approve=bool(m["auto_approve"]),
        bad_attempts=m["bad_attempts"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        claim_id=m["claim_id"],
        claim_token_hash=m["claim_token_hash"],
        device_name=m["device_name"],
        client_id=m["client_id"],
        confirmation=m["confirmation"],
        device_id=m["device_id"],
        closed_at=m["closed_at"],
        reason=m["reason"],
    )


def folder_record(row: Row[tuple[object, ...]]) -> AllowedFolderRecord:
    m = row._mapping
    return AllowedFolderRecord(
        name=m["name"],
        path=m["path"],
        mode=m["mode"],
        created_at=m["created_at"],
        worker=m["worker"],
    )


async def burn(
    conn: AsyncConnection,
    code_id: str,
    *,
    from_states: tuple[str, ...],
    reason: str,
    now: datetime,
    lock_after: int,
    lock_for: timedelta,
) -> bool:
    """Burn the code if it is in one of ``from_states``; True if this call burned it.

    Counts the burns since the last successful pairing: every ``lock_after``-th one in a
    row stamps ``locked_until`` on the code, which locks pairing until then.
    """
    burned = (
        await conn.execute(
            update(pairing_codes)
            .where(pairing_codes.c.id == code_id, pairing_codes.c.state.in_(from_states))
            .values(state=CodeState.BURNED, reason=reason, closed_at=now)
            .returning(pairing_codes.c.id)
        )
    ).first()
    if burned is None:
        return False
    recent = await conn.execute(
        select(pairing_codes.c.state)
        .where(
            pairing_codes.c.state.in_([CodeState.BURNED, CodeState.APPROVED]),
            pairing_codes.c.closed_at.is_not(None),
        )
        .order_by(pairing_codes.c.closed_at.desc(), pairing_codes.c.id.desc())
        .limit(1000)
    )
    streak = 0
    for (state,) in recent:
        if state != CodeState.BURNED:
            break
        streak += 1
    if streak % lock_after == 0:
        await conn.execute(
            update(pairing_codes)
            .where(pairing_codes.c.id == code_id)
            .values(locked_until=now + lock_for)
        )
    return True
