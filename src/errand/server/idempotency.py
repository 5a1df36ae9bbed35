"""``Idempotency-Key``: a retried POST or DELETE acts once and gets the first answer.

Routers that change state use :class:`IdempotentRoute`. For a request with the header it

1. holds an in-process lock for (credential, key), so two copies in flight run one at a time;
2. lets the route's dependencies authenticate the caller, then (dependency
   :func:`idempotent`) looks the key up in the store under the caller's id; a
   stored answer is replayed, a key reused with a different request is ``422
   idempotency_key_reused``;
3. otherwise runs the route and stores its answer (any status below 500, refusals too:
   the retry of a refused request is refused the same way).

The fingerprint is SHA-256 over method, path and body, so the same key on another call
is a different request. Keys live 24 hours (the store drops older ones).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from errand.server.errors import ApiError, error_response, store_error
from errand.server.gateway import PrincipalDep
from errand.store import AccessStore, IdempotencyKeyReused, JsonValue, StoreError

MAX_KEY_LENGTH = 200
_LOCKS_MAX = 10_000


@dataclass(frozen=True)
class _Pending:
    principal_id: str
    key: str
    fingerprint: str


class _Replay(Exception):
    def __init__(self, status: int, body: JsonValue) -> None:
        super().__init__("replay")
        self.status = status
        self.body = body


async def recall_first_answer(
    request: Request,
    principal_id: str,
    idempotency_key: str | None,
) -> None:
    """Replay the stored answer for this key, or mark the request for storing its answer.

    Raises:
        ApiError: 422 ``idempotency_key_reused`` or ``invalid_idempotency_key``.
    """
    if not idempotency_key:
        return
    key = idempotency_key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(
            422, "invalid_idempotency_key", "Idempotency-Key must be 1 to 200 printable characters."
        )
    body = await request.body()
    fingerprint = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
    ).hexdigest()
    access = AccessStore(request.app.state.gateway.store)
    try:
        stored = await access.recall(principal_id, key, fingerprint, now=datetime.now(UTC))
    except IdempotencyKeyReused as exc:
        raise ApiError(422, exc.code, str(exc).capitalize() + ".") from exc
    if stored is not None:
        raise _Replay(stored.status, stored.body)
    request.state.idempotency = _Pending(principal_id, key, fingerprint)


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=MAX_KEY_LENGTH,
        description="A retry with the same key and body returns the first answer and acts once.",
    ),
]


async def idempotent(
    request: Request, principal: PrincipalDep, idempotency_key: IdempotencyKeyHeader = None
) -> None:
    """The dependency of every POST and DELETE route: :func:`recall_first_answer` for the
    authenticated caller."""
    await recall_first_answer(request, principal.id, idempotency_key)


class IdempotentRoute(APIRoute):
    """An API route whose POST and DELETE answers are stored under ``Idempotency-Key``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def idempotent_handler(request: Request) -> Response:
            key = request.headers.get("idempotency-key")
            if request.method not in ("POST", "DELETE") or not key:
                return await handler(request)
            scope = hashlib.sha256(request.headers.get("authorization", "").encode()).hexdigest()
            lock = _lock_for(request, (scope, key))
            async with lock:
                try:
                    response = await handler(request)
                except _Replay as replay:
                    return _replayed(replay.status, replay.body)
                except ApiError as exc:
                    response = error_response(
                        exc.status, exc.code, exc.message, headers=exc.headers
                    )
                except StoreError as exc:
                    api = store_error(exc)
                    response = error_response(api.status, api.code, api.message)
                pending = getattr(request.state, "idempotency", None)
                if isinstance(pending, _Pending) and response.status_code < 500:
                    await _remember(request, pending, response)
                return response

        return idempotent_handler


def _lock_for(request: Request, name: tuple[str, str]) -> asyncio.Lock:
    # Kept per app (not per module): locks belong to the event loop the app serves on.
    locks: dict[tuple[str, str], asyncio.Lock] | None = getattr(
        request.app.state, "idempotency_locks", None
    )
    if locks is None:
        locks = request.app.state.idempotency_locks = {}
    lock = locks.get(name)
    if lock is None:
        if len(locks) >= _LOCKS_MAX:
            for stale, held in list(locks.items()):
                if not held.locked():
                    del locks[stale]
        lock = locks[name] = asyncio.Lock()
    return lock


async def _remember(request: Request, pending: _Pending, response: Response) -> None:
    body: JsonValue = None
    raw = bytes(response.body) if hasattr(response, "body") else b""
    if raw:
        try:
            body = json.loads(raw)
        except ValueError:
            return  # not a JSON answer: nothing sensible to replay
    access = AccessStore(request.app.state.gateway.store)
    await access.remember(
        pending.principal_id,
        pending.key,
        pending.fingerprint,
        status=response.status_code,
        body=body,
        now=datetime.now(UTC),
    )


def _replayed(status: int, body: JsonValue) -> Response:
    if body is None:
        return Response(status_code=status, headers={"Idempotent-Replayed": "true"})
    return JSONResponse(body, status_code=status, headers={"Idempotent-Replayed": "true"})
