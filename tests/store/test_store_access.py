"""The access tables: atomic code claims, the pairing lock, device cap, idempotency keys."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from errand.store import AccessStore, Store, open_store
from errand.store.access import CodeState
from errand.store.access_store import (
    DeviceLimitReached,
    IdempotencyKeyReused,
)

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
LOCK = timedelta(minutes=15)


async def open_code(access: AccessStore, code_id: str, now: datetime = NOW) -> None:
    await access.add_code(
        code_id,
        secret_hash=code_id.ljust(64, "0"),
        auto_approve=False,
        now=now,
        expires_at=now + timedelta(minutes=5),
    )


async def claim(access: AccessStore, code_id: str, claim_id: str) -> bool:
    return await access.claim_code(
        code_id,
        claim_id=claim_id,
        claim_token_hash="f" * 64,
        device_name="phone",
        client_id="10.0.0.2",
        confirmation="123456",
        now=NOW,
    )


async def test_only_one_of_many_concurrent_claims_wins(store: Store) -> None:
    access = AccessStore(store)
    await open_code(access, "code1")
    results = await asyncio.gather(*(claim(access, "code1", f"claim{i}") for i in range(8)))
    assert results.count(True) == 1


async def test_an_expired_code_cannot_be_claimed(store: Store) -> None:
    access = AccessStore(store)
    await open_code(access, "code1", now=NOW - timedelta(minutes=5))
    assert not await claim(access, "code1", "claim1")


async def test_every_third_burn_in_a_row_locks_pairing(store: Store) -> None:
    access = AccessStore(store)
    for index in range(3):
        await open_code(access, f"code{index}")
        assert await access.pairing_locked_until(now=NOW) is None
        assert await access.burn_code(
            f"code{index}",
            from_states=(CodeState.OPEN,),
            reason="refused",
            now=NOW,
            lock_after=3,
            lock_for=LOCK,
        )
    assert await access.pairing_locked_until(now=NOW) == NOW + LOCK
    assert await access.pairing_locked_until(now=NOW + LOCK) is None
    # A burned code stays burned: burning again reports nothing and claims fail.
    assert not await access.burn_code(
        "code0", from_states=(CodeState.OPEN,), reason="x", now=NOW, lock_after=3, lock_for=LOCK
    )
    assert not await claim(access, "code0", "claim0")


async def test_bad_secrets_burn_only_open_codes_after_the_limit(store: Store) -> None:
    access = AccessStore(store)
    await open_code(access, "code1")
    for _ in range(2):
        assert (
            await access.count_bad_secret(now=NOW, burn_after=3, lock_after=3, lock_for=LOCK) == []
        )
    assert await access.count_bad_secret(now=NOW, burn_after=3, lock_after=3, lock_for=LOCK) == [
        "code1"
    ]
    code = await access.code_by_hash("code1".ljust(64, "0"))
    assert code is not None and code.state == CodeState.BURNED


async def test_approval_respects_the_device_cap(store: Store) -> None:
    access = AccessStore(store)
    for index in range(2):
        await open_code(access, f"code{index}")
        assert await claim(access, f"code{index}", f"claim{index}")
    assert await approve(access, "code0", "dev0") is not None
    with pytest.raises(DeviceLimitReached):
        await approve(access, "code1", "dev1")
    assert [d.id for d in await access.list_devices()] == ["dev0"]


async def approve(access: AccessStore, code_id: str, device_id: str) -> object:
    return await access.approve_code(
        code_id,
        device_id=device_id,
        device_name=device_id,
        secret_hash="a" * 64,
        now=NOW,
        max_devices=1,
        inactive_after=timedelta(days=30),
    )


async def test_idempotency_recall_returns_the_first_answer(store: Store) -> None:
    access = AccessStore(store)
    fingerprint = "fp-prompt-hi"
    assert await access.recall("dev0", "key1", fingerprint, now=NOW) is None
    stored = await access.remember(
        "dev0", "key1", fingerprint, status=201, body={"id": "t1"}, now=NOW
    )
    assert (stored.status, stored.body) == (201, {"id": "t1"})
    again = await access.recall("dev0", "key1", fingerprint, now=NOW + timedelta(hours=1))
    assert again == stored
    # The same key from another principal is another key.
    assert await access.recall("dev1", "key1", fingerprint, now=NOW) is None


async def test_idempotency_key_reused_with_another_request_is_refused(store: Store) -> None:
    access = AccessStore(store)
    first = "fp-prompt-hi"
    other = "fp-prompt-bye"
    await access.remember("dev0", "key1", first, status=201, body={"id": "t1"}, now=NOW)
    with pytest.raises(IdempotencyKeyReused) as info:
        await access.recall("dev0", "key1", other, now=NOW)
    assert (info.value.code, info.value.status) == ("idempotency_key_reused", 422)
    with pytest.raises(IdempotencyKeyReused):
        await access.remember("dev0", "key1", other, status=201, body=None, now=NOW)


async def test_idempotency_keys_expire_after_a_day(store: Store) -> None:
    access = AccessStore(store)
    first = "fp-1"
    other = "fp-2"
    await access.remember("dev0", "key1", first, status=202, body=None, now=NOW)
    later = NOW + timedelta(hours=24)
    assert await access.recall("dev0", "key1", other, now=later) is None
    stored = await access.remember("dev0", "key1", other, status=200, body=[1], now=later)
    assert stored.body == [1]


async def test_access_rows_survive_reopening(db_url: str, home: Path) -> None:
    first = await open_store(db_url)
    await AccessStore(first).add_folder("notes", "/srv/notes", "ro", now=NOW)
    await first.aclose()
    second = await open_store(db_url)
    try:
        assert [f.name for f in await AccessStore(second).list_folders()] == ["notes"]
    finally:
        await second.aclose()
