"""``errand worker``: run queued tasks from a shared PostgreSQL store, until Ctrl-C.

Any number of workers, on any hosts that reach the database, run the tasks a gateway
(``errand serve --no-runner``) or the CLI queues. Each runs tasks in its own sandbox with
its own egress proxy, with the folders and ``errand.toml`` of the host it runs on. Ctrl-C
or SIGTERM stops it: its running tasks are recorded interrupted (resumable on any worker).

Its name (``--name``, else ``[worker] name`` in this host's ``errand.toml``, else the host's
name) is also its worker label: it runs the tasks whose folders carry that label
(``errand folders add`` on this host) and tasks with no folders.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from errand.cli.heap import freeze_startup_heap
from errand.cli.task_settings import TaskSettings, read_task_settings

if TYPE_CHECKING:
    from errand.store import WorkerRecord

err = Console(stderr=True, highlight=False, soft_wrap=True)

SQLITE_REFUSED = (
    "errand: {what} needs PostgreSQL, since tasks are shared between processes through "
    "the database; set ERRAND_DATABASE_URL=postgresql://USER@HOST/DB (SQLite serves one "
    "process: use plain `errand serve`)."
)


def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Tasks run at once.")] = 2,
    name: Annotated[
        str | None,
        typer.Option(
            help="This worker's name: in task logs, and the label of the folders it has "
            "(default: [worker] name in errand.toml, else the host's name)."
        ),
    ] = None,
) -> None:
    """Run queued tasks from the shared PostgreSQL database, until Ctrl-C."""
    from errand.tasks import check_worker_name

    settings = read_task_settings(err)
    if name is not None:
        try:
            check_worker_name(name)
        except ValueError as exc:
            err.print(f"errand: --name {exc}", markup=False)
            raise typer.Exit(2) from exc
    raise typer.Exit(asyncio.run(_work(concurrency, name or settings.worker_name, settings)))


async def _work(concurrency: int, name: str | None, settings: TaskSettings) -> int:
    from errand.runner import Worker
    from errand.server import clients_answer
    from errand.store import StoreError, open_store

    try:
        store = await open_store()
    except StoreError as exc:
        err.print(f"errand: {exc}", markup=False)
        return 1
    try:
        if store.is_sqlite:
            err.print(SQLITE_REFUSED.format(what="errand worker"), markup=False)
            return 2
        runner = Worker(
            store,
            name=name,
            concurrency=concurrency,
            options_factory=settings.options_factory(store),
            responder_factory=clients_answer,
        )
        err.print(
            f"errand worker {runner.id}: running up to {concurrency} tasks from {store.url}",
            markup=False,
        )
        (label,) = runner.folder_workers
        err.print(
            f"errand: it runs tasks with no folders and tasks using folders of the worker "
            f"{label!r} (`errand folders add PATH --worker {label}` on this host).",
            markup=False,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await runner.start()
            freeze_startup_heap()
            await stop.wait()
            err.print("errand: stopping…", markup=False)
        finally:
            await runner.aclose()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
    finally:
        await store.aclose()
    return 0


def workers() -> None:
    """The runners: the gateway's own (`serve`) and each `errand worker`, idle or busy, and
    those that stopped answering within the last day."""
    from errand.cli import tables
    from errand.store import StoreError

    try:
        found = asyncio.run(_list_workers())
    except StoreError as exc:
        err.print(f"errand: {exc}", markup=False)
        raise typer.Exit(1) from exc
    if not found:
        tables.console().print(
            "No runner is running: start `errand serve` or `errand worker` (it is listed "
            "while it runs).",
            markup=False,
        )
        return
    shown = tables.table("name", "state", "tasks", "host", "pid", "serves", ids=("name", "host"))
    today = datetime.now().astimezone().date()
    for runner in found:
        # A runner that died is shown stopped from when its lease ran out.
        stopped = runner.alive_until.astimezone()
        when = stopped.strftime("%H:%M:%S" if stopped.date() == today else "%Y-%m-%d %H:%M")
        state = "running" if runner.alive else f"stopped {when}"
        shown.add_row(
            runner.name,
            state,
            f"{runner.running}/{runner.concurrency}",
            runner.host,
            str(runner.pid),
            " ".join(sorted(runner.labels)),
        )
    tables.console().print(shown)


async def _list_workers() -> list[WorkerRecord]:
    from errand.store import open_store

    async with await open_store() as store:
        return await store.list_workers()
