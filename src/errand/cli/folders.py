"""``errand folders``: the host folders tasks may be given; phones pick among these only.

Folders are the worker's own: run ``errand folders add`` on the host that has the folder. On
a worker host (``[worker] name`` in its ``errand.toml``, or ``--worker NAME``) the folder is
labelled with that worker, and tasks using it run only there; elsewhere it is the gateway's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from errand.cli import tables

if TYPE_CHECKING:
    from errand.access import AllowedFolder

app = typer.Typer(help="Allowed folders: add, list, remove.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


@app.command()
def add(
    path: Annotated[Path, typer.Argument(help="An existing folder on this computer.")],
    name: Annotated[
        str | None, typer.Option("--name", help="The name clients see (default: its own).")
    ] = None,
    mode: Annotated[str, typer.Option("--mode", help="The most a task may get: ro or rw.")] = "ro",
    worker: Annotated[
        str | None,
        typer.Option(
            "--worker",
            help="The worker on this host that has the folder; tasks using it run there "
            "(default: [worker] name in errand.toml, else the gateway's own runner).",
        ),
    ] = None,
) -> None:
    """Allow tasks to be given PATH, read-only or read-write at most.

    PATH is a folder on this host: on a worker host the folder is that worker's, and tasks
    using it run there. Errand's own directories inside PATH (its data and config) stay
    hidden from tasks; the command says which.
    """
    from errand.access import FolderError
    from errand.config import ConfigError, configured_worker, load_config
    from errand.sandbox import GrantRefused, describe_hidden

    if worker is None:
        try:
            worker = configured_worker(load_config())
        except ConfigError as exc:
            errors.print(f"errand: {exc}", markup=False)
            raise typer.Exit(2) from exc

    try:
        if path.is_dir():
            describe_hidden(path)
    except GrantRefused as exc:
        errors.print(f"errand: {exc}; allow a folder outside it.", markup=False)
        raise typer.Exit(2) from exc
    try:
        folder = asyncio.run(_add(path, name, mode, worker))
    except FolderError as exc:
        errors.print(f"errand: {exc.message}", markup=False)
        raise typer.Exit(2) from exc
    console.print(
        f"Allowed {folder.path} as {folder.name!r} ({folder.mode.value}) {_where(folder)}.",
        markup=False,
    )
    for line in describe_hidden(folder.path):
        console.print(line, markup=False)


async def _add(path: Path, name: str | None, mode: str, worker: str | None) -> AllowedFolder:
    from errand.access import add_folder
    from errand.store import open_store

    async with await open_store() as store:
        return await add_folder(store, path, name=name, mode=mode, worker=worker)


def _where(folder: AllowedFolder) -> str:
    if folder.worker is None:
        return "for tasks the gateway's own runner runs (errand serve)"
    return f"for tasks the worker {folder.worker!r} runs"


@app.command("list")
def list_() -> None:
    """The allowed folders."""
    found = asyncio.run(_list())
    if not found:
        console.print("No allowed folders. Add one with `errand folders add PATH`.", markup=False)
        return
    shown = tables.table("name", "mode", "worker", "path", ids=("name", "path"))
    for folder in found:
        worker = folder.worker if folder.worker is not None else "(gateway)"
        shown.add_row(folder.name, folder.mode.value, worker, str(folder.path))
    tables.console().print(shown)


async def _list() -> list[AllowedFolder]:
    from errand.access import list_folders
    from errand.store import open_store

    async with await open_store() as store:
        return await list_folders(store)


@app.command()
def remove(name: Annotated[str, typer.Argument(help="The folder's name.")]) -> None:
    """Stop allowing a folder (the folder itself is untouched)."""
    from errand.access import FolderError

    try:
        asyncio.run(_remove(name))
    except FolderError as exc:
        errors.print(f"errand: {exc.message}", markup=False)
        raise typer.Exit(2) from exc
    console.print(f"Removed {name!r} from the allowed folders.", markup=False)


async def _remove(name: str) -> None:
    from errand.access import remove_folder
    from errand.store import open_store

    async with await open_store() as store:
        await remove_folder(store, name)
