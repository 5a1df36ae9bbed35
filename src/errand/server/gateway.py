"""What every route shares: the gateway's state and the dependencies that reach it.

One :class:`Gateway` lives on ``app.state.gateway`` for the app's life. Routes take it and
the caller's :class:`~errand.access.Principal` through FastAPI dependencies,
so a route that forgets authentication does not compile into the OpenAPI document with
its bearer requirement (and the fuzz tests would see it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from errand.access import PairingService, Principal, Scope, authenticate, still_valid
from errand.automation import Automation
from errand.intake import Intake, IntakeSettings
from errand.mcp import McpConfig
from errand.notify import Notifier
from errand.priority import Foreground
from errand.runner import TaskRunner
from errand.server.errors import ApiError
from errand.server.security import SecuritySettings
from errand.server.sse import StreamSettings, TaskListWatcher
from errand.server.task_views import TaskViews
from errand.store import ApprovalRecord, QuestionRecord, Store, TaskRecord


@dataclass(frozen=True)
class GatewayConfig:
    """How this gateway was started.

    ``base_url`` is where phones reach it (the QR link's base). ``intake`` says what new
    tasks get (default model, network rules and limits from ``errand.toml``, whether clients
    may name scripted models). ``admin_secret`` guards the local admin call ``errand pair``
    makes.
    """

    base_url: str
    security: SecuritySettings
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    streams: StreamSettings = field(default_factory=StreamSettings)
    admin_secret: str | None = None
    admin_hosts: frozenset[str] = frozenset()
    web_dir: Path | None = None
    exposed: bool = False
    mcp: McpConfig = field(default_factory=McpConfig)
    """The configured MCP servers (tasks use only those they name)."""


@dataclass(eq=False)
class Gateway:
    """The live state behind the routes (one per app)."""

    store: Store
    runner: TaskRunner
    intake: Intake
    pairing: PairingService
    config: GatewayConfig
    watcher: TaskListWatcher
    views: TaskViews
    automation: Automation
    foreground: Foreground
    """The requests being answered, which the runner's tasks let go first."""
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    notifier: Notifier | None = None
    """Sends notifications; None when this gateway sends none (the push routes say so)."""


async def get_gateway(request: Request) -> Gateway:
    # async, though it awaits nothing: FastAPI runs a plain function dependency on a worker
    # thread, and that hop was a tenth of every request's time.
    gateway = request.app.state.gateway
    assert isinstance(gateway, Gateway)
    return gateway


_bearer = HTTPBearer(auto_error=False, description="A device token or an API token.")


async def get_principal(
    request: Request,
    gateway: Annotated[Gateway, Depends(get_gateway)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller; 401 ``unauthorized`` without a valid, unrevoked token."""
    header = request.headers.get("authorization")
    principal = await authenticate(gateway.store, header) if header else None
    if principal is None:
        raise ApiError(
            401,
            "unauthorized",
            "Send a valid device or API token as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def credential_check(gateway: Gateway, principal: Principal) -> StillAllowedCheck:
    """A callable for streams: whether ``principal`` is still valid."""
    return StillAllowedCheck(gateway.store, principal)


@dataclass(frozen=True)
class StillAllowedCheck:
    store: Store
    principal: Principal

    async def __call__(self) -> bool:
        return await still_valid(self.store, self.principal)


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]


def scoped(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, who must hold ``scope`` (else 403 ``insufficient_scope``)."""

    async def dependency(principal: PrincipalDep) -> Principal:
        if not principal.allows(scope):
            raise ApiError(
                403, "insufficient_scope", f"This token lacks the {scope.value!r} permission."
            )
        return principal

    return dependency


TasksRead = Annotated[Principal, Depends(scoped(Scope.TASKS_READ))]
TasksWrite = Annotated[Principal, Depends(scoped(Scope.TASKS_WRITE))]
ApprovalsScope = Annotated[Principal, Depends(scoped(Scope.APPROVALS))]
DevicesScope = Annotated[Principal, Depends(scoped(Scope.DEVICES))]
SchedulesScope = Annotated[Principal, Depends(scoped(Scope.SCHEDULES))]
WebhooksScope = Annotated[Principal, Depends(scoped(Scope.WEBHOOKS))]
MaintenanceScope = Annotated[Principal, Depends(scoped(Scope.MAINTENANCE))]


class ClientsAnswer:
    """The runner's responder under the gateway: approvals and questions are answered by
    clients through the API (the phone, a script), so asking only has to be recorded, which
    the store did already. The agent loop then waits for the decision in the store."""

    async def approval_requested(self, approval: ApprovalRecord) -> None:
        return None

    async def question_asked(self, question: QuestionRecord) -> None:
        return None


def clients_answer(task: TaskRecord) -> ClientsAnswer:
    """``responder_factory`` for a runner behind the gateway."""
    return ClientsAnswer()
