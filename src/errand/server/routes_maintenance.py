"""``POST /api/v1/maintenance/prune``: the owner's way to remove old finished tasks.

Needs an API token with the ``maintenance`` scope (never held by phones). Behaves exactly as
``errand sessions prune``: tasks that ended before the cutoff go with their logs, unfinished
tasks stay, and the database is compacted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from errand.server.gateway import GatewayDep, MaintenanceScope
from errand.server.idempotency import IdempotentRoute, idempotent

router = APIRouter(prefix="/api/v1", route_class=IdempotentRoute)


class PruneRequest(BaseModel):
    """How old a finished task must be to go."""

    older_than_days: int = Field(ge=1, le=36_500)


class PruneAnswer(BaseModel):
    """What was removed, and how many older tasks were kept because they have not ended."""

    deleted: int
    kept_unfinished: int


@router.post(
    "/maintenance/prune",
    response_model=PruneAnswer,
    tags=["maintenance"],
    dependencies=[Depends(idempotent)],
)
async def prune_tasks(
    body: PruneRequest, gateway: GatewayDep, principal: MaintenanceScope
) -> PruneAnswer:
    """Remove tasks that ended more than ``older_than_days`` ago, then compact the store."""
    cutoff = datetime.now(UTC) - timedelta(days=body.older_than_days)
    result = await gateway.store.prune_tasks(ended_before=cutoff)
    return PruneAnswer(deleted=result.deleted, kept_unfinished=result.kept_unfinished)
