"""``errand schedules``: tasks that run on a timetable (cron, every N, once at a time)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from errand.cli.automation_common import console, errors, local_time, with_store

if TYPE_CHECKING:
    from errand.automation import ScheduleView
    from errand.store import ScheduleRunRecord, Store

app = typer.Typer(
    help="Schedules: add, list, show, pause, resume, run, remove.", no_args_is_help=True
)


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="A short name, e.g. morning-news.")],
    prompt: Annotated[str, typer.Option("--prompt", help="What to do at each run.")],
    cron: Annotated[str | None, typer.Option(help='Cron expression, e.g. "0 8 * * 1-5".')] = None,
    every: Annotated[str | None, typer.Option(help="Interval, e.g. 30m, 2h, 1d.")] = None,
    at: Annotated[str | None, typer.Option(help="Once, at an ISO time: 2026-12-01T09:00.")] = None,
    tz: Annotated[str, typer.Option(help="IANA timezone for --cron and --at.")] = "UTC",
    folder: Annotated[
        list[str] | None, typer.Option("--folder", help="Allowed folder NAME[:ro|:rw]; repeat.")
    ] = None,
    allow_domain: Annotated[
        list[str] | None, typer.Option("--allow-domain", help="Domain the task may reach.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="PROVIDER:MODEL (default: configured).")] = None,
    missed: Annotated[
        str, typer.Option(help="A run missed while off: run-once (on wake) or skip.")
    ] = "run-once",
    max_runs: Annotated[int | None, typer.Option(min=1, help="Stop after this many runs.")] = None,
    notify: Annotated[bool, typer.Option("--notify", help="Tell me when each run ends.")] = False,
    token_budget: Annotated[
        int | None, typer.Option(min=1, help="Stop a run that spends more tokens than this.")
    ] = None,
) -> None:
    """Add a schedule; each run is a task like any other."""
    from errand.automation import (
        NewScheduleRequest,
        Schedules,
        TaskTemplate,
        TemplateError,
        TimingError,
        parse_timing,
    )

    if missed not in ("run-once", "skip"):
        errors.print("errand: --missed is run-once or skip", markup=False)
        raise typer.Exit(2)
    try:
        timing = parse_timing(cron=cron, every=every, at=at, tz=tz)
        template = TaskTemplate.from_options(folder or [], allow_domain or [], model)
    except (TimingError, TemplateError) as exc:
        errors.print(f"errand: {exc}", markup=False)
        raise typer.Exit(2) from exc
    request = NewScheduleRequest(
        name=name,
        prompt=prompt,
        timing=timing,
        template=template,
        missed="skip" if missed == "skip" else "run-once",
        max_runs=max_runs,
        notify=notify,
        token_budget=token_budget,
    )

    async def work(store: Store) -> ScheduleView:
        return await Schedules(store).add(request)

    view = with_store(work)
    console.print(
        f"Added schedule {view.record.name}: {view.timing.describe()}, "
        f"next run {local_time(view.record.next_at)}. `errand serve` runs it.",
        markup=False,
    )


@app.command("list")
def list_() -> None:
    """Every schedule with its next run and last result."""
    from errand.automation import Schedules

    async def work(store: Store) -> list[ScheduleView]:
        return await Schedules(store).list_all()

    views = with_store(work)
    if not views:
        console.print("No schedules. Add one with `errand schedules add NAME --prompt ...`.")
        return
    table = Table("name", "when", "next run", "last run", "state", box=None)
    for view in views:
        table.add_row(
            view.record.name,
            view.timing.describe(),
            "paused" if view.record.paused else local_time(view.record.next_at, "finished"),
            local_time(view.last_run.due_at) if view.last_run else "never",
            _result(view.last_run) if view.last_run else "-",
        )
    console.print(table)


@app.command()
def show(name: Annotated[str, typer.Argument(help="The schedule's name.")]) -> None:
    """A schedule and its recent runs: missed, skipped, outcomes and tokens per run."""
    from errand.automation import Schedules

    async def work(store: Store) -> ScheduleView:
        return await Schedules(store).show(name)

    view = with_store(work)
    record = view.record
    console.print(f"{record.name}: {view.timing.describe()}", markup=False)
    console.print(f"  prompt: {record.prompt}", markup=False)
    state = "paused" if record.paused else local_time(record.next_at, "finished")
    console.print(f"  next run: {state}", markup=False)
    folders = ", ".join(f"{f.name}:{f.mode}" for f in view.template.folders) or "none"
    console.print(
        f"  folders: {folders}; domains: {', '.join(view.template.allow_domains) or 'none'}; "
        f"model: {view.template.model or 'default'}",
        markup=False,
    )
    console.print(
        f"  missed runs: {record.missed}; runs started: {record.runs}"
        + (f" of {record.max_runs}" if record.max_runs else "")
        + (f"; token budget per run: {record.token_budget}" if record.token_budget else "")
        + ("; notifies" if record.notify else ""),
        markup=False,
    )
    if not view.runs:
        console.print("  no runs yet")
        return
    table = Table("due", "why", "result", "tokens", "task", "note", box=None)
    for run in view.runs:
        why = run.reason.value + (f" ({run.missed_count})" if run.missed_count > 1 else "")
        table.add_row(
            local_time(run.due_at),
            why,
            _result(run),
            str(run.tokens) if run.tokens is not None else "-",
            run.task_id or "-",
            run.error or "",
        )
    console.print(table)


@app.command()
def pause(name: Annotated[str, typer.Argument(help="The schedule's name.")]) -> None:
    """Stop running it until resumed."""
    from errand.automation import Schedules

    async def work(store: Store) -> ScheduleView:
        return await Schedules(store).pause(name)

    with_store(work)
    console.print(f"Paused {name}.", markup=False)


@app.command()
def resume(name: Annotated[str, typer.Argument(help="The schedule's name.")]) -> None:
    """Run it again from now on (what fell due while paused is not run)."""
    from errand.automation import Schedules

    async def work(store: Store) -> ScheduleView:
        return await Schedules(store).resume(name)

    view = with_store(work)
    console.print(f"Resumed {name}; next run {local_time(view.record.next_at)}.", markup=False)


@app.command()
def run(name: Annotated[str, typer.Argument(help="The schedule's name.")]) -> None:
    """Run it now, besides its own times (`errand serve` starts the run)."""
    from errand.automation import Schedules

    async def work(store: Store) -> ScheduleRunRecord:
        return await Schedules(store).run_now(name)

    with_store(work)
    console.print(f"Queued a run of {name}; `errand serve` starts it.", markup=False)


@app.command()
def remove(name: Annotated[str, typer.Argument(help="The schedule's name.")]) -> None:
    """Delete the schedule and its run history (its tasks stay)."""
    from errand.automation import Schedules

    async def work(store: Store) -> None:
        await Schedules(store).remove(name)

    with_store(work)
    console.print(f"Removed {name}.", markup=False)


def _result(run: ScheduleRunRecord) -> str:
    if run.outcome:
        return run.outcome
    return {"started": "running", "starting": "starting"}.get(run.state.value, run.state.value)
