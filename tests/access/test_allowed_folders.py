"""Allowed folders: the owner's list, and client requests turned into grants on it only."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from errand.access import (
    FolderError,
    add_folder,
    list_folders,
    remove_folder,
)
from errand.sandbox.policy import FolderMode
from errand.store import Store, open_store
from sqlite_db import migrated_sqlite


@pytest.fixture
async def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Store]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
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


async def test_a_folder_is_stored_resolved_under_its_own_name(
    store: Store, notes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(notes.parent)
    added = await add_folder(store, Path("notes/../notes"), mode="rw")
    assert (added.name, added.path, added.mode) == ("notes", notes, FolderMode.READ_WRITE)
    assert await list_folders(store) == [added]


async def test_adding_refuses_missing_paths_taken_names_and_bad_modes(
    store: Store, notes: Path, tmp_path: Path
) -> None:
    await add_folder(store, notes)
    with pytest.raises(FolderError) as info:
        await add_folder(store, tmp_path / "absent")
    assert info.value.code == "invalid_folder"
    with pytest.raises(FolderError) as info:
        await add_folder(store, tmp_path, name="notes")
    assert info.value.code == "folder_exists"
    with pytest.raises(FolderError, match="'ro' or 'rw'"):
        await add_folder(store, tmp_path, name="other", mode="rwx")
    with pytest.raises(FolderError):
        await add_folder(store, tmp_path, name="../up")
    assert [f.name for f in await list_folders(store)] == ["notes"]


async def test_removing_a_folder_stops_it_being_granted(store: Store, notes: Path) -> None:
    await add_folder(store, notes)
    await remove_folder(store, "notes")
    assert await list_folders(store) == []
    with pytest.raises(FolderError) as info:
        await remove_folder(store, "notes")
    assert info.value.code == "unknown_folder"
    assert notes.name in os.listdir(notes.parent)
