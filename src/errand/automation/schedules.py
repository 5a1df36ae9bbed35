"""Schedules: what the user manages (add, list, show, pause, resume, run now, remove).

The same operations behind ``errand schedules``, ``/api/v1/schedules`` and the phone. Running
them is the :class:`~errand.automation.scheduler.Scheduler`'s job; ``run_now`` only records
a manual occurrence and wakes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from errand.automation.template import TaskTemplate
from errand.automation.timing import Clock, Timing, TimingKind, system_clock
from errand.store import (
    AutomationStore,
    NameTaken,
    NewSchedule,
    ScheduleRecord,
    ScheduleRunRecord,
    Store,
)

MissedPolicy = Literal["run-once", "skip"]
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_PROMPT_CHARS = 100_000


class AutomationError(ValueError):
    """A request about a schedule, hook or webhook that cannot be met.

    ``code`` is the API's error code (``*_not_found`` answer 404, ``*_exists`` 409, others
    400); the message is one sentence that says what to do.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_name(name: str, what: str) -> str:
    """Raises ``AutomationError`` for a name that is not 1-64 letters, digits, ``_.-``."""
    if not NAME.match(name):
        raise AutomationError(
            f"invalid_{what}",
            f"{name!r} cannot name a {what}: use 1-64 letters, digits, '_', '.' or '-'",
        )
    return name


@dataclass(frozen=True, slots=True)
class NewScheduleRequest:
    """What ``Schedules.add`` takes."""

    name: str
    prompt: str
    timing: Timing
    template: TaskTemplate
    missed: MissedPolicy = "run-once"
    max_runs: int | None = None
    notify: bool = False
    token_budget: int | None = None


@dataclass(frozen=True, slots=True)
class ScheduleView:
    """A schedule as shown: its record, parsed timing and template, and its newest runs."""

    record: ScheduleRecord
    timing: Timing
    template: TaskTemplate
    runs: tuple[ScheduleRunRecord, ...]

    @property
    def last_run(self) -> ScheduleRunRecord | None:
        return self.runs[0] if self.runs else None


class Schedules:
    """The user's schedules, stored; ``wake`` tells a running scheduler to look now."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = system_clock,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self._store = AutomationStore(store)
        self._clock = clock
        self._wake = wake or (lambda: None)

    async def add(self, new: NewScheduleRequest) -> ScheduleView:
        """Store a schedule; its first occurrence is the timing's first after now.

        Raises:
            AutomationError: ``invalid_schedule`` (name, prompt, limits, a time in the
                past) or ``schedule_exists``.
        """
        check_name(new.name, "schedule")
        if not new.prompt.strip() or len(new.prompt) > MAX_PROMPT_CHARS:
            raise AutomationError("invalid_schedule", "the schedule needs a prompt")
        if new.max_runs is not None and new.max_runs < 1:
            raise AutomationError("invalid_schedule", "--max-runs must be at least 1")
        if new.token_budget is not None and new.token_budget < 1:
            raise AutomationError("invalid_schedule", "the token budget must be at least 1")
        now = self._clock()
        first = new.timing.first(now)
        if first is None:
            raise AutomationError("invalid_schedule", "that time is in the past")
        try:
            record = await self._store.add_schedule(
                NewSchedule(
                    name=new.name,
                    prompt=new.prompt,
                    timing_kind=new.timing.kind,
                    timing=new.timing.spec,
                    tz=new.timing.tz,
                    request=new.template.to_json(),
                    missed=new.missed,
                    max_runs=new.max_runs,
                    notify=new.notify,
                    token_budget=new.token_budget,
                    next_at=first,
                ),
                now=now,
            )
        except NameTaken as exc:
            raise AutomationError(
                "schedule_exists", f"a schedule is already named {new.name!r}"
            ) from exc
        self._wake()
        return _view(record, ())

    async def list_all(self) -> list[ScheduleView]:
        """Every schedule by name, each with its last run."""
        found = []
        for record in await self._store.list_schedules():
            runs = await self._store.runs_of(record.id, limit=1)
            found.append(_view(record, runs))
        return found

    async def show(self, name: str, *, runs: int = 20) -> ScheduleView:
        """The schedule with its newest ``runs`` runs (tokens spent on each).

        Raises:
            AutomationError: ``schedule_not_found``.
        """
        record = await self._get(name)
        return _view(record, await self._store.runs_of(record.id, limit=runs))

    async def pause(self, name: str) -> ScheduleView:
        record = await self._get(name)
        await self._store.set_paused(record.id, paused=True)
        return await self.show(name)

    async def resume(self, name: str) -> ScheduleView:
        """Resume from now: occurrences that fell while paused are not run."""
        record = await self._get(name)
        timing = _timing(record)
        done = record.max_runs is not None and record.runs >= record.max_runs
        next_at = None if done else timing.first(self._clock())
        await self._store.set_paused(record.id, paused=False, next_at=next_at)
        self._wake()
        return await self.show(name)

    async def run_now(self, name: str) -> ScheduleRunRecord:
        """Record a manual run; the scheduler starts it at once (or at its next start)."""
        record = await self._get(name)
        run = await self._store.add_manual_run(record.id, now=self._clock())
        self._wake()
        return run

    async def remove(self, name: str) -> None:
        record = await self._get(name)
        await self._store.remove_schedule(record.id)

    async def _get(self, name: str) -> ScheduleRecord:
        record = await self._store.get_schedule(name)
        if record is None:
            raise AutomationError("schedule_not_found", f"no schedule is named {name!r}")
        return record


def _timing(record: ScheduleRecord) -> Timing:
    kind: TimingKind = "cron"
    if record.timing_kind in ("every", "at"):
        kind = "every" if record.timing_kind == "every" else "at"
    return Timing(kind, record.timing, record.tz)


def _view(record: ScheduleRecord, runs: list[ScheduleRunRecord] | tuple[()]) -> ScheduleView:
    return ScheduleView(
        record=record,
        timing=_timing(record),
        template=TaskTemplate.from_json(record.request),
        runs=tuple(runs),
    )


def timing_of(record: ScheduleRecord) -> Timing:
    """The parsed timing of a stored schedule."""
    return _timing(record)
