"""Pairing a phone: one-time codes, single use, host confirmation, brute-force limits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from errand.access import (
    IssuedDevice,
    PairingError,
    PairingService,
    PendingPairing,
    authenticate,
)
from errand.store import Store, open_store
from sqlite_db import migrated_sqlite

BASE = "https://host.example.ts.net"


@dataclass
class FakeClock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Host:
    """The terminal side: answers confirmations, records warnings."""

    answer: bool | None = True
    asked: list[PendingPairing] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    async def confirm(self, pending: PendingPairing) -> bool:
        self.asked.append(pending)
        if self.answer is None:
            await asyncio.sleep(3600)
        return bool(self.answer)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ERRAND_DATABASE_URL", raising=False)
    return migrated_sqlite(tmp_path / "errand.db")


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    opened = await open_store(db_url)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def host() -> Host:
    return Host()


@pytest.fixture
async def service(store: Store, clock: FakeClock, host: Host) -> AsyncIterator[PairingService]:
    pairing = PairingService(
        store, clock=clock, confirm=host.confirm, on_warning=host.warn, confirm_timeout=0.3
    )
    try:
        yield pairing
    finally:
        await pairing.aclose()


async def pair(service: PairingService, name: str = "Ana's phone") -> IssuedDevice:
    code = await service.new_code(BASE)
    claim = await service.claim(code.secret, name, "10.0.0.2")
    issued = await service.wait(claim.claim_id, claim.claim_token, timeout=5)
    assert issued is not None
    return issued


async def refused_code(service: PairingService, secret: str, code: str) -> None:
    with pytest.raises(PairingError) as info:
        await service.claim(secret, "phone", "10.0.0.9")
    assert info.value.code == code


async def test_a_confirmed_claim_issues_a_device_token_that_authenticates(
    service: PairingService, store: Store, host: Host, clock: FakeClock
) -> None:
    code = await service.new_code(BASE + "/")
    assert code.link == f"{BASE}/pair#v1.{code.secret}"
    assert len(code.secret) == 22
    claim = await service.claim(code.secret, "Ana's phone", "10.0.0.2")
    assert len(claim.confirmation) == 6 and claim.confirmation.isdigit()
    issued = await service.wait(claim.claim_id, claim.claim_token, timeout=5)
    assert issued is not None
    assert host.asked[0].device_name == "Ana's phone"
    assert host.asked[0].confirmation == claim.confirmation
    assert issued.device_token.startswith(f"errand_dev_{issued.device.id}_")
    principal = await authenticate(store, f"Bearer {issued.device_token}", clock=clock)
    assert principal is not None and principal.kind == "device"
    assert principal.name == "Ana's phone"


async def test_the_secret_from_the_link_fragment_is_accepted_with_its_version(
    service: PairingService,
) -> None:
    code = await service.new_code(BASE)
    claim = await service.claim(f"v1.{code.secret}", "phone", "10.0.0.2")
    assert await service.wait(claim.claim_id, claim.claim_token, timeout=5) is not None


async def test_the_device_token_is_handed_over_once(service: PairingService) -> None:
    code = await service.new_code(BASE)
    claim = await service.claim(code.secret, "phone", "10.0.0.2")
    assert await service.wait(claim.claim_id, claim.claim_token, timeout=5) is not None
    with pytest.raises(PairingError) as info:
        await service.wait(claim.claim_id, claim.claim_token, timeout=1)
    assert info.value.code == "pairing_used"


async def test_a_code_expires_after_five_minutes(service: PairingService, clock: FakeClock) -> None:
    code = await service.new_code(BASE)
    clock.advance(5 * 60)
    await refused_code(service, code.secret, "pairing_expired")
    clock.advance(-60)  # even if the clock steps back, an expired code stays expired
    await refused_code(service, code.secret, "pairing_expired")


async def test_a_code_works_once(service: PairingService) -> None:
    code = await service.new_code(BASE)
    claim = await service.claim(code.secret, "phone", "10.0.0.2")
    assert await service.wait(claim.claim_id, claim.claim_token, timeout=5) is not None
    await refused_code(service, code.secret, "pairing_used")


async def test_two_concurrent_claims_one_wins_then_both_are_refused_and_the_host_warned(
    service: PairingService, host: Host
) -> None:
    host.answer = None  # the host has not answered yet
    code = await service.new_code(BASE)
    results = await asyncio.gather(
        service.claim(code.secret, "phone", "10.0.0.2"),
        service.claim(code.secret, "attacker", "10.0.0.66"),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, PairingError)]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].code == "pairing_used"
    with pytest.raises(PairingError) as info:
        await service.wait(winners[0].claim_id, winners[0].claim_token, timeout=2)
    assert info.value.code == "pairing_refused"
    assert any("code used twice: leaked?" in w for w in host.warnings)


async def test_a_second_claim_while_the_host_decides_aborts_the_pairing(
    service: PairingService, host: Host
) -> None:
    host.answer = None
    code = await service.new_code(BASE)
    first = await service.claim(code.secret, "phone", "10.0.0.2")
    await refused_code(service, code.secret, "pairing_used")
    with pytest.raises(PairingError) as info:
        await service.wait(first.claim_id, first.claim_token, timeout=2)
    assert info.value.code == "pairing_refused"
    assert len(host.warnings) == 1


async def test_no_from_the_host_burns_the_code(service: PairingService, host: Host) -> None:
    host.answer = False
    code = await service.new_code(BASE)
    claim = await service.claim(code.secret, "phone", "10.0.0.2")
    with pytest.raises(PairingError) as info:
        await service.wait(claim.claim_id, claim.claim_token, timeout=5)
    assert info.value.code == "pairing_refused"
    await refused_code(service, code.secret, "pairing_used")


async def test_no_answer_in_time_burns_the_code(service: PairingService, host: Host) -> None:
    host.answer = None
    code = await service.new_code(BASE)
    claim = await service.claim(code.secret, "phone", "10.0.0.2")
    with pytest.raises(PairingError) as info:
        await service.wait(claim.claim_id, claim.claim_token, timeout=5)
    assert info.value.code == "pairing_refused"
    await refused_code(service, code.secret, "pairing_used")


async def test_wait_returns_none_while_the_host_has_not_decided(
    service: PairingService, store: Store, clock: FakeClock, host: Host
) -> None:
    host.answer = None
    slow = PairingService(
        store, clock=clock, confirm=host.confirm, on_warning=host.warn, confirm_timeout=30
    )
    try:
        code = await slow.new_code(BASE)
        claim = await slow.claim(code.secret, "phone", "10.0.0.2")
        assert await slow.wait(claim.claim_id, claim.claim_token, timeout=0.05) is None
        with pytest.raises(PairingError) as info:
            await slow.wait(claim.claim_id, "not-the-claim-token", timeout=0.05)
        assert info.value.code == "pairing_refused"
    finally:
        await slow.aclose()


async def test_an_auto_approve_code_skips_the_question(service: PairingService, host: Host) -> None:
    host.answer = False
    code = await service.new_code(BASE, auto_approve=True)
    claim = await service.claim(code.secret, "phone", "10.0.0.2")
    assert await service.wait(claim.claim_id, claim.claim_token, timeout=5) is not None
    assert host.asked == []


async def test_three_bad_secrets_burn_the_open_code(service: PairingService, host: Host) -> None:
    code = await service.new_code(BASE)
    for guess in ("A" * 22, "B" * 22, "short"):
        await refused_code(service, guess, "pairing_invalid")
    await refused_code(service, code.secret, "pairing_expired")
    assert host.warnings


async def test_three_burned_codes_lock_pairing_for_fifteen_minutes(
    service: PairingService, clock: FakeClock
) -> None:
    for _ in range(3):
        await service.new_code(BASE)
        for _ in range(3):
            await refused_code(service, "X" * 22, "pairing_invalid")
    await refused_code(service, "X" * 22, "pairing_locked")
    with pytest.raises(PairingError) as info:
        await service.new_code(BASE)
    assert info.value.code == "pairing_locked" and info.value.status == 429
    clock.advance(15 * 60)
    await pair(service)


async def test_pairing_failures_never_affect_paired_devices(
    service: PairingService, store: Store, clock: FakeClock
) -> None:
    issued = await pair(service)
    for _ in range(3):
        await service.new_code(BASE)
        for _ in range(3):
            await refused_code(service, "Y" * 22, "pairing_invalid")
    await refused_code(service, "Y" * 22, "pairing_locked")
    assert await authenticate(store, f"Bearer {issued.device_token}", clock=clock) is not None


async def test_a_burned_code_stays_burned_after_a_restart(
    db_url: str, clock: FakeClock, host: Host
) -> None:
    host.answer = False
    first = await open_store(db_url)
    service = PairingService(first, clock=clock, confirm=host.confirm, on_warning=host.warn)
    code = await service.new_code(BASE)
    claim = await service.claim(code.secret, "phone", "10.0.0.2")
    with pytest.raises(PairingError):
        await service.wait(claim.claim_id, claim.claim_token, timeout=5)
    await service.aclose()
    await first.aclose()
    second = await open_store(db_url)
    try:
        again = PairingService(second, clock=clock, confirm=host.confirm, on_warning=host.warn)
        await refused_code(again, code.secret, "pairing_used")
        await again.aclose()
    finally:
        await second.aclose()


async def test_the_device_limit_refuses_a_sixth_device(
    service: PairingService, clock: FakeClock
) -> None:
    for index in range(5):
        await pair(service, f"phone {index}")
    code = await service.new_code(BASE)
    with pytest.raises(PairingError) as info:
        await service.claim(code.secret, "phone 6", "10.0.0.2")
    assert info.value.code == "device_limit" and info.value.status == 409


async def test_a_bad_device_name_changes_nothing(service: PairingService) -> None:
    code = await service.new_code(BASE)
    for bad_name in ("   ", "phone\x00", "x" * 101):
        with pytest.raises(PairingError) as info:
            await service.claim(code.secret, bad_name, "10.0.0.2")
        assert info.value.code == "invalid_request"
    await pair_with(service, code.secret)


async def pair_with(service: PairingService, secret: str) -> None:
    claim = await service.claim(secret, "phone", "10.0.0.2")
    assert await service.wait(claim.claim_id, claim.claim_token, timeout=5) is not None


async def test_no_secret_reaches_the_log_or_a_repr(
    service: PairingService, store: Store, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code = await service.new_code(BASE)
    await refused_code(service, "Z" * 22, "pairing_invalid")
    claim = await service.claim(code.secret, "phone", "10.0.0.2")
    issued = await service.wait(claim.claim_id, claim.claim_token, timeout=5)
    assert issued is not None
    await authenticate(store, f"Bearer {issued.device_token}", clock=clock)
    secrets = [code.secret, claim.claim_token, issued.device_token.split("_", 3)[3]]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    shown = repr(code) + repr(claim) + repr(issued)
    assert caplog.records
    for secret in secrets:
        assert secret not in logged
        assert secret not in shown
