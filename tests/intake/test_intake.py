"""One way in: every request becomes a task through Intake.submit, or changes nothing."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from errand.access import add_folder
from errand.intake import FolderChoice, Intake, IntakeError, IntakeSettings, TaskRequest
from errand.sandbox import FolderGrant, FolderMode, SandboxPolicy
from errand.store import Store, TaskStatus, open_store
from errand.tasks import GrantOrigin, SourceKind, TaskSource
from sqlite_db import migrated_sqlite

CLI = TaskSource(kind=SourceKind.CLI)


@pytest.fixture
async def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Store]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ERRAND_MODEL", raising=False)
    opened = await open_store(migrated_sqlite(tmp_path / "errand.db"))
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "docs" / "notes"
    folder.mkdir(parents=True)
    return folder.resolve()


async def test_a_request_is_stored_queued_with_its_spec_and_wakes_the_runner(
    store: Store, notes: Path
) -> None:
    await add_folder(store, notes, name="my notes", mode="rw")
    woken: list[str] = []

    async def wake(task_id: str) -> None:
        woken.append(task_id)

    intake = Intake(store, config=IntakeSettings(default_model="anthropic:test-model"), wake=wake)
    task = await intake.submit(
        TaskRequest(
            prompt="sort them",
            folders=[FolderChoice("my notes", FolderMode.READ_ONLY)],
            allow_domains=["example.org"],
            source=TaskSource(kind=SourceKind.API, ref="tok1"),
        )
    )
    assert woken == [task.id]
    stored = await store.get_task(task.id)
    assert stored.status is TaskStatus.QUEUED and stored.spec == task.spec
    assert stored.model == "anthropic:test-model"
    (grant,) = stored.spec.folders
    assert (grant.name, grant.path, grant.mode, grant.origin) == (
        "my notes",
        str(notes),
        FolderMode.READ_ONLY,
        GrantOrigin.ALLOWED,
    )
    assert stored.spec.network.allow_domains == ("example.org",)
    assert stored.source == TaskSource(kind=SourceKind.API, ref="tok1")


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (TaskRequest(prompt="x", folders=[FolderChoice("/etc")]), "unknown_folder"),
        (
            TaskRequest(prompt="x", folders=[FolderChoice("notes", FolderMode.READ_WRITE)]),
            "folder_mode_not_allowed",
        ),
        (
            TaskRequest(prompt="x", folders=[FolderChoice("notes"), FolderChoice("notes")]),
            "unknown_folder",
        ),
        (TaskRequest(prompt="x", allow_domains=["*"]), "invalid_domain"),
        (TaskRequest(prompt="x", model="nonsense"), "unknown_model"),
        (TaskRequest(prompt="x", model="script:/etc/passwd"), "unknown_model"),
        (TaskRequest(prompt="  "), "invalid_request"),
        (TaskRequest(prompt="x", max_steps=0), "invalid_request"),
    ],
)
async def test_refused_requests_say_why_and_store_nothing(
    store: Store, notes: Path, request_: TaskRequest, code: str
) -> None:
    await add_folder(store, notes, mode="ro")
    intake = Intake(store, config=IntakeSettings(default_model="anthropic:test-model"))
    with pytest.raises(IntakeError) as info:
        await intake.submit(request_)
    assert info.value.code == code, info.value.message
    assert "\n" not in info.value.message
    assert await store.list_tasks() == []


async def test_a_folder_gone_from_disk_is_unavailable(store: Store, notes: Path) -> None:
    await add_folder(store, notes)
    os.rmdir(notes)
    intake = Intake(store, config=IntakeSettings(default_model="anthropic:test-model"))
    with pytest.raises(IntakeError) as info:
        await intake.submit(TaskRequest(prompt="x", folders=[FolderChoice("notes")]))
    assert info.value.code == "folder_unavailable"


async def test_a_task_uses_the_folders_of_one_worker_only(
    store: Store, notes: Path, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    await add_folder(store, notes, worker="nas")
    await add_folder(store, photos, worker="laptop")
    await add_folder(store, tmp_path / "docs", name="gateway docs")
    os.rmdir(notes)  # the nas's folder is on the nas: the gateway does not look for it
    intake = Intake(store, config=IntakeSettings(default_model="anthropic:test-model"))
    task = await intake.submit(TaskRequest(prompt="x", folders=[FolderChoice("notes")]))
    assert task.spec.runs_on == "nas"
    assert [(g.name, g.worker) for g in task.spec.folders] == [("notes", "nas")]
    for other in ("photos", "gateway docs"):
        with pytest.raises(IntakeError) as info:
            await intake.submit(
                TaskRequest(prompt="x", folders=[FolderChoice("notes"), FolderChoice(other)])
            )
        assert info.value.code == "folders_on_two_workers"
        where = "the worker 'laptop'" if other == "photos" else "the gateway's computer"
        assert info.value.message == (
            f"The folders 'notes' and {other!r} are on different workers (the worker 'nas' "
            f"and {where}); a task can only use the folders of one worker."
        )
    assert [t.id for t in await store.list_tasks()] == [task.id]


async def test_host_paths_are_granted_only_to_the_owners_cli(store: Store, notes: Path) -> None:
    intake = Intake(store, config=IntakeSettings(default_model="anthropic:test-model"))
    grant = FolderGrant(path=notes, mode=FolderMode.READ_WRITE)
    with pytest.raises(IntakeError) as info:
        await intake.submit(TaskRequest(prompt="x", host_folders=[grant]))
    assert info.value.code == "invalid_folder"
    task = await intake.submit(TaskRequest(prompt="x", host_folders=[grant], source=CLI))
    (spec,) = task.spec.folders
    assert (spec.origin, spec.mode, spec.path) == (
        GrantOrigin.HOST,
        FolderMode.READ_WRITE,
        str(notes),
    )


async def test_the_configured_folders_go_to_cli_tasks_only(
    store: Store, notes: Path, tmp_path: Path
) -> None:
    base = SandboxPolicy(folders=(FolderGrant(path=notes),))
    intake = Intake(store, config=IntakeSettings(default_model="anthropic:m", base_policy=base))
    assert [g.name for g in (await intake.build_spec(TaskRequest("x", source=CLI))).folders] == [
        "notes"
    ]
    assert (await intake.build_spec(TaskRequest("x"))).folders == ()


async def test_the_default_model_comes_from_the_environment_then_errand_toml(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        IntakeSettings.from_config({"model": "openai:from-file"}).default_model
        == "openai:from-file"
    )
    monkeypatch.setenv("ERRAND_MODEL", "anthropic:from-env")
    assert (
        IntakeSettings.from_config({"model": "openai:from-file"}).default_model
        == "anthropic:from-env"
    )
    monkeypatch.delenv("ERRAND_MODEL")
    intake = Intake(store, config=IntakeSettings.from_config({}))
    with pytest.raises(IntakeError) as info:
        await intake.submit(TaskRequest(prompt="x"))
    assert info.value.code == "no_model"


async def test_scripted_models_are_refused_remotely_unless_the_gateway_is_scripted(
    store: Store, tmp_path: Path
) -> None:
    script = tmp_path / "s.json"
    script.write_text('{"turns": [{"text": "hi"}]}', encoding="utf-8")
    model = f"script:{script}"
    plain = Intake(store, config=IntakeSettings(default_model="anthropic:test-model"))
    with pytest.raises(IntakeError):
        await plain.submit(TaskRequest(prompt="x", model=model))
    assert (await plain.submit(TaskRequest(prompt="x", model=model, source=CLI))).model == model
    scripted = Intake(store, config=IntakeSettings.from_config({"model": model}))
    assert (await scripted.submit(TaskRequest(prompt="x"))).model == model
