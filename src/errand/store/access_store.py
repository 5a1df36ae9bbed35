"""``AccessStore``: the store's queries for who may use the gateway.

A thin wrapper over an open ``Store`` that shares its connections and transactions::

    access = AccessStore(store)
    await access.add_folder("notes", "/home/ana/notes", "rw", now=now)

Every method is one transaction. Times are passed in (``now``) rather than read here, so
the gateway's injected clock decides expiry everywhere. Secrets never reach this module:
callers pass SHA-256 hashes.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Row,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from errand.store import access
from errand.store.access import (
    AllowedFolderRecord,
    CodeState,
    DeviceRecord,
    PairingCodeRecord,
    StoredResponse,
    TokenRecord,
    allowed_folders,
    api_tokens,
    devices,
    idempotency_keys,
    pairing_codes,
)
from errand.store.errors import StoreError
from errand.store.push import push_subscriptions
from errand.store.records import JsonValue
from errand.store.schema import encode_json
from errand.store.store import Store

IDEMPOTENCY_TTL = timedelta(hours=24)

# Every authenticated request reads its credential by id, so that statement is built once
# (its SQL and cache key then come from SQLAlchemy's cache without being made again).
_CREDENTIAL_BY_ID: dict[Table, Select[Any]] = {
    table: select(table).where(table.c.id == bindparam("credential_id"))
    for table in (devices, api_tokens)
}


class IdempotencyKeyReused(StoreError, ValueError):
    """An ``Idempotency-Key`` came back with a different request (API code
    ``idempotency_key_reused``, 422)."""

    code = "idempotency_key_reused"
    status = 422

    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was already used for a different request")


class FolderNameTaken(StoreError, ValueError):
    """An allowed folder already has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"an allowed folder is already named {name!r}")
        self.name = name


class DeviceLimitReached(StoreError):
    """Pairing one more device would pass the configured maximum."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} devices are paired already, the most allowed")
        self.limit = limit


class AccessStore:
    """Devices, API tokens, pairing codes, allowed folders and idempotency keys."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- devices and API tokens: the same shape of credential in two tables ---------------

    async def _credential_row(self, table: Table, credential_id: str) -> Row[Any] | None:
        # Every authenticated request makes this read: the fast path (Store._read_sync).
        def read(conn: Connection) -> Row[Any] | None:
            statement = _CREDENTIAL_BY_ID[table]
            return conn.execute(statement, {"credential_id": credential_id}).first()

        return await self._store._read_sync(read)

    async def _credentials(self, table: Table, *, include_revoked: bool) -> list[Row[Any]]:
        query = select(table).order_by(table.c.created_at, table.c.id)
        if not include_revoked:
            query = query.where(table.c.revoked_at.is_(None))
        async with self._store._read() as conn:
            return list(await conn.execute(query))

    async def _touch(
        self, column: Column[Any], credential_id: str, *, now: datetime, every: timedelta
    ) -> None:
        """Set ``column`` to ``now`` unless it was set less than ``every`` ago."""
        table = column.table
        async with self._store._write() as conn:
            await conn.execute(
                update(table)
                .where(
                    table.c.id == credential_id,
                    or_(column.is_(None), column <= now - every),
                )
                .values({column.name: now})
            )

    async def _revoke(self, table: Table, credential_id: str, *, now: datetime) -> bool:
        async with self._store._write() as conn:
            row = (
                await conn.execute(
                    update(table)
                    .where(table.c.id == credential_id, table.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                    .returning(table.c.id)
                )
            ).first()
        return row is not None

    async def get_device(self, device_id: str) -> DeviceRecord | None:
        """The device (revoked ones too), or None."""
        row = await self._credential_row(devices, device_id)
        return None if row is None else access.device_record(row)

    async def device_secret_hash(self, device_id: str) -> tuple[DeviceRecord, str] | None:
        """The device and its token's hash, for authentication; None if unknown."""
        row = await self._credential_row(devices, device_id)
        return None if row is None else (access.device_record(row), row.secret_hash)

    async def list_devices(self, *, include_revoked: bool = False) -> list[DeviceRecord]:
        """Devices, oldest first (revoked ones only when asked)."""
        rows = await self._credentials(devices, include_revoked=include_revoked)
        return [access.device_record(row) for row in rows]

    async def touch_device(self, device_id: str, *, now: datetime, every: timedelta) -> None:
        """Set ``last_seen_at`` to ``now`` unless it was set less than ``every`` ago."""
        await self._touch(devices.c.last_seen_at, device_id, now=now, every=every)

    async def revoke_device(self, device_id: str, *, now: datetime) -> bool:
        """Revoke one device; False if there is no such unrevoked device. Its push
        subscription goes with it, in the same transaction."""
        async with self._store._write() as conn:
            row = (
                await conn.execute(
                    update(devices)
                    .where(devices.c.id == device_id, devices.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                    .returning(devices.c.id)
                )
            ).first()
            await conn.execute(
                delete(push_subscriptions).where(push_subscriptions.c.device_id == device_id)
            )
        return row is not None

    async def revoke_all_devices(self, *, now: datetime) -> int:
        """Revoke every device and burn every code still open or awaiting confirmation.

        Returns how many devices were revoked. Burning here does not count towards the
        pairing lock: it is the owner's own reset.
        """
        async with self._store._write() as conn:
            revoked = await conn.execute(
                update(devices)
                .where(devices.c.revoked_at.is_(None))
                .values(revoked_at=now)
                .returning(devices.c.id)
            )
            count = len(revoked.all())
            await conn.execute(delete(push_subscriptions))
            await conn.execute(
                update(pairing_codes)
                .where(pairing_codes.c.state.in_([CodeState.OPEN, CodeState.CLAIMED]))
                .values(state=CodeState.EXPIRED, reason="reset", closed_at=now)
            )
        return count

    # -- API tokens ------------------------------------------------------------------------

    async def add_token(
        self, token_id: str, *, name: str, secret_hash: str, scopes: tuple[str, ...], now: datetime
    ) -> TokenRecord:
        async with self._store._write() as conn:
            await conn.execute(
                insert(api_tokens).values(
                    id=token_id,
                    name=name,
                    secret_hash=secret_hash,
                    scopes=" ".join(scopes),
                    created_at=now,
                )
            )
        return TokenRecord(token_id, name, scopes, now, None, None)

    async def token_secret_hash(self, token_id: str) -> tuple[TokenRecord, str] | None:
        """The token and its hash, for authentication; None if unknown."""
        row = await self._credential_row(api_tokens, token_id)
        return None if row is None else (access.token_record(row), row.secret_hash)

    async def list_tokens(self, *, include_revoked: bool = False) -> list[TokenRecord]:
        rows = await self._credentials(api_tokens, include_revoked=include_revoked)
        return [access.token_record(row) for row in rows]

    async def touch_token(self, token_id: str, *, now: datetime, every: timedelta) -> None:
        """Set ``last_used_at`` to ``now`` unless it was set less than ``every`` ago."""
        await self._touch(api_tokens.c.last_used_at, token_id, now=now, every=every)

    async def revoke_token(self, token_id: str, *, now: datetime) -> bool:
        """Revoke a token; False if there is no such unrevoked token."""
        return await self._revoke(api_tokens, token_id, now=now)

    # -- pairing codes ---------------------------------------------------------------------

    async def add_code(
        self,
        code_id: str,
        *,
        secret_hash: str,
        auto_approve: bool,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        async with self._store._write() as conn:
            await conn.execute(
                insert(pairing_codes).values(
                    id=code_id,
                    secret_hash=secret_hash,
                    state=CodeState.OPEN,
                    auto_approve=auto_approve,
                    bad_attempts=0,
                    created_at=now,
                    expires_at=expires_at,
                )
            )

    async def expire_open_codes(self, *, now: datetime) -> None:
        """Close every open code: a new code replaces them (not a burn: no lock counts)."""
        async with self._store._write() as conn:
            await conn.execute(
                update(pairing_codes)
                .where(pairing_codes.c.state == CodeState.OPEN)
                .values(state=CodeState.EXPIRED, reason="replaced", closed_at=now)
            )

    async def code_by_hash(self, secret_hash: str) -> PairingCodeRecord | None:
        async with self._store._read() as conn:
            row = (
                await conn.execute(
                    select(pairing_codes).where(pairing_codes.c.secret_hash == secret_hash)
                )
            ).first()
        return None if row is None else access.code_record(row)

    async def code_by_claim(self, claim_id: str) -> PairingCodeRecord | None:
        async with self._store._read() as conn:
            row = (
                await conn.execute(
                    select(pairing_codes).where(pairing_codes.c.claim_id == claim_id)
                )
            ).first()
        return None if row is None else access.code_record(row)

    async def pairing_locked_until(self, *, now: datetime) -> datetime | None:
        """When pairing unlocks, if it is locked at ``now``."""
        async with self._store._read() as conn:
            until = (await conn.execute(select(func.max(pairing_codes.c.locked_until)))).scalar()
        return until if isinstance(until, datetime) and until > now else None

    async def claim_code(
        self,
        code_id: str,
        *,
        claim_id: str,
        claim_token_hash: str,
        device_name: str,
        client_id: str,
        confirmation: str,
        now: datetime,
    ) -> bool:
        """Claim an open, unexpired code; True for the one caller that won it."""
        async with self._store._write() as conn:
            row = (
                await conn.execute(
                    update(pairing_codes)
                    .where(
                        pairing_codes.c.id == code_id,
                        pairing_codes.c.state == CodeState.OPEN,
                        pairing_codes.c.expires_at > now,
                    )
                    .values(
                        state=CodeState.CLAIMED,
                        claim_id=claim_id,
                        claim_token_hash=claim_token_hash,
                        device_name=device_name,
                        client_id=client_id,
                        confirmation=confirmation,
                    )
                    .returning(pairing_codes.c.id)
                )
            ).first()
        return row is not None

    async def burn_code(
        self,
        code_id: str,
        *,
        from_states: tuple[str, ...],
        reason: str,
        now: datetime,
        lock_after: int,
        lock_for: timedelta,
    ) -> bool:
        """Burn the code if it is in ``from_states``; True if this call burned it.

        Every ``lock_after``-th burn in a row (since the last successful pairing) locks
        pairing for ``lock_for``.
        """
        async with self._store._write() as conn:
            return await access.burn(
                conn,
                code_id,
                from_states=from_states,
                reason=reason,
                now=now,
                lock_after=lock_after,
                lock_for=lock_for,
            )

    async def expire_code(self, code_id: str, *, now: datetime) -> None:
        """Close an open code whose time ran out (not a burn: it does not count to the lock)."""
        async with self._store._write() as conn:
            await conn.execute(
                update(pairing_codes)
                .where(pairing_codes.c.id == code_id, pairing_codes.c.state == CodeState.OPEN)
                .values(state=CodeState.EXPIRED, reason="expired", closed_at=now)
            )

    async def withdraw_claim(self, code_id: str, *, now: datetime) -> None:
        """Close a claimed code the owner replaced with a new one before confirming it (not a
        burn: it does not count to the lock)."""
        async with self._store._write() as conn:
            await conn.execute(
                update(pairing_codes)
                .where(pairing_codes.c.id == code_id, pairing_codes.c.state == CodeState.CLAIMED)
                .values(state=CodeState.BURNED, reason="replaced", closed_at=now)
            )

    async def count_bad_secret(
        self, *, now: datetime, burn_after: int, lock_after: int, lock_for: timedelta
    ) -> list[str]:
        """Count a wrong secret against every open code; burn those that reach ``burn_after``.

        Returns the ids of the codes burned.
        """
        burned: list[str] = []
        async with self._store._write() as conn:
            rows = await conn.execute(
                update(pairing_codes)
                .where(pairing_codes.c.state == CodeState.OPEN, pairing_codes.c.expires_at > now)
                .values(bad_attempts=pairing_codes.c.bad_attempts + 1)
                .returning(pairing_codes.c.id, pairing_codes.c.bad_attempts)
            )
            for code_id, attempts in rows.all():
                if attempts >= burn_after and await access.burn(
                    conn,
                    code_id,
                    from_states=(CodeState.OPEN,),
                    reason="bad_secrets",
                    now=now,
                    lock_after=lock_after,
                    lock_for=lock_for,
                ):
                    burned.append(code_id)
        return burned

    async def approve_code(
        self,
        code_id: str,
        *,
        device_id: str,
        device_name: str,
        secret_hash: str,
        now: datetime,
        max_devices: int,
        inactive_after: timedelta,
    ) -> DeviceRecord | None:
        """Turn a claimed code into a new device, atomically.

        Returns None if the code is no longer ``claimed`` (burned meanwhile).

        Raises:
            DeviceLimitReached: ``max_devices`` active devices exist already; nothing changes.
        """
        async with self._store._write() as conn:
            active = (
                await conn.execute(
                    select(func.count())
                    .select_from(devices)
                    .where(
                        devices.c.revoked_at.is_(None),
                        devices.c.last_seen_at > now - inactive_after,
                    )
                )
            ).scalar_one()
            if active >= max_devices:
                raise DeviceLimitReached(max_devices)
            row = (
                await conn.execute(
                    update(pairing_codes)
                    .where(
                        pairing_codes.c.id == code_id, pairing_codes.c.state == CodeState.CLAIMED
                    )
                    .values(
                        state=CodeState.APPROVED, device_id=device_id, closed_at=now, reason=None
                    )
                    .returning(pairing_codes.c.id)
                )
            ).first()
            if row is None:
                return None
            await conn.execute(
                insert(devices).values(
                    id=device_id,
                    name=device_name,
                    secret_hash=secret_hash,
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return DeviceRecord(device_id, device_name, now, now, None)

    async def count_active_devices(self, *, now: datetime, inactive_after: timedelta) -> int:
        async with self._store._read() as conn:
            return int(
                (
                    await conn.execute(
                        select(func.count())
                        .select_from(devices)
                        .where(
                            devices.c.revoked_at.is_(None),
                            devices.c.last_seen_at > now - inactive_after,
                        )
                    )
                ).scalar_one()
            )

    # -- allowed folders -------------------------------------------------------------------

    async def add_folder(
        self, name: str, path: str, mode: str, *, now: datetime, worker: str | None = None
    ) -> AllowedFolderRecord:
        """Allow ``path`` (on the host of ``worker``; None: the gateway's) as ``name``.

        Raises ``FolderNameTaken``: names are unique across all workers."""
        try:
            async with self._store._write() as conn:
                await conn.execute(
                    insert(allowed_folders).values(
                        name=name, path=path, mode=mode, created_at=now, worker=worker
                    )
                )
        except IntegrityError as exc:
            raise FolderNameTaken(name) from exc
        return AllowedFolderRecord(name, path, mode, now, worker)

    async def list_folders(self) -> list[AllowedFolderRecord]:
        async with self._store._read() as conn:
            rows = await conn.execute(select(allowed_folders).order_by(allowed_folders.c.name))
            return [access.folder_record(row) for row in rows]

    async def remove_folder(self, name: str) -> bool:
        """False if no folder had that name."""
        async with self._store._write() as conn:
            row = (
                await conn.execute(
                    delete(allowed_folders)
                    .where(allowed_folders.c.name == name)
                    .returning(allowed_folders.c.name)
                )
            ).first()
        return row is not None

    # -- idempotency keys ------------------------------------------------------------------

    async def recall(
        self,
        principal_id: str,
        key: str,
        fingerprint: str,
        *,
        now: datetime,
        ttl: timedelta = IDEMPOTENCY_TTL,
    ) -> StoredResponse | None:
        """The response stored for ``key``, or None if it is new (or older than ``ttl``).

        Raises:
            IdempotencyKeyReused: the key was used with a different request fingerprint.
        """
        async with self._store._read() as conn:
            row = (
                await conn.execute(
                    select(idempotency_keys).where(
                        idempotency_keys.c.principal_id == principal_id,
                        idempotency_keys.c.key == key,
                        idempotency_keys.c.created_at > now - ttl,
                    )
                )
            ).first()
        if row is None:
            return None
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        return StoredResponse(status=row.status, body=_decode(row.body))

    async def remember(
        self,
        principal_id: str,
        key: str,
        fingerprint: str,
        *,
        status: int,
        body: JsonValue,
        now: datetime,
        ttl: timedelta = IDEMPOTENCY_TTL,
    ) -> StoredResponse:
        """Store the first response for ``key``; returns the response that stands.

        If a concurrent request stored one first, that one stands and is returned. Expired
        keys (older than ``ttl``) are dropped on the way.

        Raises:
            IdempotencyKeyReused: the key stands for a different request fingerprint.
        """
        encoded = encode_json(body, what="response body")
        async with self._store._write() as conn:
            await conn.execute(
                delete(idempotency_keys).where(idempotency_keys.c.created_at <= now - ttl)
            )
            row = (
                await conn.execute(
                    select(idempotency_keys).where(
                        idempotency_keys.c.principal_id == principal_id,
                        idempotency_keys.c.key == key,
                    )
                )
            ).first()
            if row is None:
                await conn.execute(
                    insert(idempotency_keys).values(
                        principal_id=principal_id,
                        key=key,
                        fingerprint=fingerprint,
                        status=status,
                        body=encoded,
                        created_at=now,
                    )
                )
                return StoredResponse(status=status, body=_decode(encoded))
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        return StoredResponse(status=row.status, body=_decode(row.body))


def _decode(text: str) -> JsonValue:
    value: JsonValue = json.loads(text)
    return value
