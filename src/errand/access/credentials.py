"""Bearer credentials: their format, hashing, verification, and who they stand for.

A credential is ``errand_dev_<id>_<secret>`` (a paired device) or ``errand_tok_<id>_<secret>``
(an API token from ``errand tokens create``). ``<id>`` is a store id (no underscore), so
the first ``_`` after it ends it whatever the secret holds; ``<secret>`` is 256 random bits,
URL-safe base64. The store keeps only the SHA-256 of the secret; verification looks the
row up by id and compares hashes with ``hmac.compare_digest``. Secrets never appear in
logs, reprs or exception messages.

    principal = await authenticate(store, request.headers.get("authorization"))
    if principal is None: ...                     # 401
    while streaming:
        if not await still_valid(store, principal): ...   # close the stream
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal

from errand.store import AccessStore, Store, TokenRecord, looks_like_id, new_id

DEVICE_PREFIX = "errand_dev_"
TOKEN_PREFIX = "errand_tok_"  # noqa: S105 (a prefix, not a secret)
SECRET_BYTES = 32
DEVICE_INACTIVE_AFTER = timedelta(days=30)
"""A device unused this long stops working (checked when it authenticates)."""
LAST_SEEN_EVERY = timedelta(minutes=1)
"""``last_seen_at`` is written at most this often per credential."""
MAX_NAME = 100

Clock = Callable[[], float]
PrincipalKind = Literal["device", "token"]


class Scope(StrEnum):
    """What a credential may do. Devices hold ``DEVICE_SCOPES``; API tokens what they were given."""

    TASKS_READ = "tasks:read"
    TASKS_WRITE = "tasks:write"
    APPROVALS = "approvals"
    DEVICES = "devices"
    SCHEDULES = "schedules"
    WEBHOOKS = "webhooks"
    MAINTENANCE = "maintenance"


ALL_SCOPES: tuple[Scope, ...] = tuple(Scope)
DEVICE_SCOPES: tuple[Scope, ...] = tuple(
    scope for scope in Scope if scope not in (Scope.WEBHOOKS, Scope.MAINTENANCE)
)
"""A paired phone's scopes: everything but adding webhook endpoints, which only the owner
does (the CLI, or an API token given ``webhooks``), so a phone cannot aim Errand's requests,
and ``maintenance`` (pruning old tasks), the owner's too."""


class CredentialError(ValueError):
    """A credential cannot be made as asked (bad name or scope); the message says why."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request comes from: a paired device or an API token."""

    kind: PrincipalKind
    id: str
    name: str
    scopes: frozenset[Scope]

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes


@dataclass(frozen=True, slots=True)
class ParsedCredential:
    """A credential split into its parts; the secret is kept out of the repr."""

    kind: PrincipalKind
    id: str
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new API token: ``token`` is shown once, then only its hash exists."""

    record: TokenRecord
    token: str = field(repr=False)


def now_of(clock: Clock) -> datetime:
    """The clock's reading as an aware UTC datetime."""
    return datetime.fromtimestamp(clock(), UTC)


def new_secret() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str) -> str:
    """The SHA-256 (hex) the store keeps in place of ``secret``."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """True if ``secret`` hashes to ``stored_hash``, compared in constant time."""
    return hmac.compare_digest(hash_secret(secret).encode("ascii"), stored_hash.encode("ascii"))


def format_credential(kind: PrincipalKind, credential_id: str, secret: str) -> str:
    prefix = DEVICE_PREFIX if kind == "device" else TOKEN_PREFIX
    return f"{prefix}{credential_id}_{secret}"


def parse_credential(text: str) -> ParsedCredential | None:
    """Split ``errand_dev_<id>_<secret>`` / ``errand_tok_<id>_<secret>``; None if malformed."""
    kind: PrincipalKind
    if text.startswith(DEVICE_PREFIX):
        kind, rest = "device", text.removeprefix(DEVICE_PREFIX)
    elif text.startswith(TOKEN_PREFIX):
        kind, rest = "token", text.removeprefix(TOKEN_PREFIX)
    else:
        return None
    credential_id, sep, secret = rest.partition("_")
    if not sep or not looks_like_id(credential_id) or not 16 <= len(secret) <= 128:
        return None
    return ParsedCredential(kind=kind, id=credential_id, secret=secret)


def parse_bearer(header: str | None) -> ParsedCredential | None:
    """The credential in an ``Authorization: Bearer <credential>`` value; None if absent."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return parse_credential(value.strip())


def parse_scopes(names: Iterable[str]) -> tuple[Scope, ...]:
    """Scopes by name, in order, without repeats; none given means all of them.

    Raises:
        CredentialError: an unknown scope name.
    """
    chosen: list[Scope] = []
    for name in names:
        try:
            scope = Scope(name)
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise CredentialError(f"unknown scope {name!r}; choose from {known}") from None
        if scope not in chosen:
            chosen.append(scope)
    return tuple(chosen) if chosen else ALL_SCOPES


async def create_token(
    store: Store, name: str, scopes: Iterable[str] = (), *, clock: Clock = time.time
) -> IssuedToken:
    """Make an API token; only its hash is stored.

    Raises:
        CredentialError: empty or over-long name, or an unknown scope.
    """
    name = name.strip()
    if not 0 < len(name) <= MAX_NAME:
        raise CredentialError(f"a token needs a name of 1 to {MAX_NAME} characters")
    chosen = parse_scopes(scopes)
    token_id, secret = new_id(), new_secret()
    record = await AccessStore(store).add_token(
        token_id,
        name=name,
        secret_hash=hash_secret(secret),
        scopes=tuple(s.value for s in chosen),
        now=now_of(clock),
    )
    return IssuedToken(record=record, token=format_credential("token", token_id, secret))


async def authenticate(
    store: Store, authorization: str | None, *, clock: Clock = time.time
) -> Principal | None:
    """The principal behind an ``Authorization`` header value, or None if it grants nothing.

    Refuses malformed values, unknown ids, wrong secrets, revoked credentials and devices
    unused for ``DEVICE_INACTIVE_AFTER``. Records use (``last_seen_at``) at most once a
    minute. Says nothing about *why* it refused: callers answer 401 either way.
    """
    parsed = parse_bearer(authorization)
    if parsed is None:
        return None
    access, now = AccessStore(store), now_of(clock)
    if parsed.kind == "device":
        found = await access.device_secret_hash(parsed.id)
        if found is None:
            return None
        device, stored_hash = found
        if not secret_matches(parsed.secret, stored_hash):
            return None
        if device.revoked_at is not None or device.is_expired(now, DEVICE_INACTIVE_AFTER):
            return None
        if now - device.last_seen_at >= LAST_SEEN_EVERY:
            await access.touch_device(device.id, now=now, every=LAST_SEEN_EVERY)
        return Principal("device", device.id, device.name, frozenset(DEVICE_SCOPES))
    found_token = await access.token_secret_hash(parsed.id)
    if found_token is None:
        return None
    token, stored_hash = found_token
    if not secret_matches(parsed.secret, stored_hash) or token.revoked_at is not None:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_SEEN_EVERY:
        await access.touch_token(token.id, now=now, every=LAST_SEEN_EVERY)
    return Principal("token", token.id, token.name, frozenset(_known_scopes(token.scopes)))


async def still_valid(store: Store, principal: Principal, *, clock: Clock = time.time) -> bool:
    """True while ``principal``'s credential still works (one primary-key read).

    Open streams call this every second: a revocation from any process (the ``errand
    devices revoke`` command included) closes them within that second.
    """
    access = AccessStore(store)
    if principal.kind == "device":
        device = await access.get_device(principal.id)
        return (
            device is not None
            and device.revoked_at is None
            and not device.is_expired(now_of(clock), DEVICE_INACTIVE_AFTER)
        )
    found = await access.token_secret_hash(principal.id)
    return found is not None and found[0].revoked_at is None


_SCOPE_NAMES = frozenset(scope.value for scope in Scope)


def _known_scopes(names: Iterable[str]) -> list[Scope]:
    # A scope this version does not know (written by a newer Errand) grants nothing.
    return [Scope(name) for name in names if name in _SCOPE_NAMES]
