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
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from errand.access import list_folders
from errand.agent.approvals import ApprovalPolicy
from errand.agent.asking import Responder, TaskUser
from errand.agent.attachments import attachment_mount, task_attachments_dir
from errand.agent.budget import fit
from errand.agent.interrupted import CallProgress, answer_interrupted
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
    place_answer,
    unanswered_steps,
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
    UnknownEvent,
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
from errand.pause_points import pause_at
from errand.priority import yield_to_requests
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
    JsonInputObject,
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
    browser_start_early: bool = True
    """A task with the browser starts it as the task begins (``[browser] start_early``)."""
    browser_memory_mb: int = 1024
    """The memory cap of a task's browser (``[browser] memory_mb``)."""
    approval_timeout: float = 600.0
    question_timeout: float = 1800.0
    max_tokens: int = 8192
    shutting_down: Callable[[], bool] = lambda: False
    """Whether a cancellation means Errand is stopping (the task is then recorded as
    interrupted, to be resumed) rather than the user cancelling it."""
    waiting_for_user: Callable[[bool], None] = lambda waiting: None
    """Told True when the task starts waiting for its user (an approval, a question) and
    False when it goes on: a runner counts only tasks at work against its concurrency."""


@dataclass(frozen=True)
class TaskOutcome:
    """How the task ended; ``exit_code`` follows Errand's exit status contract."""

    status: TaskStatus
    exit_code: ExitCode
    error: str | None = None


_COMPLETED = TaskOutcome(TaskStatus.COMPLETED, ExitCode.OK)


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

    The final answer and the ``completed`` status are one commit
    (:meth:`~errand.store.Store.complete_task`). Cancelling the calling task stops the model
    call and kills the sandboxed command; the task is then recorded as cancelled (or
    interrupted, when Errand is stopping) and the cancellation propagates.
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
    except asyncio.CancelledError:
        # Once the final answer is committed the task has ended: a cancellation during the
        # clean-up after it (closing the sandbox and toolsets) changes nothing recorded.
        if not runner.completed:
            if options.shutting_down():
                status = TaskStatus.INTERRUPTED
                reason = "Errand stopped; resume the task to continue"
            else:
                status, reason = TaskStatus.CANCELLED, "cancelled"
            with contextlib.suppress(Exception):
                await asyncio.shield(_finish(store, task_id, status, ExitCode.CANCELLED, reason))
        raise
    except (TimeoutError, StopTask, SandboxUnavailable, ModelError) as exc:
        if runner.completed:
            return _COMPLETED
        code, error = _failure(exc, timeout)
        return await _finish(store, task_id, TaskStatus.FAILED, code, error)
    assert runner.completed  # the steps end with the final answer's commit or raise
    return _COMPLETED


def _failure(exc: Exception, timeout: float | None) -> tuple[ExitCode, str]:
    """The exit code and sentence of a task that ``exc`` stopped."""
    if isinstance(exc, TimeoutError):
        return ExitCode.TIMEOUT, f"the task ran out of time ({timeout or 0:g} s)"
    if isinstance(exc, StopTask):
        return exc.exit_code, str(exc)
    if isinstance(exc, SandboxUnavailable):
        return ExitCode.SANDBOX, f"the sandbox cannot start: {exc}"
    return ExitCode.FAILED, str(exc)


async def _finish(
    store: Store, task_id: str, status: TaskStatus, code: ExitCode, error: str | None
) -> TaskOutcome:
    await store.set_task_status(task_id, status, error=error, exit_code=code)
    return TaskOutcome(status, code, error)


@dataclass(frozen=True)
class _Recorded:
    """A model reply as the store records it: its events, transcript entry and usage."""

    events: Sequence[tuple[str, JsonInputObject]]
    messages: Sequence[JsonInputObject]
    usage: UsageRecord


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
        self.completed = False
        """True once the final answer and the ``completed`` status are committed."""
        self._helpers: set[asyncio.Task[None]] = set()
        self.user = TaskUser(
            store,
            task_id,
            responder,
            auto_approve=options.auto_approve,
            approval_timeout=options.approval_timeout,
            question_timeout=options.question_timeout,
            waiting=options.waiting_for_user,
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
        await self._answer_interrupted(messages)
        # Messages sent while the task was not running come first; a changed grant is told
        # after the user's latest message.
        await self._take_follow_ups(messages)
        if lost:
            await self._tell_grants_changed(lost, messages)
        # Reading the skills and setting the sandbox up hold the loop a while: in
        # ``errand serve`` the requests being answered go first (errand.priority).
        await yield_to_requests()
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

    async def _answer_interrupted(self, messages: list[Message]) -> None:
        """Answer the calls an earlier run was stopped in (see :mod:`errand.agent.interrupted`)
        and record the answers with their ``tool.result`` events, in one commit."""
        steps = unanswered_steps(messages)
        if not steps:
            return
        log: list[TaskEvent | UnknownEvent] = []
        after = 0
        while page := await self.store.events(self.task_id, after_seq=after):
            log += [record.event for record in page]
            after = page[-1].seq
        progress = CallProgress.from_log(log)
        answers: list[Message] = []
        logged: list[ToolResulted] = []
        for step in steps:
            answer, results = answer_interrupted(step, progress)
            answers.append(answer)
            logged += results
        await self.store.record_step(
            self.task_id,
            events=[event_item(result) for result in logged],
            messages=[message_to_json(answer) for answer in answers],
        )
        for answer in answers:
            place_answer(messages, answer)

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
            reply, recorded = await self._ask_model(request)
            messages.append(reply)
            if not reply.tool_calls:
                pause_at("final-answer")
                # The answer and the end of the task are one commit: a crash leaves both or
                # neither, so a resumed task never asks the model for an answer it has.
                await self.store.complete_task(
                    self.task_id,
                    events=recorded.events,
                    messages=recorded.messages,
                    usage=recorded.usage,
                )
                self.completed = True
                pause_at("completed")
                return
            await self.store.record_step(
                self.task_id,
                events=recorded.events,
                messages=recorded.messages,
                usage=recorded.usage,
            )
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

    async def _ask_model(self, request: ModelRequest) -> tuple[Message, _Recorded]:
        """The model's reply, streamed to the log as it comes, and what records it (the
        caller commits that: as a step, or with the end of the task)."""
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
        # The reply, its place in the transcript and its usage go in one commit.
        return reply, _Recorded([event_item(e) for e in step], [message_to_json(reply)], usage)

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
