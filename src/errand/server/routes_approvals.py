"""Approvals and questions (docs/api.md "Approvals and questions").

A decision names the digest of the action it approves, so it applies only to exactly what
the user was shown; the store makes the first decision win. The decider is recorded as the
device or token that made it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from errand.access import Principal
from errand.server.gateway import ApprovalsScope, GatewayDep
from errand.server.idempotency import IdempotentRoute, idempotent
from errand.store import ApprovalRecord, ApprovalStatus

router = APIRouter(prefix="/api/v1", tags=["approvals"], route_class=IdempotentRoute)
_idempotent = [Depends(idempotent)]


class ApprovalView(BaseModel):
    id: str
    task_id: str
    tool_call_id: str
    action: dict[str, JsonValue]
    digest: str
    status: ApprovalStatus
    created_at: str
    expires_at: str | None
    decided_by: str | None = None
    reason: str | None = None


class ApprovalList(BaseModel):
    approvals: list[ApprovalView]


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool
    digest: str = Field(min_length=1, max_length=128)
    reason: str | None = Field(default=None, max_length=2000)
    """Why the user denies it, told to the model (only with ``approve: false``)."""

    @model_validator(mode="after")
    def _reason_only_when_denying(self) -> Decision:
        if self.reason is not None and not self.reason.strip():
            self.reason = None
        if self.approve and self.reason is not None:
            raise ValueError("A reason goes only with a denial.")
        return self


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: str = Field(max_length=100_000)


class QuestionView(BaseModel):
    id: str
    task_id: str
    text: str
    status: str
    answer: str | None


@router.get("/approvals", response_model=ApprovalList)
async def list_approvals(
    gateway: GatewayDep,
    principal: ApprovalsScope,
    task_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    status: Annotated[ApprovalStatus | None, Query()] = ApprovalStatus.PENDING,
) -> ApprovalList:
    """Approvals oldest first (pending ones unless ``status`` says otherwise)."""
    records = await gateway.store.list_approvals(task_id=task_id, status=status, limit=200)
    return ApprovalList(approvals=[approval_view(a) for a in records])


@router.post("/approvals/{approval_id}", response_model=ApprovalView, dependencies=_idempotent)
async def decide_approval(
    approval_id: str, body: Decision, gateway: GatewayDep, principal: ApprovalsScope
) -> ApprovalView:
    """Approve or deny the action with this digest; the first decision wins. A denial may
    say why (``reason``): the model is told."""
    reason = body.reason.strip() if body.reason else None
    record = await gateway.store.decide_approval(
        approval_id,
        approve=body.approve,
        decided_by=decider(principal),
        digest=body.digest,
        reason=reason,
    )
    return approval_view(record)


@router.post(
    "/questions/{question_id}/answer", response_model=QuestionView, dependencies=_idempotent
)
async def answer_question(
    question_id: str, body: Answer, gateway: GatewayDep, principal: ApprovalsScope
) -> QuestionView:
    record = await gateway.store.answer_question(
        question_id, body.answer, answered_by=decider(principal)
    )
    return QuestionView(
        id=record.id,
        task_id=record.task_id,
        text=record.text,
        status=record.status.value,
        answer=record.answer,
    )


def approval_view(record: ApprovalRecord) -> ApprovalView:
    return ApprovalView(
        id=record.id,
        task_id=record.task_id,
        tool_call_id=record.tool_call_id,
        action=record.action,
        digest=record.digest,
        status=record.status,
        created_at=record.created_at.isoformat(),
        expires_at=record.expires_at.isoformat() if record.expires_at else None,
        decided_by=record.decided_by,
        reason=record.reason,
    )


def decider(principal: Principal) -> str:
    """Who decided, as recorded in the log: ``device:<id>`` or ``token:<id>``."""
    return f"{principal.kind}:{principal.id}"
