"""Grants re-checked against the allowed folders as they are now."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from errand.sandbox import FolderMode
from errand.tasks import (
    FolderGrantSpec,
    GrantOrigin,
    SourceKind,
    TaskSource,
    TaskSpec,
    recheck_grants,
)


@dataclass(frozen=True)
class Allowed:
    name: str
    path: str
    mode: str
    worker: str | None = None


def _spec(tmp_path: Path, kind: SourceKind = SourceKind.PHONE) -> TaskSpec:
    for name in ("notes", "photos", "host"):
        (tmp_path / name).mkdir(exist_ok=True)
    return TaskSpec(
        model="a:b",
        source=TaskSource(kind=kind),
        folders=(
            FolderGrantSpec(name="notes", path=str(tmp_path / "notes"), mode=FolderMode.READ_WRITE),
            FolderGrantSpec(name="photos", path=str(tmp_path / "photos")),
            FolderGrantSpec(
                name="host",
                path=str(tmp_path / "host"),
                mode=FolderMode.READ_WRITE,
                origin=GrantOrigin.HOST,
            ),
        ),
    )


def test_unchanged_allowed_folders_keep_every_grant_of_a_cli_task(tmp_path: Path) -> None:
    spec = _spec(tmp_path, SourceKind.CLI)
    allowed = [
        Allowed("notes", str(tmp_path / "notes"), "rw"),
        Allowed("photos", str(tmp_path / "photos"), "ro"),
    ]
    assert recheck_grants(spec, allowed) == (spec, [])


def test_removed_narrowed_and_moved_folders_are_dropped_or_narrowed(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    allowed = [
        Allowed("notes", str(tmp_path / "notes"), "ro"),
        Allowed("photos", str(tmp_path / "elsewhere"), "ro"),
    ]
    checked, changes = recheck_grants(spec, allowed)
    assert [(g.name, g.mode) for g in checked.folders] == [("notes", FolderMode.READ_ONLY)]
    by_name = {c.name: c for c in changes}
    assert by_name["notes"].mode is FolderMode.READ_ONLY
    assert "now read-only" in by_name["notes"].sentence()
    assert by_name["photos"].mode is None
    assert "another folder" in by_name["photos"].reason
    # A host path granted at the computer belongs to CLI tasks only.
    assert by_name["host"].mode is None
    assert "no longer have access to the folder 'host'" in by_name["host"].sentence()


def test_a_folder_removed_from_the_allowed_list_is_lost(tmp_path: Path) -> None:
    spec = _spec(tmp_path, SourceKind.CLI)
    checked, changes = recheck_grants(spec, [])
    assert [g.name for g in checked.folders] == ["host"]
    assert {c.name for c in changes} == {"notes", "photos"}
    assert all("no longer shares it" in c.reason for c in changes)


def test_a_folder_missing_on_disk_is_lost_with_that_reason(tmp_path: Path) -> None:
    spec = _spec(tmp_path, SourceKind.CLI)
    (tmp_path / "host").rmdir()
    allowed = [
        Allowed("notes", str(tmp_path / "notes"), "rw"),
        Allowed("photos", str(tmp_path / "photos"), "ro"),
    ]
    checked, changes = recheck_grants(spec, allowed)
    assert [c.to_json() for c in changes] == [
        {
            "folder": "host",
            "was": "rw",
            "mode": None,
            "reason": "it no longer exists on the computer",
        }
    ]
    assert [g.name for g in checked.folders] == ["notes", "photos"]


def test_a_folder_now_labelled_with_another_worker_is_lost(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    grant = FolderGrantSpec(name="notes", path=str(tmp_path / "notes"), worker="nas")
    spec = TaskSpec(model="a:b", source=TaskSource(kind=SourceKind.PHONE), folders=(grant,))
    same = [Allowed("notes", str(tmp_path / "notes"), "ro", worker="nas")]
    assert recheck_grants(spec, same) == (spec, [])
    moved = [Allowed("notes", str(tmp_path / "notes"), "ro", worker="laptop")]
    checked, changes = recheck_grants(spec, moved)
    assert checked.folders == ()
    assert [c.reason for c in changes] == ["the owner now shares it from another worker"]
