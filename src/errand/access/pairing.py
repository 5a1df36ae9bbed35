"""Pairing a phone: one-time codes, claims, the host's confirmation, device tokens.

The flow (PAIRING.md): the host makes a code (``new_code``), shown as a QR of
``<base-url>/pair#v1.<secret>``; the phone posts the secret (``claim``) and gets a claim id,
a claim token and a 6-digit confirmation number; the host is asked ``confirm(pending)``;
the phone long-polls ``wait`` and, once the host said yes, receives its device token once.

Rules, enforced through the store so they survive restarts:

* a code is 128 random bits, valid ``CODE_TTL``; only its SHA-256 is stored;
* the first claim wins through a conditional update (``state = 'open'``); a second claim of
  the same code burns it, refuses the first claimant too and warns the host;
* ``BAD_SECRETS_TO_BURN`` wrong secrets burn the open code; every ``BURNS_TO_LOCK``-th burn
  in a row locks pairing for ``LOCK_FOR``; paired devices are never affected;
* no answer within the confirmation timeout, or No, burns the code;
* a burned or expired code never works again.

Secrets (codes, claim tokens, device tokens) never reach a log, a repr or an exception.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from errand.access.credentials import (
    DEVICE_INACTIVE_AFTER,
    Clock,
    format_credential,
    hash_secret,
    new_secret,
    now_of,
    secret_matches,
)
from errand.store import (
    AccessStore,
    CodeState,
    DeviceLimitReached,
    DeviceRecord,
    PairingCodeRecord,
    Store,
    new_id,
)

log = logging.getLogger(__name__)

CODE_TTL = timedelta(minutes=5)
CONFIRM_TIMEOUT_S = 60.0
BAD_SECRETS_TO_BURN = 3
BURNS_TO_LOCK = 3
LOCK_FOR = timedelta(minutes=15)
DEFAULT_MAX_DEVICES = 5
MAX_WAIT_S = 25.0
UNCOLLECTED_TTL_S = 600.0
_CARRY_OUT_S = 10.0
"""A decided claim whose phone never collects the answer is forgotten after this long."""
LINK_VERSION = "v1"
USED_TWICE_WARNING = (
    "Pairing code used twice: leaked? The pairing was stopped; "
    "make a new code with `errand pair` and keep the QR code to yourself."
)
_SECRET_SHAPE = re.compile(r"^[A-Za-z0-9_-]{22}$")
_MAX_DEVICE_NAME = 100
# Burned by a claim that got that far: for the phone, "the code was used already".
_CLAIMED_REASONS = frozenset({"used_twice", "refused", "timeout", "device_limit"})


class PairingError(Exception):
    """A refused pairing step; ``code`` and ``status`` are the API's (docs/api.md)."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class NewCode:
    """A fresh pairing code. ``link`` holds the secret: show it, never log it."""

    code_id: str
    link: str = field(repr=False)
    secret: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PendingPairing:
    """What the host is asked to confirm (no secrets)."""

    claim_id: str
    device_name: str
    confirmation: str
    client_id: str


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim the phone holds while the host decides; ``claim_token`` proves it is the phone."""

    claim_id: str
    claim_token: str = field(repr=False)
    confirmation: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class IssuedDevice:
    """The new device and its token, handed over once."""

    device: DeviceRecord
    device_token: str = field(repr=False)


Confirm = Callable[[PendingPairing], Awaitable[bool]]
Warn = Callable[[str], None]


@dataclass(slots=True)
class _Pending:
    """A claim this process is confirming; lives until its result is collected."""

    code_id: str
    claim_token_hash: str = field(repr=False)
    info: PendingPairing
    decided_elsewhere: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    """Set by :meth:`PairingService.decide` (``errand devices approve`` from any terminal)."""
    done: asyncio.Event = field(default_factory=asyncio.Event)
    issued: IssuedDevice | None = None
    refusal: PairingError | None = None
    task: asyncio.Task[None] | None = None
    finished_at: float | None = None


class PairingService:
    """The pairing flow over the store. One per gateway; close with ``aclose``.

    ``confirm`` asks the host (``serve`` shows ``Pair "<name>"? [y/N]`` with the number);
    ``on_warning`` tells the host something suspicious happened. ``clock`` decides expiry
    and lockout; the confirmation timeout is real time.
    """

    def __init__(
        self,
        store: Store,
        *,
        confirm: Confirm,
        on_warning: Warn,
        clock: Clock = time.time,
        max_devices: int = DEFAULT_MAX_DEVICES,
        confirm_timeout: float = CONFIRM_TIMEOUT_S,
    ) -> None:
        self._access = AccessStore(store)
        self._confirm = confirm
        self._warn = on_warning
        self._clock = clock
        self._max_devices = max_devices
        self._confirm_timeout = confirm_timeout
        self._pending: dict[str, _Pending] = {}

    async def new_code(self, base_url: str, *, auto_approve: bool = False) -> NewCode:
        """Open a new code (closing any other open one) and return its link.

        ``auto_approve`` skips the host's confirmation: only for a code the user just made
        explicitly for that.

        Raises:
            PairingError: ``pairing_locked`` while pairing is locked.
        """
        now = self._now()
        await self._refuse_if_locked(now)
        secret, code_id = secrets.token_urlsafe(16), new_id()
        expires_at = now + CODE_TTL
        await self._access.expire_open_codes(now=now)
        await self._withdraw_unconfirmed(now)
        await self._access.add_code(
            code_id,
            secret_hash=hash_secret(secret),
            auto_approve=auto_approve,
            now=now,
            expires_at=expires_at,
        )
        log.info("pairing code %s opened until %s", code_id, expires_at.isoformat())
        link = f"{base_url.rstrip('/')}/pair#{LINK_VERSION}.{secret}"
        return NewCode(code_id=code_id, link=link, secret=secret, expires_at=expires_at)

    async def claim(self, secret: str, device_name: str, client_id: str) -> Claim:
        """Claim the code ``secret`` for a device called ``device_name``.

        ``client_id`` says who asked (the peer address) for the host's records only.

        Raises:
            PairingError: ``invalid_request`` (bad device name), ``pairing_locked``,
                ``pairing_invalid``, ``pairing_expired``, ``pairing_used``, ``device_limit``.
        """
        name = " ".join(device_name.split())
        if not 0 < len(name) <= _MAX_DEVICE_NAME or not name.isprintable():
            raise PairingError(
                "invalid_request",
                f"device_name must be 1 to {_MAX_DEVICE_NAME} printable characters",
                422,
            )
        self._forget_uncollected()
        now = self._now()
        await self._refuse_if_locked(now)
        secret = secret.strip().removeprefix(f"{LINK_VERSION}.")
        code = (
            await self._access.code_by_hash(hash_secret(secret))
            if _SECRET_SHAPE.match(secret)
            else None
        )
        if code is None:
            await self._count_bad_secret(now)
            raise PairingError("pairing_invalid", "This pairing code is not valid.", 400)
        if code.state == CodeState.OPEN and now >= code.expires_at:
            await self._access.expire_code(code.id, now=now)
            raise _expired()
        if code.state != CodeState.OPEN:
            await self._refuse_claimed(code, now)
        if (
            await self._access.count_active_devices(now=now, inactive_after=DEVICE_INACTIVE_AFTER)
            >= self._max_devices
        ):
            raise _device_limit(self._max_devices)
        claim_id, claim_token = new_id(), new_secret()
        confirmation = f"{secrets.randbelow(1_000_000):06d}"
        won = await self._access.claim_code(
            code.id,
            claim_id=claim_id,
            claim_token_hash=hash_secret(claim_token),
            device_name=name,
            client_id=client_id[:200],
            confirmation=confirmation,
            now=now,
        )
        if not won:
            latest = await self._access.code_by_hash(hash_secret(secret))
            assert latest is not None
            if latest.state == CodeState.OPEN:
                raise _expired()
            await self._refuse_claimed(latest, now)
        info = PendingPairing(claim_id, name, confirmation, client_id)
        pending = _Pending(code_id=code.id, claim_token_hash=hash_secret(claim_token), info=info)
        self._pending[claim_id] = pending
        log.info("pairing code %s claimed by %r (%s)", code.id, name, client_id)
        pending.task = asyncio.create_task(
            self._decide(pending, info, auto_approve=code.auto_approve),
            name=f"pairing-confirm-{claim_id}",
        )
        return Claim(
            claim_id, claim_token, confirmation, now + timedelta(seconds=self._confirm_timeout)
        )

    async def wait(self, claim_id: str, claim_token: str, timeout: float) -> IssuedDevice | None:
        """Wait up to ``timeout`` seconds (at most ``MAX_WAIT_S``) for the host's decision.

        Returns the new device and its token (once: a second call gets ``pairing_used``),
        or None while the host has not decided.

        Raises:
            PairingError: ``pairing_refused`` (No, no answer, code burned, unknown claim or
                wrong claim token), ``pairing_used``, ``device_limit``.
        """
        pending = self._pending.get(claim_id)
        if pending is None or not secret_matches(claim_token, pending.claim_token_hash):
            code = await self._access.code_by_claim(claim_id)
            if (
                pending is None
                and code is not None
                and code.claim_token_hash is not None
                and secret_matches(claim_token, code.claim_token_hash)
                and code.state == CodeState.APPROVED
            ):
                raise PairingError("pairing_used", "This device token was handed out already.", 410)
            raise _refused()
        try:
            await asyncio.wait_for(pending.done.wait(), max(0.0, min(timeout, MAX_WAIT_S)))
        except TimeoutError:
            code = await self._access.code_by_claim(claim_id)
            if code is None or code.state != CodeState.BURNED:
                return None
            self._finish(pending, refusal=_refused())
        if pending.refusal is not None:
            self._pending.pop(claim_id, None)
            raise pending.refusal
        assert pending.issued is not None
        self._pending.pop(claim_id, None)
        return pending.issued

    def waiting(self) -> list[PendingPairing]:
        """The claims waiting for the owner's confirmation, oldest first."""
        return [p.info for p in self._pending.values() if not p.done.is_set()]

    async def decide(self, confirmation: str, *, approve: bool) -> PendingPairing | None:
        """Decide the one waiting claim whose phone shows ``confirmation`` (the owner typed
        the number from the phone, so the decision is bound to that phone's claim) and wait
        until it is carried out.

        Returns the claim decided, or None when no waiting claim shows that number.

        Raises:
            PairingError: approved, but the device could not be issued (``device_limit``,
                or the claim was withdrawn meanwhile: ``pairing_refused``).
        """
        number = "".join(confirmation.split())
        for pending in list(self._pending.values()):
            if (
                not pending.done.is_set()
                and not pending.decided_elsewhere.done()
                and hmac.compare_digest(pending.info.confirmation.encode(), number.encode())
            ):
                pending.decided_elsewhere.set_result(approve)
                await asyncio.wait_for(pending.done.wait(), _CARRY_OUT_S)
                if approve and pending.refusal is not None:
                    raise pending.refusal
                return pending.info
        return None

    async def aclose(self) -> None:
        """Stop every confirmation still waiting for the host."""
        tasks = [p.task for p in self._pending.values() if p.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pending.clear()

    # -- steps -----------------------------------------------------------------------------

    async def _decide(self, pending: _Pending, info: PendingPairing, *, auto_approve: bool) -> None:
        """Ask the host, then issue the device or burn the code."""
        reason = "refused"
        try:
            if auto_approve:
                approved = True
            else:
                approved = await self._ask_host(pending, info)
        except TimeoutError:
            approved, reason = False, "timeout"
        except Exception:
            log.exception("asking the host to confirm pairing %s failed", info.claim_id)
            approved = False
        if pending.done.is_set():
            return
        now = self._now()
        if not approved:
            await self._burn(pending.code_id, (CodeState.CLAIMED,), reason, now)
            log.info("pairing %s for %r %s", info.claim_id, info.device_name, reason)
            self._finish(pending, refusal=_refused())
            return
        device_id, secret = new_id(), new_secret()
        try:
            device = await self._access.approve_code(
                pending.code_id,
                device_id=device_id,
                device_name=info.device_name,
                secret_hash=hash_secret(secret),
                now=now,
                max_devices=self._max_devices,
                inactive_after=DEVICE_INACTIVE_AFTER,
            )
        except DeviceLimitReached:
            await self._burn(pending.code_id, (CodeState.CLAIMED,), "device_limit", now)
            self._finish(pending, refusal=_device_limit(self._max_devices))
            return
        if device is None:
            self._finish(pending, refusal=_refused())
            return
        log.info("paired device %s (%r)", device.id, device.name)
        token = format_credential("device", device_id, secret)
        self._finish(pending, issued=IssuedDevice(device=device, device_token=token))

    async def _ask_host(self, pending: _Pending, info: PendingPairing) -> bool:
        """The first answer from the terminal prompt or from :meth:`decide`; the other is
        withdrawn. Raises TimeoutError when neither came in time."""
        prompt = asyncio.ensure_future(self._confirm(info))
        try:
            done, _ = await asyncio.wait(
                {prompt, pending.decided_elsewhere},
                timeout=self._confirm_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            prompt.cancel()
            await asyncio.gather(prompt, return_exceptions=True)
        if pending.decided_elsewhere in done:
            return pending.decided_elsewhere.result()
        if prompt in done:
            return prompt.result()
        raise TimeoutError

    async def _withdraw_unconfirmed(self, now: datetime) -> None:
        """A new code replaces every claim still waiting for confirmation, so an old claim
        (say, of the start-up QR code) can never be confirmed after the owner moved on."""
        for pending in list(self._pending.values()):
            if pending.done.is_set():
                continue
            if pending.task is not None:
                pending.task.cancel()
            await self._access.withdraw_claim(pending.code_id, now=now)
            self._finish(pending, refusal=_refused())
            log.info("pairing %s withdrawn by a new code", pending.info.claim_id)

    async def _refuse_claimed(self, code: PairingCodeRecord, now: datetime) -> None:
        """Answer a claim of a code that is not open; a second claim burns it."""
        if code.state == CodeState.CLAIMED:
            await self._burn(code.id, (CodeState.CLAIMED,), "used_twice", now)
            for pending in self._pending.values():
                if pending.code_id == code.id:
                    if pending.task is not None:
                        pending.task.cancel()
                    self._finish(pending, refusal=_refused())
            log.warning("pairing code %s claimed twice; pairing stopped", code.id)
            self._warn(USED_TWICE_WARNING)
        elif code.state == CodeState.APPROVED:
            log.warning("pairing code %s claimed again after it paired a device", code.id)
            self._warn(USED_TWICE_WARNING)
        elif code.state == CodeState.EXPIRED or code.reason not in _CLAIMED_REASONS:
            raise _expired()
        raise PairingError("pairing_used", "This pairing code was used already.", 410)

    async def _count_bad_secret(self, now: datetime) -> None:
        burned = await self._access.count_bad_secret(
            now=now, burn_after=BAD_SECRETS_TO_BURN, lock_after=BURNS_TO_LOCK, lock_for=LOCK_FOR
        )
        if burned:
            log.warning("pairing code burned after %d wrong secrets", BAD_SECRETS_TO_BURN)
            self._warn(
                f"Someone sent {BAD_SECRETS_TO_BURN} wrong pairing codes; the open code is "
                "burned. Make a new one with `errand pair`."
            )
            await self._warn_if_locked(now)

    async def _burn(
        self, code_id: str, states: tuple[str, ...], reason: str, now: datetime
    ) -> None:
        burned = await self._access.burn_code(
            code_id,
            from_states=states,
            reason=reason,
            now=now,
            lock_after=BURNS_TO_LOCK,
            lock_for=LOCK_FOR,
        )
        if burned:
            await self._warn_if_locked(now)

    async def _warn_if_locked(self, now: datetime) -> None:
        until = await self._access.pairing_locked_until(now=now)
        if until is not None:
            log.warning("pairing locked until %s", until.isoformat())
            self._warn(
                f"{BURNS_TO_LOCK} pairings failed in a row; pairing is locked until "
                f"{until.astimezone().strftime('%H:%M')}."
            )

    async def _refuse_if_locked(self, now: datetime) -> None:
        if await self._access.pairing_locked_until(now=now) is not None:
            raise PairingError(
                "pairing_locked", "Too many failed pairings; try again in 15 minutes.", 429
            )

    def _finish(
        self,
        pending: _Pending,
        *,
        issued: IssuedDevice | None = None,
        refusal: PairingError | None = None,
    ) -> None:
        if pending.done.is_set():
            return
        pending.issued, pending.refusal = issued, refusal
        pending.finished_at = time.monotonic()
        pending.done.set()

    def _forget_uncollected(self) -> None:
        """Drop decided claims nobody came back for, so memory stays bounded."""
        horizon = time.monotonic() - UNCOLLECTED_TTL_S
        stale = [
            claim_id
            for claim_id, pending in self._pending.items()
            if pending.finished_at is not None and pending.finished_at < horizon
        ]
        for claim_id in stale:
            del self._pending[claim_id]

    def _now(self) -> datetime:
        return now_of(self._clock)


def _expired() -> PairingError:
    return PairingError("pairing_expired", "This pairing code expired; make a new one.", 410)


def _refused() -> PairingError:
    return PairingError("pairing_refused", "The computer did not approve this pairing.", 403)


def _device_limit(limit: int) -> PairingError:
    return PairingError(
        "device_limit",
        f"{limit} devices are paired already; revoke one with `errand devices revoke`.",
        409,
    )
