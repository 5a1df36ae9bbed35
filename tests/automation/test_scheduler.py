"""The scheduler with an injected clock: runs are never lost nor doubled, across restarts,
crashes between steps, missed occurrences and daylight-saving changes."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from automation.clock import FakeClock
from errand.automation import (
    NewScheduleRequest,
    Scheduler,
    Schedules,
    TaskTemplate,
    parse_timing,
)
from errand.automation.scheduler import run_ref
from errand.intake import Intake, IntakeSettings
from errand.runner import LocalRunner
from errand.server.gateway import clients_answer
from errand.store import AutomationStore, NewRun, RunReason, RunState, Store, TaskStatus, open_store
from errand.tasks import SourceKind, TaskSource


async def _add(store: Store, clock: FakeClock, name: str = "news", **timing: str) -> Schedules:
    schedules = Schedules(store, clock=clock)
    missed = timing.pop("missed", "run-once")
    await schedules.add(
        NewScheduleRequest(
            name=name,
            prompt="Summarise the news",
            timing=parse_timing(**timing),
            template=TaskTemplate(),
            missed="skip" if missed == "skip" else "run-once",
        )
    )
    return schedules


async def test_a_due_occurrence_becomes_one_task_linked_to_its_schedule(
    store: Store, intake: Intake, clock: FakeClock
) -> None:
    schedules = await _add(store, clock, every="1h")
    scheduler = Scheduler(store, intake, clock=clock)
    assert (await scheduler.tick()).started == 0
    clock.advance(timedelta(hours=1))
    assert (await scheduler.tick()).started == 1
    assert (await scheduler.tick()).started == 0  # the same time again starts nothing
    view = await schedules.show("news")
    [run] = view.runs
    assert run.state is RunState.STARTED and run.reason is RunReason.SCHEDULED
    assert run.task_id is not None
    task = await store.get_task(run.task_id)
    assert task.source.kind is SourceKind.SCHEDULE and task.prompt == "Summarise the news"
    assert view.record.next_at == clock.now + timedelta(hours=1)


async def test_a_restart_neither_loses_nor_repeats_an_occurrence(
    store: Store, intake: Intake, clock: FakeClock, db_url: str
) -> None:
    await _add(store, clock, every="1h")
    clock.advance(timedelta(hours=1))
    await Scheduler(store, intake, clock=clock).tick()
    await store.aclose()
    reopened = await open_store(db_url)
    try:
        again = Scheduler(
            reopened,
            Intake(reopened, config=IntakeSettings(default_model="anthropic:x")),
            clock=clock,
        )
        await again.recover()
        assert (await again.tick()).started == 0
        clock.advance(timedelta(hours=1))
        assert (await again.tick()).started == 1
        runs = (await Schedules(reopened, clock=clock).show("news")).runs
        assert [r.due_at for r in runs] == [clock.now, clock.now - timedelta(hours=1)]
        assert len({r.task_id for r in runs}) == 2
    finally:
        await reopened.aclose()


async def test_occurrences_missed_while_off_run_once_and_are_recorded(
    store: Store, intake: Intake, clock: FakeClock
) -> None:
    schedules = await _add(store, clock, every="1h")
    start = clock.now
    clock.advance(timedelta(hours=5, minutes=30))  # the computer was off
    report = await Scheduler(store, intake, clock=clock).tick()
    assert report.started == 1
    [run] = (await schedules.show("news")).runs
    assert run.reason is RunReason.MISSED and run.missed_count == 5
    assert run.due_at == start + timedelta(hours=5) and run.task_id is not None
    assert (await schedules.show("news")).record.next_at == start + timedelta(hours=6)


async def test_occurrences_missed_under_the_skip_policy_are_recorded_not_run(
    store: Store, intake: Intake, clock: FakeClock
) -> None:
    schedules = await _add(store, clock, every="1h", missed="skip")
    clock.advance(timedelta(hours=3, minutes=10))
    assert (await Scheduler(store, intake, clock=clock).tick()).started == 0
    [run] = (await schedules.show("news")).runs
    assert run.state is RunState.SKIPPED and run.missed_count == 3
    assert run.error is not None and "skipped" in run.error
    assert await store.list_tasks() == []


async def test_a_crash_after_the_task_was_created_links_it_instead_of_starting_another(
    store: Store, intake: Intake, clock: FakeClock
) -> None:
    await _add(store, clock, every="1h")
    automation = AutomationStore(store)
    clock.advance(timedelta(hours=1))
    [schedule] = await automation.due_schedules(now=clock.now)
    scheduler = Scheduler(store, intake, clock=clock)
    # Advance and claim as the scheduler does, then "crash" right after creating the task.

    await automation.advance(
        schedule,
        next_at=clock.now + timedelta(hours=1),
        runs=[NewRun(clock.now, RunReason.SCHEDULED, RunState.PENDING)],
        now=clock.now,
    )
    [pending] = await automation.runs_in_state(RunState.PENDING)
    assert await automation.claim_run(pending.id, now=clock.now)
    created = await intake.submit(
        TaskTemplate().request(
            "Summarise the news",
            source=TaskSource(kind=SourceKind.SCHEDULE, ref=run_ref(pending.id)),
        )
    )
    assert await scheduler.recover() == 1
    assert [t.id for t in await store.list_tasks()] == [created.id]
    [run] = await automation.runs_of(schedule.id)
    assert run.state is RunState.STARTED and run.task_id == created.id


async def test_a_crash_before_the_task_was_created_starts_it_once(
    store: Store, intake: Intake, clock: FakeClock
) -> None:
    await _add(store, clock, every="1h")
    automation = AutomationStore(store)
    clock.advance(timedelta(hours=1))
    scheduler = Scheduler(store, intake, clock=clock)
    [schedule] = await automation.due_schedules(now=clock.now)

    await automation.advance(
        schedule,
        next_at=clock.now + timedelta(hours=1),
        runs=[NewRun(clock.now, RunReason.SCHEDULED, RunState.PENDING)],
        now=clock.now,
    )
    [pending] = await automation.runs_in_state(RunState.PENDING)
    await automation.claim_run(pending.id, now=clock.now)
    assert await scheduler.recover() == 1
    assert await scheduler.recover() == 0
    assert len(await store.list_tasks()) == 1


async def test_cron_follows_the_schedules_timezone_through_daylight_saving() -> None:
    timing = parse_timing(cron="30 2 * * *", tz="Europe/Berlin")
    # 29 March 2026: 02:00 jumps to 03:00, so 02:30 does not exist; it runs at 03:00 CEST.
    spring = timing.next_after(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert spring == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert timing.next_after(spring) == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)
    # 25 October 2026: 02:30 happens twice; it runs once, and 8:00 stays 8:00 local.
    autumn = timing.next_after(datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    assert autumn == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert timing.next_after(autumn) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)
    morning = parse_timing(cron="0 8 * * 1-5", tz="Europe/Berlin")
    assert morning.next_after(datetime(2026, 10, 23, 7, 0, tzinfo=UTC)) == datetime(
        2026, 10, 26, 7, 0, tzinfo=UTC
    )


async def test_the_repeated_autumn_hour_runs_a_cron_schedule_once(
    store: Store, intake: Intake
) -> None:
    clock = FakeClock(datetime(2026, 10, 24, 22, 0, tzinfo=UTC))
    await _add(store, clock, cron="30 2 * * *", tz="Europe/Berlin")
    scheduler = Scheduler(store, intake, clock=clock)
    for _ in range(4 * 8):  # every 15 minutes through the night of the change
        clock.advance(timedelta(minutes=15))
        await scheduler.tick()
    runs = (await Schedules(store, clock=clock).show("news")).runs
    assert [r.due_at for r in runs] == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC)]
    assert runs[0].reason is RunReason.SCHEDULED


async def test_max_runs_ends_the_schedule(store: Store, intake: Intake, clock: FakeClock) -> None:
    schedules = Schedules(store, clock=clock)
    await schedules.add(
        NewScheduleRequest(
            name="twice",
            prompt="p",
            timing=parse_timing(every="1h"),
            template=TaskTemplate(),
            max_runs=2,
        )
    )
    scheduler = Scheduler(store, intake, clock=clock)
    for _ in range(4):
        clock.advance(timedelta(hours=1))
        await scheduler.tick()
    view = await schedules.show("twice")
    assert len(view.runs) == 2 and view.record.next_at is None


async def test_a_run_whose_folder_is_no_longer_allowed_is_refused_and_recorded(
    store: Store, intake: Intake, clock: FakeClock
) -> None:
    schedules = Schedules(store, clock=clock)
    await schedules.add(
        NewScheduleRequest(
            name="notes",
            prompt="tidy",
            timing=parse_timing(every="1h"),
            template=TaskTemplate.from_options(["gone:rw"], [], None),
            notify=True,
        )
    )
    clock.advance(timedelta(hours=1))
    await Scheduler(store, intake, clock=clock).tick()
    [run] = (await schedules.show("notes")).runs
    assert run.state is RunState.REFUSED and run.error is not None and "gone" in run.error
    assert await store.list_tasks() == []
    [note] = await AutomationStore(store).notifications()
    assert note.kind == "schedule.refused" and "gone" in note.body


async def test_run_now_and_pause(store: Store, intake: Intake, clock: FakeClock) -> None:
    schedules = await _add(store, clock, every="1h")
    await schedules.pause("news")
    scheduler = Scheduler(store, intake, clock=clock)
    clock.advance(timedelta(hours=3))
    assert (await scheduler.tick()).started == 0
    await schedules.run_now("news")
    assert (await scheduler.tick()).started == 1
    resumed = await schedules.resume("news")
    assert resumed.record.next_at == clock.now + timedelta(hours=1)
    assert [r.reason for r in resumed.runs] == [RunReason.MANUAL]


async def test_a_run_over_its_token_budget_is_stopped_and_its_tokens_shown(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    script = tmp_path / "budget.json"
    script.write_text(
        json.dumps(
            {
                "turns": [
                    {
                        "tool_calls": [{"name": "ask_user", "arguments": {"question": "Go on?"}}],
                        "usage": [900, 200],
                    },
                    {"text": "done", "usage": [10, 10]},
                ]
            }
        ),
        encoding="utf-8",
    )
    # Questions wait for an answer from a client, so the run is still going when checked.
    runner = LocalRunner(store, concurrency=1, responder_factory=clients_answer)
    await runner.start()
    try:
        settings = IntakeSettings(default_model=f"script:{script}", allow_scripted_models=True)
        intake = Intake(store, config=settings, wake=runner.submit)
        schedules = Schedules(store, clock=clock)
        await schedules.add(
            NewScheduleRequest(
                name="costly",
                prompt="Do something expensive",
                timing=parse_timing(every="1h"),
                template=TaskTemplate(),
                token_budget=1000,
            )
        )
        scheduler = Scheduler(store, intake, clock=clock, cancel=runner.cancel)
        clock.advance(timedelta(hours=1))
        await scheduler.tick()
        [run] = (await schedules.show("costly")).runs
        assert run.task_id is not None
        seq = 0
        async with asyncio.timeout(30):
            while (await store.usage_totals(run.task_id)).input_tokens < 900:
                found = await store.wait_for_events(run.task_id, seq, timeout=5)
                seq = found[-1].seq if found else seq
        assert (await scheduler.tick()).stopped == 1
        task = await store.get_task(run.task_id)
        assert task.status is TaskStatus.CANCELLED
        logged = [e for e in await store.events(run.task_id) if e.type == "budget.exceeded"]
        assert logged and logged[0].payload["budget"] == 1000
        [shown] = (await schedules.show("costly")).runs
        assert shown.tokens == 1100 and shown.outcome == "cancelled"
        assert (await scheduler.tick()).stopped == 0
    finally:
        await runner.aclose()
