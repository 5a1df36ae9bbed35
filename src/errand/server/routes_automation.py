"""Schedules and outbound webhooks (docs/api.md "Schedules", "Webhooks").

Schedules need the ``schedules`` permission (phones have it); webhook endpoints need
``webhooks``, which paired phones do not hold: only the owner's API tokens add endpoints,
and never ones on private addresses (that takes ``errand webhooks add --allow-private`` on
the computer). Everything here calls ``errand.automation``; nothing is decided here.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from errand.automation import (
    AutomationError,
    NewScheduleRequest,
    ScheduleView,
    TaskTemplate,
    TimingError,
    parse_timing,
)
from errand.server.errors import ApiError
from errand.server.gateway import GatewayDep, SchedulesScope, WebhooksScope
from errand.server.idempotency import IdempotentRoute, idempotent
from errand.store import AttemptRecord, DeliveryRecord, EndpointRecord, ScheduleRunRecord

_T = TypeVar("_T")

router = APIRouter(prefix="/api/v1", tags=["automation"], route_class=IdempotentRoute)
_idempotent = [Depends(idempotent)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FolderChoice(_Strict):
    name: str = Field(min_length=1, max_length=128)
    mode: Literal["ro", "rw"] = "ro"


class ScheduleCreate(_Strict):
    name: str = Field(min_length=1, max_length=64)
    prompt: str | None = Field(default=None, min_length=1, max_length=100_000)
    from_task: str | None = Field(
        default=None,
        max_length=64,
        description="Repeat this task's request (the phone's 'do this every morning').",
    )
    cron: str | None = Field(default=None, max_length=200)
    every: str | None = Field(default=None, max_length=32)
    at: str | None = Field(default=None, max_length=64)
    tz: str = Field(default="UTC", max_length=64)
    folders: list[FolderChoice] = Field(default_factory=list, max_length=20)
    allow_domains: list[str] = Field(default_factory=list, max_length=100)
    model: str | None = Field(default=None, min_length=3, max_length=200)
    missed: Literal["run-once", "skip"] = "run-once"
    max_runs: int | None = Field(default=None, ge=1)
    notify: bool = False
    token_budget: int | None = Field(default=None, ge=1)


class RunView(BaseModel):
    id: str
    due_at: datetime
    reason: str
    missed_count: int
    state: str
    task_id: str | None
    outcome: str | None
    error: str | None
    tokens: int | None


class ScheduleOut(BaseModel):
    name: str
    prompt: str
    timing: str
    tz: str
    paused: bool
    next_at: datetime | None
    missed: str
    max_runs: int | None
    runs_started: int
    notify: bool
    token_budget: int | None
    folders: list[FolderChoice]
    allow_domains: list[str]
    model: str | None
    last_run: RunView | None
    runs: list[RunView]


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]


class WebhookCreate(_Strict):
    url: str = Field(min_length=8, max_length=2000)
    events: list[str] = Field(min_length=1, max_length=10)
    schedule: str | None = Field(default=None, max_length=64)
    allow_private: bool = False


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    schedule_id: str | None
    allow_private: bool
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The whsec_ signing secret, shown this once.")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class AttemptView(BaseModel):
    number: int
    at: datetime
    status_code: int | None
    error: str | None
    latency_ms: int


class DeliveryView(BaseModel):
    id: str
    event: str
    task_id: str | None
    state: str
    attempts: list[AttemptView]
    next_attempt_at: datetime | None
    created_at: datetime


class DeliveryList(BaseModel):
    deliveries: list[DeliveryView]


@router.get("/schedules", response_model=ScheduleList)
async def list_schedules(gateway: GatewayDep, principal: SchedulesScope) -> ScheduleList:
    """Every schedule with its next run and last result."""
    views = await _call(gateway.automation.schedules.list_all())
    return ScheduleList(schedules=[_schedule(view) for view in views])


@router.post("/schedules", status_code=201, response_model=ScheduleOut, dependencies=_idempotent)
async def create_schedule(
    body: ScheduleCreate, gateway: GatewayDep, principal: SchedulesScope
) -> ScheduleOut:
    """Add a schedule (from a prompt, or repeating a finished task's request)."""
    prompt = body.prompt
    if body.from_task is not None:
        task = await gateway.store.get_task(body.from_task)
        prompt = prompt or task.prompt
    if not prompt:
        raise ApiError(400, "invalid_schedule", "Give the schedule a prompt or a from_task.")
    if (
        body.model
        and body.model.lower().startswith("script:")
        and not gateway.intake.config.allow_scripted_models
    ):
        raise ApiError(400, "unknown_model", "Scripted models are only for local testing.")
    try:
        timing = parse_timing(cron=body.cron, every=body.every, at=body.at, tz=body.tz)
        template = TaskTemplate.from_options(
            [f"{f.name}:{f.mode}" for f in body.folders], body.allow_domains, body.model
        )
    except ValueError as exc:
        code = "invalid_timing" if isinstance(exc, TimingError) else "invalid_schedule"
        raise ApiError(400, code, str(exc)) from exc
    view = await _call(
        gateway.automation.schedules.add(
            NewScheduleRequest(
                name=body.name,
                prompt=prompt,
                timing=timing,
                template=template,
                missed=body.missed,
                max_runs=body.max_runs,
                notify=body.notify,
                token_budget=body.token_budget,
            )
        )
    )
    return _schedule(view)


@router.get("/schedules/{name}", response_model=ScheduleOut)
async def show_schedule(
    name: str,
    gateway: GatewayDep,
    principal: SchedulesScope,
    runs: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ScheduleOut:
    """The schedule with its newest runs: missed and skipped ones, tokens each run spent."""
    return _schedule(await _call(gateway.automation.schedules.show(name, runs=runs)))


@router.post("/schedules/{name}/pause", response_model=ScheduleOut, dependencies=_idempotent)
async def pause_schedule(name: str, gateway: GatewayDep, principal: SchedulesScope) -> ScheduleOut:
    return _schedule(await _call(gateway.automation.schedules.pause(name)))


@router.post("/schedules/{name}/resume", response_model=ScheduleOut, dependencies=_idempotent)
async def resume_schedule(name: str, gateway: GatewayDep, principal: SchedulesScope) -> ScheduleOut:
    """Resume from now; what fell due while paused is not run."""
    return _schedule(await _call(gateway.automation.schedules.resume(name)))


@router.post(
    "/schedules/{name}/run", status_code=202, response_model=RunView, dependencies=_idempotent
)
async def run_schedule(name: str, gateway: GatewayDep, principal: SchedulesScope) -> RunView:
    """Run now, besides the schedule's own times."""
    return _run(await _call(gateway.automation.schedules.run_now(name)))


@router.delete("/schedules/{name}", status_code=204, dependencies=_idempotent)
async def remove_schedule(name: str, gateway: GatewayDep, principal: SchedulesScope) -> Response:
    await _call(gateway.automation.schedules.remove(name))
    return Response(status_code=204)


@router.get("/webhooks", response_model=WebhookList)
async def list_webhooks(gateway: GatewayDep, principal: WebhooksScope) -> WebhookList:
    endpoints = await _call(gateway.automation.webhooks.list_all())
    return WebhookList(webhooks=[_endpoint(e) for e in endpoints])


@router.post("/webhooks", status_code=201, response_model=WebhookCreated, dependencies=_idempotent)
async def create_webhook(
    body: WebhookCreate, gateway: GatewayDep, principal: WebhooksScope
) -> WebhookCreated:
    """Add an endpoint; the answer holds its signing secret, shown this once."""
    if body.allow_private:
        raise ApiError(
            403,
            "private_endpoint_refused",
            "Endpoints on private addresses are added on the computer: "
            "errand webhooks add URL --allow-private.",
        )
    added = await _call(
        gateway.automation.webhooks.add(body.url, body.events, schedule=body.schedule)
    )
    return WebhookCreated(**_endpoint(added.record).model_dump(), secret=added.secret)


@router.post(
    "/webhooks/{endpoint_id}/test",
    status_code=202,
    response_model=DeliveryView,
    dependencies=_idempotent,
)
async def test_webhook(
    endpoint_id: str, gateway: GatewayDep, principal: WebhooksScope
) -> DeliveryView:
    """Queue a signed ``webhook.test`` delivery to the endpoint."""
    return _delivery(await _call(gateway.automation.webhooks.test(endpoint_id)), [])


@router.get("/webhooks/{endpoint_id}/deliveries", response_model=DeliveryList)
async def webhook_deliveries(
    endpoint_id: str,
    gateway: GatewayDep,
    principal: WebhooksScope,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryList:
    """The newest deliveries, each with every attempt's status and latency."""
    found = await _call(gateway.automation.webhooks.deliveries(endpoint_id, limit=limit))
    return DeliveryList(deliveries=[_delivery(d, attempts) for d, attempts in found])


@router.delete("/webhooks/{endpoint_id}", status_code=204, dependencies=_idempotent)
async def remove_webhook(
    endpoint_id: str, gateway: GatewayDep, principal: WebhooksScope
) -> Response:
    await _call(gateway.automation.webhooks.remove(endpoint_id))
    return Response(status_code=204)


async def _call(work: Awaitable[_T]) -> _T:
    """Await ``work``, turning an ``AutomationError`` into the API's answer for it."""
    try:
        return await work
    except AutomationError as exc:
        status = (
            404 if exc.code.endswith("_not_found") else 409 if exc.code.endswith("_exists") else 400
        )
        raise ApiError(status, exc.code, exc.message) from exc


def _run(run: ScheduleRunRecord) -> RunView:
    return RunView(
        id=run.id,
        due_at=run.due_at,
        reason=run.reason.value,
        missed_count=run.missed_count,
        state=run.state.value,
        task_id=run.task_id,
        outcome=run.outcome,
        error=run.error,
        tokens=run.tokens,
    )


def _schedule(view: ScheduleView) -> ScheduleOut:
    record = view.record
    return ScheduleOut(
        name=record.name,
        prompt=record.prompt,
        timing=view.timing.describe(),
        tz=record.tz,
        paused=record.paused,
        next_at=record.next_at,
        missed=record.missed,
        max_runs=record.max_runs,
        runs_started=record.runs,
        notify=record.notify,
        token_budget=record.token_budget,
        folders=[FolderChoice(name=f.name, mode=f.mode.value) for f in view.template.folders],
        allow_domains=list(view.template.allow_domains),
        model=view.template.model,
        last_run=_run(view.last_run) if view.last_run else None,
        runs=[_run(run) for run in view.runs],
    )


def _endpoint(endpoint: EndpointRecord) -> WebhookOut:
    return WebhookOut(
        id=endpoint.id,
        url=endpoint.url,
        events=list(endpoint.events),
        schedule_id=endpoint.schedule_id,
        allow_private=endpoint.allow_private,
        created_at=endpoint.created_at,
        disabled_at=endpoint.disabled_at,
        disabled_reason=endpoint.disabled_reason,
    )


def _delivery(delivery: DeliveryRecord, attempts: list[AttemptRecord]) -> DeliveryView:
    return DeliveryView(
        id=delivery.id,
        event=delivery.event,
        task_id=delivery.task_id,
        state=delivery.state.value,
        attempts=[
            AttemptView(
                number=a.number,
                at=a.at,
                status_code=a.status_code,
                error=a.error,
                latency_ms=a.latency_ms,
            )
            for a in attempts
        ],
        next_attempt_at=delivery.next_attempt_at,
        created_at=delivery.created_at,
    )
