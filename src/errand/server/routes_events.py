"""Live streams: one task's event log, and the task list's changes (docs/api.md "Live events").

Both are Server-Sent Events read with ``fetch`` and a Bearer header (never a token in the
URL). See :mod:`errand.server.sse` for how they resume, stay bounded and end.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from errand.server.errors import ApiError
from errand.server.gateway import GatewayDep, TasksRead, credential_check
from errand.server.sse import SSE_HEADERS, task_events

router = APIRouter(prefix="/api/v1", tags=["events"])

_SSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "An event stream."}
}


@router.get("/tasks/{task_id}/events", response_class=StreamingResponse, responses=_SSE)
async def stream_task_events(
    task_id: str,
    gateway: GatewayDep,
    principal: TasksRead,
    after: Annotated[int | None, Query(ge=0, le=2**53)] = None,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> StreamingResponse:
    """The task's events after ``Last-Event-ID`` (or ``?after=``), then live ones."""
    start = after or 0
    if last_event_id:
        if not last_event_id.strip().isdigit():
            raise ApiError(400, "invalid_event_id", "Last-Event-ID must be a sequence number.")
        start = max(start, int(last_event_id.strip()))
    await gateway.store.get_task(task_id)  # 404 before the stream starts
    stream = task_events(
        gateway.store,
        task_id,
        after=start,
        still_allowed=credential_check(gateway, principal),
        closing=gateway.closing,
        settings=gateway.config.streams,
    )
    return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/events", response_class=StreamingResponse, responses=_SSE)
async def stream_task_list(gateway: GatewayDep, principal: TasksRead) -> StreamingResponse:
    """``event: task`` with the task object: first the newest tasks, then each status change."""
    stream = gateway.watcher.stream(
        still_allowed=credential_check(gateway, principal), closing=gateway.closing
    )
    return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)
