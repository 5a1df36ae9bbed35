"""The scheduler: turns due schedules into runs, and runs into tasks.

Table-driven, so an occurrence is never lost nor run twice:

1. A due schedule *advances* in one transaction: a row per occurrence is written and its
   ``next_at`` moves on, guarded by the ``next_at`` it was read with. A crash before the
   commit leaves the schedule due (the next tick redoes it); after it, the rows exist.
2. A ``pending`` row is *claimed* (``starting``), its task submitted through intake with the
   row's id as the source ref, then *linked* (``started``). A crash after the claim is
   repaired at start-up: the task carrying that ref is linked if it was created, else the
   task is created now.

An occurrence found more than ``missed_after`` late (the computer was asleep or off) is
*missed*: all missed occurrences of one wake-up become one recorded row, run once or
skipped per the schedule's policy. Time comes from an injected clock; nothing here sleeps
on wall time except the idle wait between ticks.

Each tick also enforces token budgets: a run whose task spent more than its schedule allows
is stopped (its log says why).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from errand.automation.schedules import timing_of
from errand.automation.template import TaskTemplate
from errand.automation.timing import Clock, system_clock
from errand.events import BudgetExceeded, event_item
from errand.intake import Intake, IntakeError
from errand.store import (
    RUN_REF_PREFIX,
    Advance,
    AutomationStore,
    NewRun,
    RunReason,
    RunState,
    ScheduleRecord,
    ScheduleRunRecord,
    Store,
    StoreError,
    TaskRecord,
)
from errand.tasks import SourceKind, TaskSource

log = logging.getLogger(__name__)

MAX_OCCURRENCES = 10_000
"""Occurrences counted per wake-up; a longer absence is recorded as this many."""
BATCH = 25
"""Schedules advanced and runs started per tick, so one tick never monopolises the store."""

Cancel = Callable[[str], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class TickReport:
    advanced: int = 0
    started: int = 0
    stopped: int = 0


class Scheduler:
    """Advances due schedules and starts their runs; ``start`` runs it in the background."""

    def __init__(
        self,
        store: Store,
        intake: Intake,
        *,
        clock: Clock = system_clock,
        cancel: Cancel | None = None,
        interval: float = 1.0,
        missed_after: timedelta = timedelta(minutes=2),
    ) -> None:
        self._store = store
        self._automation = AutomationStore(store)
        self._intake = intake
        self._clock = clock
        self._cancel = cancel
        self._interval = interval
        self._missed_after = missed_after
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Look at the schedules now rather than at the next interval."""
        self._wake.set()

    async def start(self) -> None:
        """Repair runs a crash left half-started, then tick every ``interval`` seconds."""
        await self.recover()
        self._loop_task = asyncio.ensure_future(self._run())

    async def aclose(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                report = await self.tick()
            except (StoreError, OSError):
                log.exception("the scheduler's tick failed; retrying")
                report = TickReport()
            if report.advanced >= BATCH or report.started >= BATCH:
                await asyncio.sleep(0)  # more is due: go on, after letting others run
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)

    async def tick(self) -> TickReport:
        """One pass: advance due schedules, start pending runs, enforce budgets.

        Writes are batched (one transaction advances every due schedule of the pass, one
        claims the runs, one links them) so a busy pass leaves room for running tasks.
        """
        now = self._clock()
        due = await self._automation.due_schedules(now=now, limit=BATCH)
        advanced = await self._automation.advance_many(
            [self._plan(schedule, now) for schedule in due], now=now
        )
        pending = await self._automation.runs_in_state(RunState.PENDING, limit=BATCH)
        claimed = set(await self._automation.claim_runs([r.id for r in pending], now=now))
        links: list[tuple[str, str]] = []
        for run in pending:
            if run.id in claimed:
                task_id = await self._submit(run)
                if task_id is not None:
                    links.append((run.id, task_id))
            await asyncio.sleep(0)
        await self._automation.link_runs(links)
        stopped = await self._enforce_budgets()
        return TickReport(advanced=len(advanced), started=len(claimed), stopped=stopped)

    async def recover(self) -> int:
        """Finish runs claimed by a process that stopped before linking their task."""
        repaired = 0
        for run in await self._automation.runs_in_state(RunState.STARTING):
            task = await self._task_with_ref(run)
            task_id = task.id if task is not None else await self._submit(run)
            if task_id is not None:
                await self._automation.link_run(run.id, task_id)
            repaired += 1
        return repaired

    def _plan(self, schedule: ScheduleRecord, now: datetime) -> Advance:
        """The runs a due schedule records now, and its next time."""
        assert schedule.next_at is not None
        timing = timing_of(schedule)
        times: list[datetime] = []
        upcoming: datetime | None = schedule.next_at
        while upcoming is not None and upcoming <= now and len(times) < MAX_OCCURRENCES:
            times.append(upcoming)
            upcoming = timing.next_after(upcoming)
        if upcoming is not None and upcoming <= now:
            upcoming = timing.next_after(now)
        on_time = [t for t in times if now - t <= self._missed_after]
        missed = [t for t in times if now - t > self._missed_after]
        room = None if schedule.max_runs is None else schedule.max_runs - schedule.runs
        runs: list[NewRun] = []
        if missed:
            run_it = schedule.missed == "run-once" and not on_time and (room is None or room > 0)
            runs.append(
                NewRun(
                    due_at=missed[-1],
                    reason=RunReason.MISSED,
                    state=RunState.PENDING if run_it else RunState.SKIPPED,
                    missed_count=len(missed),
                    error=None if run_it else _skip_reason(schedule, bool(on_time)),
                )
            )
            if run_it and room is not None:
                room -= 1
        for due in on_time:
            if room is not None and room <= 0:
                break
            runs.append(NewRun(due_at=due, reason=RunReason.SCHEDULED, state=RunState.PENDING))
            if room is not None:
                room -= 1
        if room is not None and room <= 0:
            upcoming = None
        return Advance(schedule, upcoming, tuple(runs))

    async def _submit(self, run: ScheduleRunRecord) -> str | None:
        """Create the run's task through intake; None if it was refused (and recorded so)."""
        schedule = await self._automation.get_schedule(run.schedule_id)
        if schedule is None:
            return None  # removed meanwhile; its runs went with it
        template = TaskTemplate.from_json(schedule.request)
        request = template.request(
            schedule.prompt,
            source=TaskSource(kind=SourceKind.SCHEDULE, ref=run_ref(run.id)),
            title=f"{schedule.name}: {_first_line(schedule.prompt)}"[:200],
        )
        try:
            task = await self._intake.submit(request)
        except IntakeError as exc:
            await self._automation.refuse_run(
                run,
                exc.message,
                payload={
                    "type": "schedule.refused",
                    "timestamp": self._clock().isoformat(),
                    "data": {"schedule": schedule.name, "error": exc.message},
                },
                now=self._clock(),
            )
            return None
        return task.id

    async def _task_with_ref(self, run: ScheduleRunRecord) -> TaskRecord | None:
        # Only a crash between claim and link gets here; the task, if any, is among the
        # newest (the store stamps tasks with the wall clock, so no time bound is used).
        for task in await self._store.list_tasks(limit=1000):
            if source_ref_of(task) == run_ref(run.id):
                return task
        return None

    async def _enforce_budgets(self) -> int:
        stopped = 0
        for run, budget in await self._automation.budgeted_runs():
            assert run.task_id is not None
            totals = await self._store.usage_totals(run.task_id)
            spent = totals.input_tokens + totals.output_tokens
            if spent <= budget or self._cancel is None:
                continue
            exceeded = BudgetExceeded(
                tokens=spent,
                budget=budget,
                message=f"stopped: this run used {spent} tokens, over its budget of {budget}",
            )
            await self._store.append_event(run.task_id, *event_item(exceeded))
            if await self._cancel(run.task_id):
                stopped += 1
        return stopped


def run_ref(run_id: str) -> str:
    """The source ref a schedule run's task carries."""
    return f"{RUN_REF_PREFIX}{run_id}"


def source_ref_of(task: TaskRecord) -> str | None:
    """The source ref a task was submitted with."""
    return task.source.ref


def _skip_reason(schedule: ScheduleRecord, on_time: bool) -> str:
    if on_time:
        return "missed while Errand was not running; the on-time run that followed replaced it"
    if schedule.missed == "skip":
        return "missed while Errand was not running; skipped as the schedule asks"
    return "missed while Errand was not running; the schedule reached its maximum runs"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text.strip())
