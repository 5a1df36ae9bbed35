"""The agent loop: one task, from the user's request to the model's last word.

Each step asks the model, records what it said, runs the tool calls it made through the
task's toolbox and records the results. Everything goes to the task's event log in the store
(as typed events, :mod:`errand.events`) before anyone is told of it, so any client can follow
the task live or replay it later, and an interrupted task resumes from its stored transcript.
Elsewhere: which toolsets a task gets (:mod:`errand.agent.toolsets`), approval around them
(:mod:`errand.agent.approvals`), and how the task reaches its user (:mod:`errand.agent.asking`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from errand.access import list_folders
from errand.agent.approvals import ApprovalPolicy
from errand.agent.asking import Responder, TaskUser
from errand.agent.attachments import attachment_mount, task_attachments_dir
from errand.agent.budget import fit
from errand.agent.prompt import system_prompt
from errand.agent.toolsets import (
    ToolsetFactory,
    ToolsetRequest,
    builtin_toolsets,
    task_toolbox,
)
from errand.agent.transcript import (
    load_transcript,
    message_from_json,
    message_to_json,
    opening_messages,
)
from errand.config import data_dir
from errand.events import (
    AssistantMessage,
    CallRequest,
    GrantLost,
    GrantsChanged,
    MessageDelta,
    NetworkDecided,
    TaskEvent,
    ToolCalled,
    ToolResulted,
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
    task_changes_dir,
)
from errand.skills import SkillCatalog, SkillSource, discover_skills
from errand.store import (
    Store,
    TaskStatus,
    UsageRecord,
)
from errand.tasks import ExitCode, FolderGrantSpec, GrantChange, recheck_grants
from errand.tools import Action, DuplicateTool, Toolbox, ToolContext, ToolOutput, ToolsetFailed

_DELTA_FLUSH_CHARS = 400
_DELTA_FLUSH_SECONDS = 0.1
_LOGGED_RESULT_CHARS = 16_000


@dataclass(frozen=True)
class TaskOptions:
    """How a task runs, besides its request, policy and model (which the store holds)."""

    max_steps: int = 50
    timeout: float | None = None
    """Seconds for the whole task when its spec sets none."""
    approvals: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    toolsets: ToolsetFactory = builtin_toolsets
    """The task's toolsets (each wrapped in ``approvals``); the built-in tools by default."""
    auto_approve: bool = False
    """``--yes``: approve what the policy would ask about. Never widens the sandbox policy:
    unlisted domains stay refused, because nobody is asked for them."""
    trusted_folders: frozenset[str] = frozenset()
    review_folders: frozenset[str] = frozenset()
    """Folders (by name) whose changes are held for the user's review instead of applied
    (``review = true`` in the folder's table of ``errand.toml``)."""
    approval_timeout: float = 600.0
    question_timeout: float = 1800.0
    max_tokens: int = 8192
    shutting_down: Callable[[], bool] = lambda: False
    """Whether a cancellation means Errand is stopping (the task is then recorded as
    interrupted, to be resumed) rather than the user cancelling it."""


@dataclass(frozen=True)
class TaskOutcome:
    """How the task ended; ``exit_code`` follows Errand's exit status contract."""

    status: TaskStatus
    exit_code: ExitCode
    error: str | None = None


class _GrantsNarrowed(Exception):
    """A folder the run mounted was removed or narrowed since it started: the run starts
    again (a new sandbox) from the transcript, as a resumed task would."""


class StopTask(Exception):
    """Ends the task as failed with a message for the user."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.FAILED) -> None:
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
    timeout = options.timeout
    try:
        # Everything awaited is inside the try: a cancellation at any point is recorded.
        task = await store.get_task(task_id)
        if task.spec.timeout is not None:
            timeout = task.spec.timeout
        if task.status is not TaskStatus.RUNNING:
            await store.set_task_status(task_id, TaskStatus.RUNNING)
        async with asyncio.timeout(timeout):
            await runner.run()
    except TimeoutError:
        return await _finish(
            store,
            task_id,
            TaskStatus.FAILED,
            ExitCode.TIMEOUT,
            f"the task ran out of time ({timeout or 0:g} s)",
        )
    except asyncio.CancelledError:
        if options.shutting_down():
            status, reason = TaskStatus.INTERRUPTED, "Errand stopped; resume the task to continue"
        else:
            status, reason = TaskStatus.CANCELLED, "cancelled"
        with contextlib.suppress(Exception):
            await asyncio.shield(_finish(store, task_id, status, ExitCode.CANCELLED, reason))
        raise
    except StopTask as stop:
        return await _finish(store, task_id, TaskStatus.FAILED, stop.exit_code, str(stop))
    except SandboxUnavailable as exc:
        return await _finish(
            store, task_id, TaskStatus.FAILED, ExitCode.SANDBOX, f"the sandbox cannot start: {exc}"
        )
    except ModelError as exc:
        return await _finish(store, task_id, TaskStatus.FAILED, ExitCode.FAILED, str(exc))
    return await _finish(store, task_id, TaskStatus.COMPLETED, ExitCode.OK, None)


async def _finish(
    store: Store, task_id: str, status: TaskStatus, code: ExitCode, error: str | None
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
        self._folders: tuple[FolderGrantSpec, ...] = ()
        self._helpers: set[asyncio.Task[None]] = set()
        self.user = TaskUser(
            store,
            task_id,
            responder,
            auto_approve=options.auto_approve,
            approval_timeout=options.approval_timeout,
            question_timeout=options.question_timeout,
        )

    async def run(self) -> None:
        while True:
            try:
                await self._run_once()
                return
            except _GrantsNarrowed:
                continue

    async def _run_once(self) -> None:
        task = await self.store.get_task(self.task_id)
        # Folders removed or narrowed on the computer since the task was created hold for it too.
        spec, lost = recheck_grants(task.spec, await list_folders(self.store))
        self._folders = spec.folders
        self.model_name = spec.model
        try:
            policy = spec.sandbox_policy(self.task_id)
        except PolicyError as exc:
            raise StopTask(f"the task's sandbox policy no longer holds: {exc}") from exc
        messages = load_transcript(await self.store.transcript(self.task_id))
        if not messages:  # a task stored before its opening messages went in with it
            messages = opening_messages(task.prompt, spec.attachments)
            await self.store.append_messages(self.task_id, [message_to_json(m) for m in messages])
        # Messages sent while the task was not running come first; a changed grant is told
        # after the user's latest message.
        await self._take_follow_ups(messages)
        if lost:
            await self._tell_grants_changed(lost, messages)
        catalog = self._skills(policy)
        system = system_prompt(policy, skills_section=catalog.prompt_section())
        max_steps = spec.max_steps or self.options.max_steps
        user = self.user
        ask = user.approve_connection if user.can_answer else None
        changes_dir = task_changes_dir(data_dir(), self.task_id)
        review = set(self.options.review_folders)
        if spec.review:  # the task asked for review of every folder
            review.update(g.name for g in policy.folders)
        async with Sandbox(
            policy, on_decision=self._network, ask=ask, changes_dir=changes_dir, hold=review
        ) as sandbox:
            roots = {
                g.name: GrantedRoot(g.path, writable=g.mode is FolderMode.READ_WRITE)
                for g in policy.folders
            }
            ctx = ToolContext(
                sandbox=sandbox,
                policy=policy,
                roots=roots,
                ask_user=user.ask,
                task_id=self.task_id,
            )
            documents = attachment_mount(
                task_attachments_dir(data_dir(), self.task_id), policy.session, spec.attachments
            )
            if documents is not None:
                ctx.extra_mounts.append(documents)
            toolbox = task_toolbox(
                self.options.toolsets,
                ToolsetRequest(task_id=self.task_id, context=ctx, skills=catalog),
                self.options.approvals,
                user.approve,
            )
            try:
                await self._steps(messages, toolbox, ctx, system, max_steps)
            finally:
                try:
                    await toolbox.aclose()
                finally:
                    for root in roots.values():
                        root.close()
                    user.close()
                    for helper in self._helpers:
                        helper.cancel()

    async def _tell_grants_changed(self, lost: list[GrantChange], messages: list[Message]) -> None:
        """Record which grants the task lost and tell the model once, before its next call."""
        text = "[Errand: " + " ".join(change.sentence() for change in lost) + "]"
        notice = user_text(text)
        if notice in messages:  # told on an earlier run; the grants have not changed since
            return
        event = GrantsChanged(
            changes=tuple(
                GrantLost(
                    folder=change.name,
                    was=change.was.value,
                    mode=change.mode.value if change.mode else None,
                    reason=change.reason,
                )
                for change in lost
            ),
            message=text,
        )
        messages.append(notice)
        await self.store.record_step(
            self.task_id, events=[event_item(event)], messages=[message_to_json(notice)]
        )

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
        except ToolsetFailed as exc:
            raise StopTask(str(exc)) from exc
        reserved = len(system) + sum(len(str(s.input_schema)) + len(s.description) for s in specs)
        for _step in range(max_steps):
            if await self._take_follow_ups(messages):
                await self._recheck_grants()
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

    async def _take_follow_ups(self, messages: list[Message]) -> bool:
        """Take the user's new messages from the store into the transcript, in the store's
        order; whether there were any."""
        taken = await self.store.take_follow_ups(self.task_id)
        messages.extend(message_from_json(message) for message in taken)
        return bool(taken)

    async def _recheck_grants(self) -> None:
        """A folder removed or narrowed since the run started restarts it without it."""
        task = await self.store.get_task(self.task_id)
        spec, _lost = recheck_grants(task.spec, await list_folders(self.store))
        if spec.folders != self._folders:
            raise _GrantsNarrowed

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
        self.user.note_call(call)
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
