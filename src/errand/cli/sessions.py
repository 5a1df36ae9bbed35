"""``errand sessions``: the tasks Errand has run, and each one's full log."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from errand.store import TaskRecord

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
    table = Table("id", "status", "created", "model", "title", box=None)
    for t in tasks:
        table.add_row(
            t.id, t.status.value, t.created_at.strftime("%Y-%m-%d %H:%M"), t.model, t.title
        )
    Console(highlight=False).print(table)


async def _list(limit: int) -> list[TaskRecord]:
    from errand.store import open_store

    async with await open_store() as store:
        return await store.list_tasks(limit=limit)


@app.command()
def show(
    task_id: Annotated[str, typer.Argument(help="The task's id (from `errand sessions list`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Events as JSON lines.")] = False,
) -> None:
    """Replay a task's log as it was shown live."""
    from errand.store import TaskNotFound

    try:
        asyncio.run(_show(task_id, as_json))
    except TaskNotFound as exc:
        Console(stderr=True).print(f"errand: no task {task_id!r}", markup=False)
        raise typer.Exit(2) from exc


async def _show(task_id: str, as_json: bool) -> None:
    from errand.cli.render import EventPrinter, follow
    from errand.store import open_store

    async with await open_store() as store:
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
                return
            after = last


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
    }
