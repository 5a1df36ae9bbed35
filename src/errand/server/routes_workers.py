"""The runners that run tasks (docs/api.md "Workers").

Every runner with its heartbeat: ``errand serve``'s own (named ``serve``) and each
``errand worker``, idle or busy, and those that died within the last day, shown stopped.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from errand.server.gateway import GatewayDep, TasksRead
from errand.server.idempotency import IdempotentRoute

router = APIRouter(prefix="/api/v1", route_class=IdempotentRoute)


class WorkerView(BaseModel):
    name: str
    labels: list[str]
    host: str
    pid: int
    concurrency: int
    running: int
    alive: bool
    started_at: str
    alive_until: str


class WorkerList(BaseModel):
    workers: list[WorkerView]


@router.get("/workers", response_model=WorkerList, tags=["workers"])
async def list_workers(gateway: GatewayDep, principal: TasksRead) -> WorkerList:
    """Every runner: alive ones, and those whose heartbeat stopped within the last day."""
    return WorkerList(
        workers=[
            WorkerView(
                name=worker.name,
                labels=sorted(worker.labels),
                host=worker.host,
                pid=worker.pid,
                concurrency=worker.concurrency,
                running=worker.running,
                alive=worker.alive,
                started_at=worker.started_at.isoformat(),
                alive_until=worker.alive_until.isoformat(),
            )
            for worker in await gateway.store.list_workers()
        ]
    )
