"""Health, pairing and the local admin call (docs/api.md "Health and pairing").

Pairing calls need no credential: the secret from the QR fragment is the credential, and
:class:`~errand.access.PairingService` enforces its rules (one claim, expiry,
lock-outs, the confirmation on the computer). ``POST /api/v1/admin/pairing-codes`` is how
``errand pair`` asks the running server for a fresh code: it needs the admin secret that
``errand serve`` wrote to ``server.json`` (owner-only), and is refused unless the request
came to a loopback name directly (no forwarding headers), whatever else it carries.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

import errand
from errand.access import PairingError
from errand.server.errors import ApiError
from errand.server.gateway import GatewayDep

# No Idempotency-Key here: a stored answer would keep the claim token (a secret) in the
# database. A retried claim of the same code is refused as "used", and the phone asks again.
router = APIRouter(prefix="/api/v1", tags=["pairing"])

WAIT_SECONDS = 25.0
_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")


class Health(BaseModel):
    status: str
    version: str


class Claim(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str = Field(min_length=1, max_length=200)
    device_name: str = Field(min_length=1, max_length=100)


class Claimed(BaseModel):
    claim_id: str
    claim_token: str
    confirmation: str
    expires_at: str


class WaitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim_token: str = Field(min_length=1, max_length=200)


class DeviceRef(BaseModel):
    id: str
    name: str


class Paired(BaseModel):
    device_token: str
    device: DeviceRef


class Pending(BaseModel):
    status: str = "pending"


class NewCode(BaseModel):
    link: str
    expires_at: str


@router.get("/health", response_model=Health)
async def health() -> Health:
    return Health(status="ok", version=errand.__version__)


@router.post(
    "/pair",
    status_code=202,
    response_model=Claimed,
)
async def claim_code(body: Claim, request: Request, gateway: GatewayDep) -> Claimed:
    """Claim the code from the QR; the computer then asks its owner to confirm."""
    client = request.client.host if request.client else "unknown"
    try:
        claim = await gateway.pairing.claim(body.secret, body.device_name, client)
    except PairingError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc
    return Claimed(
        claim_id=claim.claim_id,
        claim_token=claim.claim_token,
        confirmation=claim.confirmation,
        expires_at=claim.expires_at.isoformat(),
    )


@router.post(
    "/pair/{claim_id}/wait",
    response_model=Paired,
    responses={202: {"model": Pending, "description": "Not confirmed yet: poll again."}},
)
async def wait_for_confirmation(
    claim_id: str, body: WaitBody, gateway: GatewayDep
) -> Paired | JSONResponse:
    """Long-poll until the owner confirms (the device token, shown once) or refuses."""
    try:
        outcome = await gateway.pairing.wait(claim_id, body.claim_token, WAIT_SECONDS)
    except PairingError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc
    if outcome is None:
        return JSONResponse(Pending().model_dump(), status_code=202)
    return Paired(
        device_token=outcome.device_token,
        device=DeviceRef(id=outcome.device.id, name=outcome.device.name),
    )


async def _admin_only(
    request: Request,
    gateway: GatewayDep,
    x_errand_admin: Annotated[str | None, Header(max_length=200)] = None,
) -> None:
    """Let through only the CLI on this computer: the admin secret, sent to a loopback name
    from a loopback peer, with no forwarding or browser headers."""
    secret = gateway.config.admin_secret
    host = request.headers.get("host", "").lower()
    peer = request.client.host if request.client else ""
    if (
        secret is None
        or not _is_loopback(peer)
        or x_errand_admin is None
        or not hmac.compare_digest(x_errand_admin.encode(), secret.encode())
        or host not in gateway.config.admin_hosts
        or any(name in request.headers for name in _FORWARDING_HEADERS)
        or request.headers.get("origin") is not None
    ):
        raise ApiError(403, "forbidden", "Only the errand command on this computer may ask this.")


AdminOnly = Depends(_admin_only)


class WaitingPairing(BaseModel):
    """A phone waiting for the owner's confirmation. Its number is not here: the owner reads
    it from the phone, which binds the confirmation to that phone."""

    claim_id: str
    device_name: str
    client: str


class WaitingPairings(BaseModel):
    pairings: list[WaitingPairing]


class DecideBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirmation: str = Field(pattern=r"^\s*\d{3}\s?\d{3}\s*$")
    approve: bool = True


@router.post(
    "/admin/pairing-codes",
    response_model=NewCode,
    include_in_schema=False,
    dependencies=[AdminOnly],
)
async def new_pairing_code(gateway: GatewayDep) -> NewCode:
    """A fresh pairing code for ``errand pair`` on this computer; it withdraws every claim
    still waiting for confirmation."""
    try:
        code = await gateway.pairing.new_code(gateway.config.base_url)
    except PairingError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc
    return NewCode(link=code.link, expires_at=code.expires_at.isoformat())


@router.get(
    "/admin/pairings",
    response_model=WaitingPairings,
    include_in_schema=False,
    dependencies=[AdminOnly],
)
async def waiting_pairings(gateway: GatewayDep) -> WaitingPairings:
    """The phones waiting for confirmation (``errand devices pending``)."""
    return WaitingPairings(
        pairings=[
            WaitingPairing(claim_id=p.claim_id, device_name=p.device_name, client=p.client_id)
            for p in gateway.pairing.waiting()
        ]
    )


@router.post(
    "/admin/pairings/decide",
    response_model=WaitingPairing,
    include_in_schema=False,
    dependencies=[AdminOnly],
)
async def decide_pairing(body: DecideBody, gateway: GatewayDep) -> WaitingPairing:
    """Approve or refuse the waiting phone that shows this number (``errand devices
    approve NUMBER``)."""
    try:
        decided = await gateway.pairing.decide(body.confirmation, approve=body.approve)
    except PairingError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc
    if decided is None:
        raise ApiError(404, "not_found", "No phone waiting to pair shows that number.")
    return WaitingPairing(
        claim_id=decided.claim_id, device_name=decided.device_name, client=decided.client_id
    )


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
