"""Follow-ups are stored before they are acknowledged; a (re)started task's grants are
re-checked against the allowed folders (real store, real runner, real sandbox)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from errand.access import add_folder, remove_folder
from errand.events import GrantsChanged
from errand.intake import FolderChoice, Intake, IntakeSettings, TaskRequest
from errand.models import ModelAdapter, ScriptedModel
from errand.runner import LeaseSettings, LocalRunner
from errand.sandbox import FolderMode
from errand.store import Store, TaskStatus, open_store
from errand.tasks import TaskSpec
from sqlite_db import migrated_sqlite

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")


@pytest.fixture
async def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Store]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    opened = await open_store(migrated_sqlite(tmp_path / "errand.db"))
    yield opened
    await opened.aclose()


def intake(store: Store, tmp_path: Path, turns: list[Any]) -> Intake:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": turns}), encoding="utf-8")
    settings = IntakeSettings(default_model=f"script:{script}", allow_scripted_models=True)
    return Intake(store, config=settings)


def model_factory(spec: str) -> ModelAdapter:
    return ScriptedModel.from_file(Path(spec.removeprefix("script:")))


async def wait_status(store: Store, task_id: str, *wanted: TaskStatus) -> TaskStatus:
    """Wait on the task's log (not on a timer) until its status is one of ``wanted``."""
    seen = 0
    while (status := (await store.get_task(task_id)).status) not in wanted:
        found = await store.wait_for_events(task_id, seen, timeout=30)
        assert found, f"the task stayed {status}"
        seen = found[-1].seq
    return status


async def wait_runs_ended(store: Store, task_id: str, runs: int) -> None:
    """Wait on the task's log until ``runs`` runs of it have ended."""
    seen, ended = 0, 0
    while ended < runs:
        found = await store.wait_for_events(task_id, seen, timeout=30)
        assert found, f"only {ended} runs ended"
        seen = found[-1].seq
        ended += sum(
            e.type == "task.status" and e.payload.get("status") in ("completed", "failed")
            for e in found
        )


def texts(transcript: list[Any]) -> list[str]:
    return [p.get("text", "") for m in transcript for p in m["parts"] if p["type"] == "text"]


async def test_a_follow_up_to_a_queued_task_comes_after_its_request(
    store: Store, tmp_path: Path
) -> None:
    task = await intake(store, tmp_path, [{"text": "Did both."}]).submit(
        TaskRequest(prompt="tidy my downloads")
    )
    runner = LocalRunner(store, model_factory=model_factory)
    await runner.follow_up(task.id, "and empty the bin")
    # Stored and shown before the runner even started; the request stays first.
    assert texts(await store.transcript(task.id)) == ["tidy my downloads"]
    assert "message.user" in [e.type for e in await store.events(task.id)]
    await runner.start()
    await runner.submit(task.id)
    await wait_status(store, task.id, TaskStatus.COMPLETED)
    await runner.aclose()
    assert texts(await store.transcript(task.id)) == [
        "tidy my downloads",
        "and empty the bin",
        "Did both.",
    ]


async def gate(store: Store, tmp_path: Path) -> tuple[Path, FolderChoice, str]:
    """A read-only folder whose ``go`` file the test creates to let the task's first command
    end, the choice that grants it, and that command: so a test can act while the task is
    surely mid-step, whatever the machine's speed."""
    signal = tmp_path / "signal"
    signal.mkdir()
    await add_folder(store, signal, name="signal", mode=FolderMode.READ_ONLY)
    command = 'until [ -e "$HOME/mnt/signal/go" ]; do sleep 0.05; done'
    return signal / "go", FolderChoice("signal", FolderMode.READ_ONLY), command


async def test_a_follow_up_to_a_running_task_is_stored_before_it_returns(
    store: Store, tmp_path: Path
) -> None:
    go, choice, command = await gate(store, tmp_path)
    turns = [shell(command), {"text": "saw it"}]
    task = await intake(store, tmp_path, turns).submit(
        TaskRequest(prompt="hello", folders=[choice])
    )
    runner = LocalRunner(store, model_factory=model_factory)
    await runner.start()
    await runner.submit(task.id)
    seen = 0
    while not any(e.type == "tool.call" for e in await store.events(task.id)):
        found = await store.wait_for_events(task.id, seen, timeout=30)
        assert found, "the task never called its tool"
        seen = found[-1].seq
    await runner.follow_up(task.id, "also do this")
    stored = [e.payload for e in await store.events(task.id) if e.type == "message.user"]
    assert stored == [{"text": "also do this"}]
    go.touch()
    await wait_status(store, task.id, TaskStatus.COMPLETED)
    await runner.aclose()
    assert texts(await store.transcript(task.id)) == ["hello", "also do this", "saw it"]
    statuses = [e.payload["status"] for e in await store.events(task.id) if e.type == "task.status"]
    assert statuses == ["running", "completed"]  # read mid-run, not by reopening the task


def shell(command: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": "run_shell", "arguments": {"command": command}}]}


@pytest.mark.parametrize("change", ["removed", "narrowed"])
async def test_an_old_task_loses_a_folder_removed_or_narrowed_since(
    store: Store, tmp_path: Path, change: str
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    await add_folder(store, notes, name="notes", mode=FolderMode.READ_WRITE)
    write = 'echo {0} > "$HOME/mnt/notes/{0}.txt"'
    turns = [shell(write.format("first")), {"text": "wrote it"}]
    turns += [shell(write.format("second")), {"text": "tried again"}]
    task = await intake(store, tmp_path, turns).submit(
        TaskRequest(prompt="write notes", folders=[FolderChoice("notes", FolderMode.READ_WRITE)])
    )
    runner = LocalRunner(store, model_factory=model_factory)
    await runner.start()
    await runner.submit(task.id)
    await wait_status(store, task.id, TaskStatus.COMPLETED)
    assert (notes / "first.txt").read_text() == "first\n"

    await remove_folder(store, "notes")
    if change == "narrowed":
        await add_folder(store, notes, name="notes", mode=FolderMode.READ_ONLY)
    await runner.follow_up(task.id, "write the second note")
    await wait_runs_ended(store, task.id, 2)
    await runner.aclose()

    assert not (notes / "second.txt").exists()
    told = [e.event for e in await store.events(task.id) if e.type == "grants.changed"]
    assert len(told) == 1 and isinstance(told[0], GrantsChanged)
    (lost,) = told[0].changes
    assert lost.folder == "notes" and lost.was == "rw"
    assert lost.mode == (None if change == "removed" else "ro")
    # The model is told once, in the run's first message after the change.
    transcript = texts(await store.transcript(task.id))
    notice = transcript.index(told[0].message)
    assert transcript[notice - 1] == "write the second note"
    assert "'notes'" in told[0].message


async def test_a_follow_up_to_a_running_task_rechecks_its_folders(
    store: Store, tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    await add_folder(store, notes, name="notes", mode=FolderMode.READ_WRITE)
    # The first step waits (inside the sandbox) until the test lets it go, so the follow-up
    # is surely taken in mid-run, before the second model call.
    go, choice, wait = await gate(store, tmp_path)
    wait += '; echo first > "$HOME/mnt/notes/first.txt"'
    turns = [shell(wait), shell('echo second > "$HOME/mnt/notes/second.txt"'), {"text": "done"}]
    task = await intake(store, tmp_path, turns).submit(
        TaskRequest(
            prompt="write notes",
            folders=[FolderChoice("notes", FolderMode.READ_WRITE), choice],
        )
    )
    runner = LocalRunner(store, model_factory=model_factory)
    await runner.start()
    await runner.submit(task.id)
    seen = 0
    while not any(e.type == "tool.call" for e in await store.events(task.id)):
        found = await store.wait_for_events(task.id, seen, timeout=30)
        assert found, "the task never called its tool"
        seen = found[-1].seq
    await remove_folder(store, "notes")
    await runner.follow_up(task.id, "now write the second note")
    go.touch()
    await wait_status(store, task.id, TaskStatus.COMPLETED)
    await runner.aclose()

    assert (notes / "first.txt").read_text() == "first\n"  # written before the follow-up
    assert not (notes / "second.txt").exists()
    log = await store.events(task.id)
    statuses = [e.payload["status"] for e in log if e.type == "task.status"]
    assert statuses == ["running", "completed"]  # in the same run, not a reopening
    told = [e.event for e in log if e.type == "grants.changed"]
    assert len(told) == 1 and isinstance(told[0], GrantsChanged)
    assert [(c.folder, c.mode) for c in told[0].changes] == [("notes", None)]
    transcript = texts(await store.transcript(task.id))
    notice = transcript.index(told[0].message)
    assert transcript[notice - 1] == "now write the second note"


async def test_the_local_runner_holds_a_lease_on_what_it_runs(store: Store, tmp_path: Path) -> None:
    go, choice, wait = await gate(store, tmp_path)
    task = await intake(store, tmp_path, [shell(wait), {"text": "done"}]).submit(
        TaskRequest(prompt="wait", folders=[choice])
    )
    leases = LeaseSettings(lease_seconds=1.5, check_seconds=0.5)
    runner = LocalRunner(store, model_factory=model_factory, leases=leases)
    await runner.start()
    await runner.submit(task.id)
    seen = 0
    while not any(e.type == "tool.call" for e in await store.events(task.id)):
        found = await store.wait_for_events(task.id, seen, timeout=30)
        assert found, "the task never called its tool"
        seen = found[-1].seq
    held = await store.get_task(task.id)
    assert held.lease_owner and held.lease_owner.startswith("serve/")
    assert held.lease_expires_at is not None
    # Its heartbeat keeps the lease ahead: wait until it was renewed at least once.
    while (now := await store.get_task(task.id)).lease_expires_at == held.lease_expires_at:
        assert now.status is TaskStatus.RUNNING
        await store.wait_for_task_list_change(timeout=0.2, poll_interval=0.2)
    assert now.status is TaskStatus.RUNNING
    go.touch()
    await wait_status(store, task.id, TaskStatus.COMPLETED)
    await runner.aclose()
    assert (await store.get_task(task.id)).lease_owner is None


async def test_a_renewal_stops_a_task_taken_away_but_not_one_that_just_ended(
    store: Store,
) -> None:
    # A task's final commit can land between the heartbeat's look at its jobs and its
    # renewal: that job is closing its sandbox and must be left to finish.
    runner = LocalRunner(store, model_factory=model_factory)
    ended = await store.create_task("ended", spec=TaskSpec(model="script:none"))
    taken = await store.create_task("taken", spec=TaskSpec(model="script:none"))
    for task in (ended, taken):
        await store.set_task_status(task.id, TaskStatus.RUNNING)
    await store.set_task_status(ended.id, TaskStatus.COMPLETED)
    await store.set_task_status(taken.id, TaskStatus.INTERRUPTED)
    cleaned_up = asyncio.Event()
    jobs = {task.id: asyncio.ensure_future(cleaned_up.wait()) for task in (ended, taken)}

    await runner._stop_lost(list(jobs.items()), held=set())

    await asyncio.wait([jobs[taken.id]])
    assert jobs[taken.id].cancelled()
    assert not jobs[ended.id].done()
    cleaned_up.set()
    await jobs[ended.id]
