"""``POST /hooks/{name}``: an inbound hook (docs/api.md "Inbound hooks").

Not behind a bearer token: the Standard Webhooks signature is the credential. The body is
read raw (its bytes are what was signed) within the gateway's body limit, and every
refusal for an unknown hook or a bad or stale signature has the same status and body.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from errand.server.gateway import GatewayDep

router = APIRouter(tags=["hooks"])


@router.post(
    "/hooks/{name}",
    status_code=202,
    responses={
        202: {"description": 'The task started: {"task_id": "..."}'},
        401: {"description": "Unknown hook, or a missing, wrong or stale signature."},
        409: {"description": "The first delivery of this webhook-id is still being handled."},
        422: {"description": "The hook's task could not be started."},
        429: {"description": "Too many deliveries to this hook."},
    },
)
async def receive_hook(name: str, request: Request, gateway: GatewayDep) -> JSONResponse:
    """Start the hook's task with the payload attached as an untrusted document."""
    body = await request.body()
    answer = await gateway.automation.hooks.receive(name, dict(request.headers), body)
    return JSONResponse(dict(answer.body), status_code=answer.status)
