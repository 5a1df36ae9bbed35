"""``errand changes`` and ``errand undo`` as a user runs them, on a task's real change layer."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from errand.sandbox import FolderGrant, Sandbox, SandboxPolicy, task_changes_dir


def errand(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRAND_")}
    env.update(ERRAND_HOME=str(home), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "errand", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def run_task(home: Path, folder: Path, script: str, *, review: bool = False) -> None:
    policy = SandboxPolicy(session="t1", folders=(FolderGrant.parse(f"{folder}:rw"),))

    async def go() -> None:
        storage = task_changes_dir(home, "t1")
        hold = [folder.name] if review else []
        async with Sandbox(policy, changes_dir=storage, hold=hold) as sandbox:
            result = await sandbox.run(["/bin/sh", "-c", script])
            assert result.exit_code == 0, result.stderr

    asyncio.run(go())


def test_changes_lists_shell_made_files_with_diffs_and_undo_restores(tmp_path: Path) -> None:
    home, folder = tmp_path / "home", tmp_path / "notes"
    home.mkdir()
    folder.mkdir()
    (folder / "todo.txt").write_text("milk\n", encoding="utf-8")
    run_task(home, folder, "echo eggs >> todo.txt && cp todo.txt copy.txt")
    listed = errand(home, "changes", "t1", "--diff")
    assert listed.returncode == 0, listed.stderr
    assert "modified  notes/todo.txt  [applied]  5 B -> 10 B" in listed.stdout
    assert "created   notes/copy.txt  [applied]" in listed.stdout
    assert "+eggs" in listed.stdout
    undone = errand(home, "undo", "t1")
    assert undone.returncode == 0, undone.stderr
    assert sorted(os.listdir(folder)) == ["todo.txt"]
    assert (folder / "todo.txt").read_text(encoding="utf-8") == "milk\n"
    assert "[undone]" in errand(home, "changes", "t1").stdout
    redo = errand(home, "undo", "t1")
    assert redo.returncode == 0, redo.stderr
    assert (folder / "copy.txt").read_text(encoding="utf-8") == "milk\neggs\n"


def test_review_mode_holds_until_applied_or_discarded(tmp_path: Path) -> None:
    home, folder = tmp_path / "home", tmp_path / "taxes"
    home.mkdir()
    folder.mkdir()
    run_task(home, folder, "echo 2025 > return.txt && echo draft > draft.txt", review=True)
    assert os.listdir(folder) == []
    listed = errand(home, "changes", "t1")
    assert "created   taxes/return.txt  [held]" in listed.stdout
    discarded = errand(home, "changes", "discard", "t1", "taxes/draft.txt")
    assert discarded.returncode == 0, discarded.stderr
    applied = errand(home, "changes", "apply", "t1")
    assert applied.returncode == 0, applied.stderr
    assert os.listdir(folder) == ["return.txt"]


def test_apply_only_some_paths_keeps_the_rest_held(tmp_path: Path) -> None:
    home, folder = tmp_path / "home", tmp_path / "taxes"
    home.mkdir()
    folder.mkdir()
    script = (
        "mkdir -p 2025/receipts && echo a > 2025/receipts/a.txt && echo b > b.txt && echo c > c.txt"
    )
    run_task(home, folder, script, review=True)
    applied = errand(home, "changes", "apply", "t1", "taxes/2025/receipts/a.txt", "taxes/b.txt")
    assert applied.returncode == 0, applied.stderr
    # The new folders the chosen file needs come with it; c.txt stays held.
    assert (folder / "2025/receipts/a.txt").read_text(encoding="utf-8") == "a\n"
    assert (folder / "b.txt").read_text(encoding="utf-8") == "b\n"
    assert not (folder / "c.txt").exists()
    listed = errand(home, "changes", "t1").stdout
    assert "created   taxes/c.txt  [held]" in listed
    assert "taxes/b.txt  [applied]" in listed
    # A path in no granted folder applies nothing; the folder's name alone applies all of it.
    assert errand(home, "changes", "apply", "t1", "elsewhere/c.txt").returncode == 0
    assert not (folder / "c.txt").exists()
    assert errand(home, "changes", "apply", "t1", "taxes").returncode == 0
    assert (folder / "c.txt").read_text(encoding="utf-8") == "c\n"


def test_undo_with_a_conflict_exits_1_and_keeps_the_users_edit(tmp_path: Path) -> None:
    home, folder = tmp_path / "home", tmp_path / "notes"
    home.mkdir()
    folder.mkdir()
    (folder / "a.txt").write_text("a\n", encoding="utf-8")
    run_task(home, folder, "echo task >> a.txt && echo n > new.txt")
    (folder / "a.txt").write_text("mine\n", encoding="utf-8")
    undone = errand(home, "undo", "t1")
    assert undone.returncode == 1
    assert "1 file(s) changed since the task" in undone.stderr
    assert (folder / "a.txt").read_text(encoding="utf-8") == "mine\n"
    assert not (folder / "new.txt").exists()
    forced = errand(home, "undo", "t1", "--force")
    assert forced.returncode == 0, forced.stderr
    assert (folder / "a.txt").read_text(encoding="utf-8") == "a\n"
