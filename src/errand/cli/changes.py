"""``errand changes`` and ``errand undo``: what a task changed in your folders, and undoing it."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from errand.config import data_dir
from errand.sandbox import (
    Change,
    FolderLayer,
    open_layers,
    paths_in,
    task_changes_dir,
    text_diff,
)

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

_ACTIONS = ("apply", "discard")


def changes(
    task: Annotated[str, typer.Argument(help="The task, or 'apply' / 'discard' then the task.")],
    paths: Annotated[
        list[str] | None, typer.Argument(help="With apply/discard: only these paths.")
    ] = None,
    diff: Annotated[bool, typer.Option("--diff", help="Show text diffs.")] = False,
) -> None:
    """List every change TASK made to your folders (created, modified, deleted; applied, held
    for review, refused or in conflict). `errand changes apply TASK [PATH...]` applies held
    changes, `errand changes discard TASK [PATH...]` drops them."""
    if task in _ACTIONS:
        if not paths:
            errors.print(f"errand: give the task: errand changes {task} TASK [PATH...]")
            raise typer.Exit(2)
        _act(task, paths[0], paths[1:])
        return
    layers = _layers(task)
    shown = 0
    for layer in layers:
        for item in layer.history():
            shown += _show(layer, item.change, diff, undone=item.undone)
        for change in layer.report():
            shown += _show(layer, change, diff, undone=False)
    if not shown:
        console.print(f"Task {task} has not changed any files.")


def undo(
    task: Annotated[str, typer.Argument(help="The task whose changes to undo.")],
    force: Annotated[
        bool, typer.Option("--force", help="Also overwrite files changed since the task.")
    ] = False,
) -> None:
    """Put every file TASK changed back as it was before it, and remove what it created.
    Files changed since (by you or another task) are left alone and listed, unless --force.
    Undo is itself recorded: undoing again redoes."""
    _require_idle(task)
    results: list[Change] = []
    for layer in _layers(task):
        results += layer.undo(force=force)
    if not results:
        console.print(f"Task {task} has nothing to undo.")
        return
    for change in results:
        _show_line(change)
    conflicts = [c for c in results if c.status == "conflict"]
    if conflicts:
        errors.print(
            f"errand: {len(conflicts)} file(s) changed since the task and were left as they "
            "are; `errand undo --force` overwrites them."
        )
        raise typer.Exit(1)


def _act(action: str, task: str, paths: list[str]) -> None:
    _require_idle(task)
    for layer in _layers(task):
        wanted = paths_in(layer, paths)
        if wanted == []:
            continue  # none of the paths is in this folder
        if action == "discard":
            for rel in layer.discard_paths(wanted or ()):
                console.print(f"discarded  {layer.name}/{rel}")
            continue
        for change in layer.apply(paths=wanted or ()):
            _show_line(change)


def _layers(task: str) -> list[FolderLayer]:
    directory = task_changes_dir(data_dir(), task)
    if not directory.is_dir():
        errors.print(f"errand: no changes are recorded for task {task!r}.")
        raise typer.Exit(2)
    return open_layers(directory)


def _require_idle(task: str) -> None:
    from errand.store import TaskNotFound, TaskStatus, open_store

    async def status() -> TaskStatus | None:
        async with await open_store() as store:
            try:
                return (await store.get_task(task)).status
            except TaskNotFound:
                return None

    if asyncio.run(status()) in (TaskStatus.RUNNING, TaskStatus.QUEUED):
        errors.print(f"errand: task {task} is still running; try again once it has finished.")
        raise typer.Exit(2)


def _show(layer: FolderLayer, change: Change, diff: bool, *, undone: bool) -> int:
    _show_line(change, undone=undone)
    if diff:
        text = text_diff(layer, change)
        if text:
            console.print(text, markup=False, end="")
    return 1


def _show_line(change: Change, *, undone: bool = False) -> None:
    sizes = ""
    if change.size_before is not None or change.size_after is not None:
        sizes = f"  {_size(change.size_before)} -> {_size(change.size_after)}"
    status: str = "undone" if undone else change.status
    if change.reason == "undo":
        status = f"{status} (undo)"
    slash = "/" if change.is_dir else ""
    line = f"{change.kind.value:9} {change.folder}/{change.path}{slash}  [{status}]{sizes}"
    if change.reason and change.reason != "undo":
        line += f"  {change.reason}"
    console.print(line, markup=False)


def _size(value: int | None) -> str:
    return "-" if value is None else f"{value} B"
