"""Bearer credentials: format, hashing at rest, constant-time checks, revocation, expiry."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from errand.access import (
    ALL_SCOPES,
    CredentialError,
    Scope,
    authenticate,
    create_token,
    credentials,
    hash_secret,
    now_of,
    parse_credential,
    still_valid,
)
from errand.store import AccessStore, Store, open_store
from errand.store.ids import new_id
from sqlite_db import migrated_sqlite

START = 1_800_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Store]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    opened = await open_store(migrated_sqlite(tmp_path / "errand.db"))
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def add_device(store: Store, clock: FakeClock, name: str = "phone") -> str:
    """A paired device's token, as pairing would issue it."""
    device_id, secret = new_id(), credentials.new_secret()
    access = AccessStore(store)
    now = now_of(clock)
    await access.add_code(
        device_id,
        secret_hash=hash_secret(device_id),
        auto_approve=True,
        now=now,
        expires_at=now + timedelta(minutes=5),
    )
    await access.claim_code(
        device_id,
        claim_id=device_id,
        claim_token_hash="0" * 64,
        device_name=name,
        client_id="test",
        confirmation="123456",
        now=now,
    )
    device = await access.approve_code(
        device_id,
        device_id=device_id,
        device_name=name,
        secret_hash=hash_secret(secret),
        now=now,
        max_devices=5,
        inactive_after=timedelta(days=30),
    )
    assert device is not None
    return credentials.format_credential("device", device_id, secret)


async def test_a_token_authenticates_with_its_scopes(store: Store, clock: FakeClock) -> None:
    issued = await create_token(store, "backup script", ["tasks:read"], clock=clock)
    assert issued.token.startswith(f"errand_tok_{issued.record.id}_")
    principal = await authenticate(store, f"Bearer {issued.token}", clock=clock)
    assert principal is not None
    assert (principal.kind, principal.name) == ("token", "backup script")
    assert principal.allows(Scope.TASKS_READ) and not principal.allows(Scope.TASKS_WRITE)


async def test_a_token_gets_every_scope_by_default_and_unknown_scopes_are_refused(
    store: Store,
) -> None:
    issued = await create_token(store, "all")
    assert issued.record.scopes == tuple(s.value for s in ALL_SCOPES)
    with pytest.raises(CredentialError, match="unknown scope"):
        await create_token(store, "bad", ["tasks:delete"])
    with pytest.raises(CredentialError):
        await create_token(store, "  ")


async def test_secrets_are_stored_only_as_hashes(store: Store, clock: FakeClock) -> None:
    issued = await create_token(store, "script", clock=clock)
    device_token = await add_device(store, clock)
    secret = issued.token.split("_", 3)[3]
    device_secret = device_token.split("_", 3)[3]
    dump: list[str] = []
    async with store._read() as conn:
        for table in ("api_tokens", "devices", "pairing_codes"):
            rows = (await conn.execute(text(f"SELECT * FROM {table}"))).all()  # noqa: S608
            dump.extend(str(tuple(row)) for row in rows)
    raw = "\n".join(dump)
    assert hash_secret(secret) in raw
    assert secret not in raw and device_secret not in raw
    assert secret not in repr(issued)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic abc",
        "Bearer",
        "Bearer errand_tok_nope",
        "Bearer errand_xyz_01arz3ndektsv4rrffq69g5fav_" + "a" * 43,
    ],
)
async def test_malformed_headers_grant_nothing(store: Store, header: str | None) -> None:
    assert await authenticate(store, header) is None


async def test_a_wrong_secret_is_refused_through_a_constant_time_compare(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = await create_token(store, "script", clock=clock)
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    forged = f"errand_tok_{issued.record.id}_" + "A" * 43
    assert await authenticate(store, f"Bearer {forged}", clock=clock) is None
    assert compared, "the secret must be checked with hmac.compare_digest"
    assert await authenticate(store, f"Bearer {issued.token}", clock=clock) is not None


async def test_revoking_a_token_takes_effect_at_once(store: Store, clock: FakeClock) -> None:
    issued = await create_token(store, "script", clock=clock)
    principal = await authenticate(store, f"Bearer {issued.token}", clock=clock)
    assert principal is not None and await still_valid(store, principal, clock=clock)
    assert await AccessStore(store).revoke_token(issued.record.id, now=now_of(clock))
    assert await authenticate(store, f"Bearer {issued.token}", clock=clock) is None
    assert not await still_valid(store, principal, clock=clock)


async def test_revoking_a_device_or_all_devices_takes_effect_at_once(
    store: Store, clock: FakeClock
) -> None:
    one, two, three = [await add_device(store, clock, f"p{i}") for i in range(3)]
    first = await authenticate(store, f"Bearer {one}", clock=clock)
    assert first is not None
    assert await AccessStore(store).revoke_device(first.id, now=now_of(clock))
    assert await authenticate(store, f"Bearer {one}", clock=clock) is None
    assert not await still_valid(store, first, clock=clock)
    others = [await authenticate(store, f"Bearer {t}", clock=clock) for t in (two, three)]
    assert all(p is not None for p in others)
    assert await AccessStore(store).revoke_all_devices(now=now_of(clock)) == 2
    for token in (two, three):
        assert await authenticate(store, f"Bearer {token}", clock=clock) is None


async def test_a_device_unused_for_thirty_days_expires(store: Store, clock: FakeClock) -> None:
    token = await add_device(store, clock)
    clock.now += 29 * 86400
    principal = await authenticate(store, f"Bearer {token}", clock=clock)
    assert principal is not None  # use within 30 days keeps it alive ...
    clock.now += 29 * 86400
    assert await authenticate(store, f"Bearer {token}", clock=clock) is not None
    clock.now += 30 * 86400  # ... 30 days of silence ends it
    assert await authenticate(store, f"Bearer {token}", clock=clock) is None
    assert not await still_valid(store, principal, clock=clock)


async def test_last_seen_is_written_at_most_once_a_minute(store: Store, clock: FakeClock) -> None:
    token = await add_device(store, clock)
    parsed = parse_credential(token)
    assert parsed is not None
    access = AccessStore(store)
    clock.now += 30
    await authenticate(store, f"Bearer {token}", clock=clock)
    device = await access.get_device(parsed.id)
    assert device is not None and device.last_seen_at == now_of(lambda: START)
    clock.now += 31
    await authenticate(store, f"Bearer {token}", clock=clock)
    device = await access.get_device(parsed.id)
    assert device is not None and device.last_seen_at == now_of(clock)


def test_a_parsed_credential_keeps_its_secret_out_of_the_repr() -> None:
    token = "errand_dev_01arz3ndektsv4rrffq69g5fav_s3cr3t-with_underscores-0123456789"
    parsed = parse_credential(token)
    assert parsed is not None
    assert parsed.id == "01arz3ndektsv4rrffq69g5fav"
    assert parsed.secret == "s3cr3t-with_underscores-0123456789"
    assert "s3cr3t" not in repr(parsed)
