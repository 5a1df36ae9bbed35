"""A task whose command ends while the disk is full does not stay ``running`` for ever: the
runner records it failed, with a sentence, as soon as space returns."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from errand.models import ModelAdapter, ScriptedModel
from errand.runner import LocalRunner
from errand.runner import core as runner_core
from errand.sandbox import FolderMode
from errand.store import TaskStatus, open_store
from errand.tasks import FolderGrantSpec, GrantOrigin, TaskSpec
from small_disk import fill, small_disk_at

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts and sandboxes need root")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk_at(tmp_path / "disk") as disk:
        yield disk


async def wait_for(check: object, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


async def test_a_task_stuck_on_a_full_disk_fails_cleanly_when_space_returns(
    small_disk: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    # No lease heartbeat during the test: its writes would race the task's for the last bytes.
    monkeypatch.setenv("ERRAND_LEASE_SECONDS", "3600")
    # Retry the failed status every half second, not backing off to half a minute.
    monkeypatch.setattr(runner_core, "FULL_DISK_RETRY_MAX_S", 0.5)
    work = tmp_path / "work"
    work.mkdir()
    script = tmp_path / "script.json"
    command = "while [ ! -e go ]; do sleep 0.05; done; yes output | head -c 200000"
    turns = [
        {"tool_calls": [{"name": "run_shell", "arguments": {"command": command}}]},
        {"text": "Done."},
    ]
    script.write_text(json.dumps({"turns": turns}), encoding="utf-8")

    def model(spec: str) -> ModelAdapter:
        return ScriptedModel.from_file(script)

    store = await open_store(f"sqlite+aiosqlite:///{small_disk / 'errand.db'}")
    runner = LocalRunner(store, concurrency=1, model_factory=model)
    await runner.start()
    try:
        grant = FolderGrantSpec(
            # Read-only: a plain bind, so the test's "go" file shows inside at once (a
            # read-write folder is an overlay, whose view of new host files may lag).
            name="work",
            path=str(work),
            mode=FolderMode.READ_ONLY,
            origin=GrantOrigin.HOST,
        )
        spec = TaskSpec(model="script:x", folders=(grant,))
        task = await store.create_task("fill the log", spec=spec)
        await runner.submit(task.id)

        async def command_started() -> bool:
            return any(e.type == "tool.call" for e in await store.events(task.id))

        await wait_for(command_started)

        # Empty the write-ahead log first: SQLite reuses its old pages, so a long log would
        # absorb the task's next writes however full the disk is.
        # (A lease heartbeat may hold the log for a moment: try again until the log is empty.)
        async def log_emptied() -> bool:
            with sqlite3.connect(small_disk / "errand.db", timeout=30) as checkpoint:
                busy, _, _ = checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return bool(busy == 0)

        await wait_for(log_emptied)
        filler = fill(small_disk)
        (work / "go").touch()

        async def stuck_on_the_full_disk() -> bool:
            return any("the disk is full" in r.getMessage() for r in caplog.records)

        await wait_for(stuck_on_the_full_disk)
        assert (await store.get_task(task.id)).status is TaskStatus.RUNNING
        filler.unlink()

        async def failed() -> bool:
            return (await store.get_task(task.id)).status is TaskStatus.FAILED

        await wait_for(failed)
        record = await store.get_task(task.id)
        assert record.error is not None and "disk was full" in record.error
    finally:
        await runner.aclose()
        await store.aclose()
