"""Placeholder files for absent protected paths: shared, removed, and swept after a crash."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from errand.sandbox.placeholders import PlaceholderRegistry, process_start_time


def test_placeholders_are_shared_and_the_last_holder_removes_them(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    registry = PlaceholderRegistry(tmp_path / "journal")
    first = registry.acquire(folder, [".envrc", ".git"])
    second = registry.acquire(folder, [".envrc"])
    assert (folder / ".envrc").stat().st_size == 0 and (folder / ".git").is_file()
    registry.release(first)
    assert (folder / ".envrc").exists() and not (folder / ".git").exists()
    registry.release(second)
    assert sorted(os.listdir(folder)) == []


def test_someone_elses_file_is_neither_taken_nor_removed(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / ".envrc").write_text("mine", encoding="utf-8")
    registry = PlaceholderRegistry(tmp_path / "journal")
    assert registry.acquire(folder, [".envrc"]) == []
    held = registry.acquire(folder, [".npmrc"])
    (folder / ".npmrc").chmod(0o644)
    (folder / ".npmrc").write_text("written by the user meanwhile", encoding="utf-8")
    registry.release(held)
    assert (folder / ".envrc").read_text(encoding="utf-8") == "mine"
    assert (folder / ".npmrc").exists(), "a file with content is not a placeholder any more"


def test_a_dead_processes_placeholders_are_swept_once(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    journal = tmp_path / "journal"
    journal.mkdir(mode=0o700)
    left = folder / ".git"
    left.touch()
    kept = folder / ".envrc"
    kept.write_text("real content", encoding="utf-8")
    dead = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    (journal / f"{int(dead.stdout)}-1").write_text(f"{left}\n{kept}\n", encoding="utf-8")
    me = os.getpid()
    alive = folder / ".vscode"
    alive.touch()
    (journal / f"{me}-{process_start_time(me)}").write_text(f"{alive}\n", encoding="utf-8")

    registry = PlaceholderRegistry(journal)
    assert registry.sweep() == [left]
    assert not left.exists() and kept.exists() and alive.exists()
    assert registry.sweep() == []


def test_a_journal_directory_others_can_write_is_not_trusted(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    journal.chmod(0o777)
    victim = tmp_path / "victim"
    victim.touch()
    (journal / "1-0").write_text(f"{victim}\n", encoding="utf-8")
    assert PlaceholderRegistry(journal).sweep() == []
    assert victim.exists()
