"""The agent loop: one task, from the user's request to the model's last word.

Each step asks the model, records what it said, runs the tool calls it made (each in the
sandbox, after the approval policy had its say) and records the results. Everything goes to
the task's event log in the store before anyone is told of it, so any client can follow the
task live or replay it later, and an interrupted task resumes from its stored transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from errand.agent.approvals import ApprovalAnswer, ApprovalPolicy, Approving
from errand.agent.budget import fit
from errand.agent.prompt import system_prompt
from errand.agent.toolsets import ToolsetFactory, ToolsetRequest, builtin_toolsets
from errand.agent.transcript import load_transcript, message_to_json
from errand.events import (
    AssistantMessage,
    CallRequest,
    MessageDelta,
    NetworkDecided,
    TaskEvent,
    ToolCalled,
    ToolResulted,
    UserMessage,
    event_item,
)
from errand.models import (
    Completed,
    Message,
    ModelAdapter,
    ModelError,
    ModelRequest,
    TextDelta,
    ToolCall,
    ToolResult,
    user_text,
)
from errand.sandbox import (
    FolderMode,
    GrantedRoot,
    NetworkDecision,
    PolicyError,
    Sandbox,
    SandboxPolicy,
    SandboxUnavailable,
)
from errand.skills import SkillCatalog, SkillSource, discover_skills
from errand.store import (
    ApprovalRecord,
    ApprovalStatus,
    QuestionRecord,
    QuestionStatus,
    Store,
    TaskStatus,
    UsageRecord,
)
from errand.tools import Action, ActionKind, DuplicateTool, Toolbox, ToolContext, ToolOutput

_T = TypeVar("_T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_TIMEOUT = 124
EXIT_SANDBOX = 125
EXIT_CANCELLED = 130

_DELTA_FLUSH_CHARS = 400
_DELTA_FLUSH_SECONDS = 0.1
_LOGGED_RESULT_CHARS = 16_000
_WAIT_SLICE = 5.0


class Responder(Protocol):
    """Whoever can answer the task's approvals and questions while it runs.

    Both hooks are started as tasks when something is asked and may return at once (a phone
    answers later through the API) or after deciding in the store themselves (a terminal
    prompt). The loop waits for the decision in the store either way.
    """

    async def approval_requested(self, approval: ApprovalRecord) -> None: ...

    async def question_asked(self, question: QuestionRecord) -> None: ...


@dataclass(frozen=True)
class TaskOptions:
    """How a task runs, besides its request, policy and model (which the store holds)."""

    max_steps: int = 50
    timeout: float | None = None
    approvals: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    toolsets: ToolsetFactory = builtin_toolsets
    """The task's toolsets (each wrapped in ``approvals``); the built-in tools by default."""
    auto_approve: bool = False
    """``--yes``: approve what the policy would ask about. Never widens the sandbox policy:
    unlisted domains stay refused, because nobody is asked for them."""
    trusted_folders: frozenset[str] = frozenset()
    approval_timeout: float = 600.0
    question_timeout: float = 1800.0
    max_tokens: int = 8192
    inbox: Callable[[], list[str]] | None = None
    """Follow-up messages from the user, read before each model call."""
    shutting_down: Callable[[], bool] = lambda: False
    """Whether a cancellation means Errand is stopping (the task is then recorded as
    interrupted, to be resumed) rather than the user cancelling it."""


@dataclass(frozen=True)
class TaskOutcome:
    """How the task ended; ``exit_code`` follows Errand's exit status contract."""

    status: TaskStatus
    exit_code: int
    error: str | None = None


class StopTask(Exception):
    """Ends the task as failed with a message for the user."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


async def run_task(
    store: Store,
    task_id: str,
    model: ModelAdapter,
    *,
    options: TaskOptions | None = None,
    responder: Responder | None = None,
) -> TaskOutcome:
    """Run (or resume) a stored task to its end and record how it ended.

    Cancelling the calling task stops the model call and kills the sandboxed command; the task
    is then recorded as cancelled and the cancellation propagates.
    """
    options = options or TaskOptions()
    runner = _TaskRun(store, task_id, model, options, responder)
    try:
        # Everything awaited is inside the try: a cancellation at any point is recorded.
        task = await store.get_task(task_id)
        if task.status is not TaskStatus.RUNNING:
            await store.set_task_status(task_id, TaskStatus.RUNNING)
        async with asyncio.timeout(options.timeout):
            await runner.run()
    except TimeoutError:
        return await _finish(
            store,
            task_id,
            TaskStatus.FAILED,
            EXIT_TIMEOUT,
            f"the task ran out of time ({options.timeout:g} s)",
        )
    except asyncio.CancelledError:
        if options.shutting_down():
            status, reason = TaskStatus.INTERRUPTED, "Errand stopped; resume the task to continue"
        else:
            status, reason = TaskStatus.CANCELLED, "cancelled"
        with contextlib.suppress(Exception):
            await asyncio.shield(_finish(store, task_id, status, EXIT_CANCELLED, reason))
        raise
    except StopTask as stop:
        return await _finish(store, task_id, TaskStatus.FAILED, stop.exit_code, str(stop))
    except SandboxUnavailable as exc:
        return await _finish(
            store, task_id, TaskStatus.FAILED, EXIT_SANDBOX, f"the sandbox cannot start: {exc}"
        )
    except ModelError as exc:
        return await _finish(store, task_id, TaskStatus.FAILED, EXIT_FAILED, str(exc))
    return await _finish(store, task_id, TaskStatus.COMPLETED, EXIT_OK, None)


async def _finish(
    store: Store, task_id: str, status: TaskStatus, code: int, error: str | None
) -> TaskOutcome:
    await store.set_task_status(task_id, status, error=error, exit_code=code)
    return TaskOutcome(status, code, error)


class _TaskRun:
    """The state of one run of the loop; private to :func:`run_task`."""

    def __init__(
        self,
        store: Store,
        task_id: str,
        model: ModelAdapter,
        options: TaskOptions,
        responder: Responder | None,
    ) -> None:
        self.store = store
        self.task_id = task_id
        self.model = model
        self.options = options
        self.responder = responder
        self.model_name = ""
        self._helpers: set[asyncio.Task[None]] = set()
        self._call_tools: dict[str, str] = {}

    async def run(self) -> None:
        task = await self.store.get_task(self.task_id)
        self.model_name = task.model
        stored = task.policy.get("sandbox", {})
        try:
            fields = {**(stored if isinstance(stored, dict) else {}), "session": self.task_id}
            policy = SandboxPolicy.build(**fields)
        except PolicyError as exc:
            raise StopTask(f"the task's sandbox policy no longer holds: {exc}") from exc
        messages = load_transcript(await self.store.transcript(self.task_id))
        if not messages:
            messages = [user_text(task.prompt)]
            await self.store.append_messages(self.task_id, [message_to_json(messages[0])])
        catalog = self._skills(policy)
        system = system_prompt(policy, skills_section=catalog.prompt_section())
        max_steps = task.max_steps or self.options.max_steps
        ask = None if self.options.auto_approve or self.responder is None else self._ask_network
        async with Sandbox(policy, on_decision=self._network, ask=ask) as sandbox:
            roots = {
                g.name: GrantedRoot(g.path, writable=g.mode is FolderMode.READ_WRITE)
                for g in policy.folders
            }
            ctx = ToolContext(
                sandbox=sandbox,
                policy=policy,
                roots=roots,
                ask_user=self._ask_user,
                task_id=self.task_id,
            )
            request = ToolsetRequest(task_id=self.task_id, context=ctx, skills=catalog)
            toolbox = Toolbox(
                [
                    Approving(toolset, self.options.approvals, self._approve)
                    for toolset in self.options.toolsets(request)
                ]
            )
            try:
                await self._steps(messages, toolbox, ctx, system, max_steps)
            finally:
                try:
                    await toolbox.aclose()
                finally:
                    for root in roots.values():
                        root.close()
                    for helper in self._helpers:
                        helper.cancel()

    def _skills(self, policy: SandboxPolicy) -> SkillCatalog:
        sources = [SkillSource.user()]
        sources += [
            SkillSource.granted_folder(
                g.name, g.path, trusted=g.name in self.options.trusted_folders
            )
            for g in policy.folders
        ]
        return discover_skills(sources)

    async def _steps(
        self,
        messages: list[Message],
        toolbox: Toolbox,
        ctx: ToolContext,
        system: str,
        max_steps: int,
    ) -> None:
        try:
            specs = tuple(await toolbox.specs(ctx))
        except DuplicateTool as exc:
            raise StopTask(f"the task's tools cannot be offered: {exc}") from exc
        reserved = len(system) + sum(len(str(s.input_schema)) + len(s.description) for s in specs)
        for _step in range(max_steps):
            await self._read_inbox(messages)
            request = ModelRequest(
                system=system,
                messages=fit(messages, reserved_chars=reserved),
                tools=specs,
                max_tokens=self.options.max_tokens,
            )
            reply = await self._ask_model(request)
            messages.append(reply)
            if not reply.tool_calls:
                return
            results: list[ToolResult] = []
            logged: ToolResulted | None = None
            for index, call in enumerate(reply.tool_calls):
                result, logged = await self._call(call, toolbox, ctx)
                results.append(result)
                if index < len(reply.tool_calls) - 1:
                    await self._event(logged)
            answer = Message(role="tool", parts=tuple(results))
            messages.append(answer)
            # The last result and the step's transcript entry go in one commit.
            assert logged is not None
            await self.store.record_step(
                self.task_id, events=[event_item(logged)], messages=[message_to_json(answer)]
            )
        raise StopTask(
            f"stopped after {max_steps} steps without finishing; "
            "raise --max-steps or make the request smaller"
        )

    async def _read_inbox(self, messages: list[Message]) -> None:
        for text in self.options.inbox() if self.options.inbox else []:
            message = user_text(text)
            messages.append(message)
            await self.store.record_step(
                self.task_id,
                events=[event_item(UserMessage(text=text))],
                messages=[message_to_json(message)],
            )

    async def _ask_model(self, request: ModelRequest) -> Message:
        pending: list[str] = []
        last_flush = time.monotonic()
        completed: Completed | None = None
        async with contextlib.aclosing(self.model.stream(request)) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    pending.append(event.text)
                    now = time.monotonic()
                    if (
                        sum(map(len, pending)) >= _DELTA_FLUSH_CHARS
                        or now - last_flush >= _DELTA_FLUSH_SECONDS
                    ):
                        await self._event(MessageDelta(text="".join(pending)))
                        pending, last_flush = [], now
                elif isinstance(event, Completed):
                    completed = event
        if completed is None:
            raise StopTask("the model's reply ended without finishing")
        reply = completed.message
        step: list[TaskEvent] = []
        if pending:
            step.append(MessageDelta(text="".join(pending)))
        step.append(
            AssistantMessage(
                text=reply.text,
                tool_calls=tuple(
                    CallRequest(id=c.id, name=c.name, arguments=c.arguments_json)
                    for c in reply.tool_calls
                ),
                stop_reason=completed.stop_reason,
            )
        )
        usage = UsageRecord(
            task_id=self.task_id,
            model=self.model_name,
            input_tokens=completed.usage.input_tokens,
            output_tokens=completed.usage.output_tokens,
            at=datetime.now(UTC),
        )
        # The reply, its place in the transcript and its usage are one commit.
        await self.store.record_step(
            self.task_id,
            events=[event_item(e) for e in step],
            messages=[message_to_json(reply)],
            usage=usage,
        )
        return reply

    async def _call(
        self, call: ToolCall, toolbox: Toolbox, ctx: ToolContext
    ) -> tuple[ToolResult, ToolResulted]:
        """Run one call; returns its result and the ``tool.result`` payload to log."""
        self._call_tools[call.id] = call.name
        described = await toolbox.describe(call, ctx)
        action = described if isinstance(described, Action) else None
        await self._event(
            ToolCalled(
                call_id=call.id,
                tool=call.name,
                arguments=call.arguments_json,
                summary=action.summary if action else "",
                kind=action.kind if action else "",
            )
        )
        started = time.monotonic()
        if isinstance(described, ToolOutput):
            output = described
        else:
            output = await toolbox.invoke(call, ctx)
        logged = ToolResulted(
            call_id=call.id,
            tool=call.name,
            is_error=output.is_error,
            content=output.content[:_LOGGED_RESULT_CHARS],
            truncated=len(output.content) > _LOGGED_RESULT_CHARS,
            files=output.files,
            duration=round(time.monotonic() - started, 3),
        )
        return ToolResult(call.id, output.content, output.is_error), logged

    async def _approve(self, action: Action, call: ToolCall, ctx: ToolContext) -> ApprovalAnswer:
        """The task's :data:`~errand.agent.approvals.Approver`: record the request, then
        answer it at once (``--yes``, or nobody can answer) or wait for the user."""
        expires = datetime.now(UTC) + timedelta(seconds=self.options.approval_timeout)
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
            },
        )
        if self.options.auto_approve:
            await self.store.decide_approval(approval.id, approve=True, decided_by="--yes")
            return ApprovalAnswer.APPROVED
        if self.responder is None:
            await self.store.decide_approval(
                approval.id, approve=False, decided_by="nobody can answer"
            )
            return ApprovalAnswer.REFUSED
        return await self._wait_approval(approval)

    async def _wait_approval(self, approval: ApprovalRecord) -> ApprovalAnswer:
        assert self.responder is not None
        self._helper(self.responder.approval_requested(approval))

        async def decided() -> ApprovalAnswer | None:
            record = await self.store.get_approval(approval.id)
            if record.status is ApprovalStatus.PENDING:
                return None
            if record.status is ApprovalStatus.APPROVED:
                return ApprovalAnswer.APPROVED
            if record.status is ApprovalStatus.EXPIRED:
                return ApprovalAnswer.EXPIRED
            return ApprovalAnswer.REFUSED

        answer = await self._wait_for_user(decided, self.options.approval_timeout)
        if answer is None:
            await self.store.expire_approvals(approval_id=approval.id)
            return ApprovalAnswer.EXPIRED
        return answer

    async def _wait_for_user(
        self, ready: Callable[[], Awaitable[_T | None]], timeout: float
    ) -> _T | None:
        """Show the task as waiting and re-check ``ready`` whenever the task's log grows,
        until it gives a value or ``timeout`` passes (then None)."""
        await self.store.set_task_status(self.task_id, TaskStatus.WAITING)
        try:
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
            await self._resume_running()

    async def _ask_network(self, host: str, port: int, call_id: str) -> bool:
        action = Action(
            tool=self._call_tools.get(call_id, "network"),
            kind=ActionKind.NETWORK,
            summary=f"connect to {host}:{port}, which is not in the allowed domains",
            domain=host,
        )
        expires = datetime.now(UTC) + timedelta(seconds=self.options.approval_timeout)
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

    async def _ask_user(self, text: str) -> str:
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

        answer = await self._wait_for_user(answered, self.options.question_timeout)
        if answer is None:
            return "(No answer came in time; use your best judgement and say so.)"
        return answer

    async def _resume_running(self) -> None:
        task = await self.store.get_task(self.task_id)
        if task.status is TaskStatus.WAITING:
            await self.store.set_task_status(self.task_id, TaskStatus.RUNNING)

    def _network(self, decision: NetworkDecision) -> None:
        self._helper(
            self._event(
                NetworkDecided(
                    call_id=decision.call_id,
                    host=decision.host,
                    port=decision.port,
                    verdict=str(decision.verdict),
                    reason=decision.reason,
                )
            )
        )

    def _helper(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)

    async def _event(self, event: TaskEvent) -> None:
        await self.store.append_event(self.task_id, *event_item(event))
