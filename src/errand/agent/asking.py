"""How a running task reaches its user: approvals, unlisted domains and questions.

Each request is recorded in the store first (so every client sees it), the task shows as
waiting, and the answer is read back from the store, whoever gave it: a phone through the API,
the terminal prompt of ``errand run``, ``--yes``. A :class:`Responder` is told of each request
and may answer it itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from errand.agent.approvals import ApprovalAnswer, RefusedBecause
from errand.models import ToolCall
from errand.store import (
    ApprovalRecord,
    ApprovalStatus,
    QuestionRecord,
    QuestionStatus,
    Store,
    TaskStatus,
)
from errand.tools import Action, ActionKind, ToolContext

_T = TypeVar("_T")

_WAIT_SLICE = 5.0


class Responder(Protocol):
    """Whoever can answer the task's approvals and questions while it runs.

    Both hooks are started as tasks when something is asked and may return at once (a phone
    answers later through the API) or after deciding in the store themselves (a terminal
    prompt). The loop waits for the decision in the store either way.
    """

    async def approval_requested(self, approval: ApprovalRecord) -> None: ...

    async def question_asked(self, question: QuestionRecord) -> None: ...


class TaskUser:
    """The user of one running task, reached through the store.

    :meth:`approve` is the task's approver (see :class:`~errand.agent.approvals.Approving`),
    :meth:`approve_connection` answers the egress proxy about unlisted domains, :meth:`ask`
    is the ``ask_user`` tool's way to the user. :meth:`close` stops the responder hooks still
    running.
    """

    def __init__(
        self,
        store: Store,
        task_id: str,
        responder: Responder | None,
        *,
        auto_approve: bool,
        approval_timeout: float,
        question_timeout: float,
        waiting: Callable[[bool], None] = lambda waiting: None,
    ) -> None:
        self.store = store
        self.task_id = task_id
        self.responder = responder
        self._auto_approve = auto_approve
        self._approval_timeout = approval_timeout
        self._question_timeout = question_timeout
        self._waiting = waiting
        self._open_waits = 0
        self._helpers: set[asyncio.Task[None]] = set()
        self._call_tools: dict[str, str] = {}

    @property
    def can_answer(self) -> bool:
        """Whether anyone can answer questions about the network (not with ``--yes``, which
        never widens the sandbox policy, nor without a responder)."""
        return not self._auto_approve and self.responder is not None

    def note_call(self, call: ToolCall) -> None:
        """Remember which tool made ``call``, to name it in network approvals."""
        self._call_tools[call.id] = call.name

    def close(self) -> None:
        for helper in self._helpers:
            helper.cancel()

    async def approve(
        self, action: Action, call: ToolCall, ctx: ToolContext
    ) -> ApprovalAnswer | RefusedBecause:
        """The task's :data:`~errand.agent.approvals.Approver`: record the request, then
        answer it at once (``--yes``, or nobody can answer) or wait for the user."""
        expires = datetime.now(UTC) + timedelta(seconds=self._approval_timeout)
        approval = await self.store.create_approval(
            self.task_id,
            tool_call_id=call.id,
            expires_at=expires,
            action={
                "tool": action.tool,
                "kind": str(action.kind),
                "summary": action.summary,
                "arguments": call.arguments_json,
                "workdir": ctx.policy.workdir,
                "folder": action.folder,
                "domain": action.domain,
                **({"replaces": True} if action.replaces else {}),
                **({"diff": action.diff} if action.diff is not None else {}),
            },
        )
        if self._auto_approve:
            await self.store.decide_approval(approval.id, approve=True, decided_by="--yes")
            return ApprovalAnswer.APPROVED
        if self.responder is None:
            await self.store.decide_approval(
                approval.id, approve=False, decided_by="nobody can answer"
            )
            return ApprovalAnswer.REFUSED
        return await self._wait_approval(approval)

    async def _wait_approval(self, approval: ApprovalRecord) -> ApprovalAnswer | RefusedBecause:
        assert self.responder is not None
        self._helper(self.responder.approval_requested(approval))

        async def decided() -> ApprovalAnswer | RefusedBecause | None:
            record = await self.store.get_approval(approval.id)
            if record.status is ApprovalStatus.PENDING:
                return None
            if record.status is ApprovalStatus.APPROVED:
                return ApprovalAnswer.APPROVED
            if record.status is ApprovalStatus.EXPIRED:
                return ApprovalAnswer.EXPIRED
            if record.reason:
                return RefusedBecause(record.reason)
            return ApprovalAnswer.REFUSED

        answer: ApprovalAnswer | RefusedBecause | None = await self._wait_for_user(
            decided, self._approval_timeout
        )
        if answer is None:
            await self.store.expire_approvals(approval_id=approval.id)
            return ApprovalAnswer.EXPIRED
        return answer

    async def _wait_for_user(
        self, ready: Callable[[], Awaitable[_T | None]], timeout: float
    ) -> _T | None:
        """Show the task as waiting and re-check ``ready`` whenever the task's log grows,
        until it gives a value or ``timeout`` passes (then None)."""
        self._open_waits += 1
        try:
            if self._open_waits == 1:
                await self.store.set_task_status(self.task_id, TaskStatus.WAITING)
                self._waiting(True)
            deadline = time.monotonic() + timeout
            while (value := await ready()) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                task = await self.store.get_task(self.task_id)
                await self.store.wait_for_events(
                    self.task_id, task.last_seq, timeout=min(remaining, _WAIT_SLICE)
                )
            return value
        finally:
            # Another request may still wait (the proxy asks about each connection apart):
            # the task goes on only when the last one is settled.
            self._open_waits -= 1
            if not self._open_waits:
                self._waiting(False)
                await self._resume_running()

    async def approve_connection(self, host: str, port: int, call_id: str) -> bool:
        """The egress proxy's question about an unlisted domain, as an approval."""
        action = Action(
            tool=self._call_tools.get(call_id, "network"),
            kind=ActionKind.NETWORK,
            summary=f"connect to {host}:{port}, which is not in the allowed domains",
            domain=host,
        )
        expires = datetime.now(UTC) + timedelta(seconds=self._approval_timeout)
        approval = await self.store.create_approval(
            self.task_id,
            tool_call_id=call_id,
            expires_at=expires,
            action={
                "tool": action.tool,
                "kind": "network",
                "summary": action.summary,
                "domain": host,
                "port": port,
            },
        )
        return await self._wait_approval(approval) is ApprovalAnswer.APPROVED

    async def ask(self, text: str) -> str:
        """A question from the agent (``ask_user``); the answer, or a note saying why none
        came."""
        question = await self.store.create_question(self.task_id, text)
        if self.responder is None:
            return "(The user cannot be asked right now; use your best judgement and say so.)"
        self._helper(self.responder.question_asked(question))

        async def answered() -> str | None:
            record = await self.store.get_question(question.id)
            if record.status is QuestionStatus.ANSWERED and record.answer is not None:
                return record.answer
            if record.status is not QuestionStatus.PENDING:
                return "(The question was withdrawn.)"
            return None

        answer = await self._wait_for_user(answered, self._question_timeout)
        if answer is None:
            return "(No answer came in time; use your best judgement and say so.)"
        return answer

    async def _resume_running(self) -> None:
        task = await self.store.get_task(self.task_id)
        if task.status is TaskStatus.WAITING:
            await self.store.set_task_status(self.task_id, TaskStatus.RUNNING)

    def _helper(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)
