"""Notifications on this device (docs/api.md "Notifications").

A paired device gives the gateway its Web Push subscription (the endpoint its browser's
push service made, and the keys to encrypt for it), chooses which kinds of news it wants,
and says while the app is open and visible (then it gets no push; the app shows the news
itself). Only devices have subscriptions: an API token gets 403 ``device_only``. The
endpoint is checked before it is stored: https on a known push service only.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from errand.access import Principal
from errand.notify import KINDS, EndpointRefused, Notifier, check_push_endpoint
from errand.server.errors import ApiError
from errand.server.gateway import DevicesScope, Gateway, GatewayDep
from errand.server.idempotency import IdempotentRoute, idempotent
from errand.store import PushStore, SubscriptionRecord

router = APIRouter(prefix="/api/v1", route_class=IdempotentRoute, tags=["notifications"])
_idempotent = [Depends(idempotent)]


class PushState(BaseModel):
    available: bool
    """False when Web Push is turned off on the computer (``[notify] web_push = false``)."""
    public_key: str | None
    """The VAPID public key, URL-safe base64: the app's ``applicationServerKey``."""
    subscribed: bool
    kinds: list[str]
    all_kinds: list[str] = list(KINDS)


class SubscriptionKeys(BaseModel):
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=64)


class SubscriptionBody(BaseModel):
    """``PushSubscription.toJSON()`` from the browser, and optionally the kinds wanted."""

    endpoint: str = Field(max_length=1000)
    keys: SubscriptionKeys
    kinds: list[str] | None = Field(default=None, max_length=len(KINDS))


class KindsBody(BaseModel):
    kinds: list[str] = Field(max_length=len(KINDS))


class PresenceBody(BaseModel):
    visible: bool


def _device(principal: Principal) -> str:
    if principal.kind != "device":
        raise ApiError(403, "device_only", "Only a paired device can receive notifications.")
    return principal.id


def _web_push(gateway: Gateway) -> Notifier:
    notifier = gateway.notifier
    if notifier is None or notifier.web_push is None:
        raise ApiError(
            404, "push_unavailable", "Web Push is turned off on the computer ([notify] web_push)."
        )
    return notifier


def _kinds(kinds: list[str] | None) -> set[str]:
    if kinds is None:
        return set(KINDS)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ApiError(
            400, "invalid_kinds", f"Unknown kind {unknown[0]!r}; choose from {', '.join(KINDS)}."
        )
    return set(kinds)


def _state(gateway: Gateway, sub: SubscriptionRecord | None) -> PushState:
    notifier = gateway.notifier
    push = notifier.web_push if notifier is not None else None
    return PushState(
        available=push is not None,
        public_key=push.key.public_key if push is not None else None,
        subscribed=sub is not None,
        kinds=sorted(sub.kinds) if sub is not None else [],
    )


@router.get("/push", response_model=PushState)
async def push_state(gateway: GatewayDep, principal: DevicesScope) -> PushState:
    """Whether this device gets pushes, which kinds, and the key to subscribe with."""
    sub = await PushStore(gateway.store).subscription_of(_device(principal))
    return _state(gateway, sub)


@router.put("/push/subscription", response_model=PushState, dependencies=_idempotent)
async def subscribe(
    body: SubscriptionBody, gateway: GatewayDep, principal: DevicesScope
) -> PushState:
    """Store this device's subscription (replacing the one it had)."""
    device_id = _device(principal)
    notifier = _web_push(gateway)
    try:
        endpoint = check_push_endpoint(body.endpoint, extra_origins=notifier.push_services)
    except EndpointRefused as exc:
        raise ApiError(400, "push_endpoint_refused", str(exc)) from exc
    if _decoded_length(body.keys.p256dh) != 65 or _decoded_length(body.keys.auth) != 16:
        raise ApiError(
            400, "invalid_push_keys", "The subscription's keys are not a P-256 key and a secret."
        )
    sub = await PushStore(gateway.store).save_subscription(
        device_id,
        endpoint=endpoint,
        p256dh=body.keys.p256dh,
        auth=body.keys.auth,
        kinds=_kinds(body.kinds),
        now=datetime.now(UTC),
    )
    return _state(gateway, sub)


@router.put("/push/kinds", response_model=PushState, dependencies=_idempotent)
async def choose_kinds(body: KindsBody, gateway: GatewayDep, principal: DevicesScope) -> PushState:
    """Turn kinds of news on and off for this device."""
    device_id = _device(principal)
    store = PushStore(gateway.store)
    if not await store.set_kinds(device_id, _kinds(body.kinds)):
        raise ApiError(404, "not_subscribed", "This device has no notifications turned on.")
    return _state(gateway, await store.subscription_of(device_id))


@router.delete(
    "/push/subscription", status_code=204, response_class=Response, dependencies=_idempotent
)
async def unsubscribe(gateway: GatewayDep, principal: DevicesScope) -> Response:
    """Stop pushes to this device."""
    await PushStore(gateway.store).remove_subscription(_device(principal))
    return Response(status_code=204)


@router.put("/push/presence", status_code=204, response_class=Response)
async def presence(body: PresenceBody, gateway: GatewayDep, principal: DevicesScope) -> Response:
    """Say whether the app is open and visible on this device (repeat every 30 s while so)."""
    device_id = _device(principal)
    if gateway.notifier is not None:
        gateway.notifier.presence.mark(device_id, visible=body.visible)
    return Response(status_code=204)


def _decoded_length(value: str) -> int:
    try:
        return len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError):
        return -1
