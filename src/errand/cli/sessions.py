"""``errand sessions``: the tasks Errand has run, and each one's full log."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from errand.cli import tables
from errand.cli.ids import MAX_LISTED, Candidate, IdProblem, resolve_id

if TYPE_CHECKING:
    from errand.store import PruneResult, Store, TaskRecord

app = typer.Typer(help="List past tasks and replay one.", no_args_is_help=True)


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The newest tasks with their status."""
    tasks = asyncio.run(_list(limit))
    if as_json:
        typer.echo(json.dumps([_task_json(t) for t in tasks]))
        return
    shown = tables.table("id", "status", "created", "model", "title", "attention")
    for t in tasks:
        shown.add_row(
            t.id,
            t.status.value,
            t.created_at.strftime("%Y-%m-%d %H:%M"),
            t.model,
            t.title,
            ", ".join(t.attention),
        )
    tables.console().print(shown)


async def _list(limit: int) -> list[TaskRecord]:
    from errand.store import open_store

    async with await open_store() as store:
        return await store.list_tasks(limit=limit)


_UNITS = {"d": 86_400, "h": 3_600, "w": 604_800}


def parse_age(text: str) -> timedelta:
    """``90d``, ``12h`` or ``4w`` as a duration.

    Raises:
        typer.BadParameter: anything else.
    """
    number, unit = text[:-1], text[-1:].lower()
    if unit not in _UNITS or not number.isdigit() or int(number) < 1:
        raise typer.BadParameter(f"{text!r} is not an age like 90d, 12h or 4w")
    return timedelta(seconds=int(number) * _UNITS[unit])


@app.command()
def prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age of the tasks to remove: 90d, 12h, 4w.")
    ],
) -> None:
    """Remove tasks that ended longer ago than --older-than, with their logs; compact the
    database. Tasks still queued, running, waiting or interrupted are never removed."""
    cutoff = datetime.now(UTC) - parse_age(older_than)
    result = asyncio.run(_prune(cutoff))
    when = cutoff.astimezone().strftime("%Y-%m-%d %H:%M")
    out = Console(highlight=False, soft_wrap=True)
    out.print(f"Removed {result.deleted} task(s) that ended before {when}.", markup=False)
    if result.kept_unfinished:
        out.print(
            f"Kept {result.kept_unfinished} older task(s) that have not ended "
            "(cancel them first to remove them).",
            markup=False,
        )


async def _prune(cutoff: datetime) -> PruneResult:
    from errand.store import open_store

    async with await open_store() as store:
        return await store.prune_tasks(ended_before=cutoff)


@app.command()
def show(
    task_id: Annotated[
        str, typer.Argument(help="The task's id or its first characters (`errand sessions list`).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Events as JSON lines.")] = False,
) -> None:
    """Replay a task's log as it was shown live."""
    try:
        asyncio.run(_show(task_id, as_json))
    except IdProblem as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"errand: {exc}", markup=False)
        raise typer.Exit(2) from exc


async def task_id_of(store: Store, given: str) -> str:
    """The task id ``given`` means (the whole id or a unique prefix).

    Raises:
        IdProblem: no task or several match.
    """
    matches = await store.task_ids_with_prefix(given, limit=MAX_LISTED + 1)
    return resolve_id(given, [Candidate(found) for found in matches], kind="task")


async def _show(given: str, as_json: bool) -> None:
    from errand.cli.render import EventPrinter, follow
    from errand.store import open_store

    async with await open_store() as store:
        task_id = await task_id_of(store, given)
        task = await store.get_task(task_id)
        printer = None if as_json else EventPrinter()
        if printer is not None:
            printer.console.print(f"[bold]{task.title}[/] ({task.model}, {task.status.value})")
        after = 0
        while True:
            last = await follow(
                store, task_id, printer, as_json=as_json, after=after, until_final=False
            )
            if last == after:
                break
            after = last
        task = await store.get_task(task_id)
        if printer is not None and task.attention:
            # A task that completed may still have had trouble on the way: say so last.
            printer.console.print(f"[yellow]Needs a look:[/] {escape(', '.join(task.attention))}")


def _task_json(t: TaskRecord) -> dict[str, object]:
    return {
        "id": t.id,
        "status": t.status.value,
        "title": t.title,
        "model": t.model,
        "created_at": t.created_at.isoformat(),
        "finished_at": t.finished_at.isoformat() if t.finished_at else None,
        "exit_code": t.exit_code,
        "error": t.error,
        "attention": list(t.attention),
    }
