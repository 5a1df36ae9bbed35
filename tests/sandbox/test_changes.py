"""The change layer on the real sandbox: every change recorded, applied atomically, held for
review, protected paths refused, concurrent tasks never failing, and kill -9 survived."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from errand.sandbox import FolderGrant, SandboxPolicy
from errand.sandbox.changes import ChangeKind, FolderLayer
from errand.sandbox.session import Sandbox


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Mode and content digest (or link target) of everything under ``root``."""
    seen: dict[str, tuple[int, str]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            digest = "->" + os.readlink(path)
        elif stat.S_ISREG(st.st_mode):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            digest = ""
        seen[str(path.relative_to(root))] = (st.st_mode, digest)
    return seen


def folder_with(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def policy(folder: Path, session: str = "t") -> SandboxPolicy:
    return SandboxPolicy(session=session, folders=(FolderGrant.parse(f"{folder}:rw"),))


async def test_shell_made_changes_are_listed_and_applied(tmp_path: Path) -> None:
    folder = folder_with(tmp_path / "proj", {"a.txt": "a\n", "b.txt": "b\n", "d/x": "x"})
    async with Sandbox(policy(folder)) as sandbox:
        result = await sandbox.run(
            ["/bin/sh", "-c", "cp a.txt c.txt && echo more >> a.txt && rm b.txt && rm -r d"]
        )
    assert result.exit_code == 0, result.stderr
    seen = {(c.path, c.kind, c.status) for c in result.changes}
    assert seen == {
        ("c.txt", ChangeKind.CREATED, "applied"),
        ("a.txt", ChangeKind.MODIFIED, "applied"),
        ("b.txt", ChangeKind.DELETED, "applied"),
        ("d", ChangeKind.DELETED, "applied"),
    }
    assert (folder / "a.txt").read_text(encoding="utf-8") == "a\nmore\n"
    assert (folder / "c.txt").read_text(encoding="utf-8") == "a\n"
    assert sorted(os.listdir(folder)) == ["a.txt", "c.txt"]
    modified = next(c for c in result.changes if c.path == "a.txt")
    assert (modified.size_before, modified.size_after) == (2, 7)


async def test_nothing_appears_in_the_folder_while_a_command_runs(tmp_path: Path) -> None:
    folder = folder_with(tmp_path / "proj", {"README": "hi"})
    async with Sandbox(policy(folder)) as sandbox:
        task = asyncio.ensure_future(
            sandbox.run(["/bin/sh", "-c", "echo x > during.txt; exec sleep 30"], timeout=60)
        )
        # Wait until the command has written its file inside the sandbox.
        for _ in range(600):
            if any((p / "during.txt").exists() for p in _uppers(sandbox)):
                break
            await asyncio.sleep(0.05)
        assert sorted(os.listdir(folder)) == ["README"], "no placeholder, no half-applied file"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def _uppers(sandbox: Sandbox) -> list[Path]:
    return [layer.upper for layer in sandbox._layers.values()]


async def test_protected_paths_are_refused_and_recorded(tmp_path: Path) -> None:
    folder = folder_with(tmp_path / "repo", {".git/config": "[core]\n", "README": "r"})
    before = snapshot(folder)
    async with Sandbox(policy(folder)) as sandbox:
        result = await sandbox.run(
            ["/bin/sh", "-c", "echo evil > .envrc; echo evil >> .git/config; echo ok > out.txt"]
        )
        # The guards' mount points never reach the folder and are not reported as changes.
        assert [c.path for c in result.changes] == ["out.txt"]
    after = snapshot(folder)
    assert after.pop("out.txt")[1] == hashlib.sha256(b"ok\n").hexdigest()
    assert after == before


async def test_guards_write_nothing_into_the_task_layer(tmp_path: Path) -> None:
    # Absent protected paths at the top and inside existing directories (.git/info, and
    # .github/workflows in an empty .github): their guards' mount points come from a layer
    # of placeholders, so nothing is copied up or created in the task's upper layer.
    folder = folder_with(tmp_path / "repo", {".git/config": "[core]\n", "README": "r"})
    (folder / ".github").mkdir()
    os.chmod(folder / ".git", 0o700)
    before = snapshot(folder)
    async with Sandbox(policy(folder)) as sandbox:
        result = await sandbox.run(
            [
                "/bin/sh",
                "-c",
                "stat -c %a .git; ls .git; mkdir .git/info/x || echo no-info;"
                " echo x > .github/workflows || echo no-workflows; echo x > .envrc || echo no-rc",
            ]
        )
        listed = ["700", "config", "hooks", "info", "modules"]
        refused = ["no-info", "no-workflows", "no-rc"]
        assert result.stdout.decode().split() == listed + refused, result.stderr
        assert result.changes == ()
        assert [os.listdir(upper) for upper in _uppers(sandbox)] == [[]]
    assert snapshot(folder) == before


async def test_the_next_command_sees_what_the_user_changed_meanwhile(tmp_path: Path) -> None:
    # Each command gets a fresh overlay, and the guards' placeholder layer follows the folder:
    # a protected file the user creates between two commands is the user's, read-only.
    folder = folder_with(tmp_path / "repo", {"README": "r"})
    async with Sandbox(policy(folder)) as sandbox:
        first = await sandbox.run(["/bin/sh", "-c", "cat .envrc README"])
        (folder / ".envrc").write_text("export A=1\n", encoding="utf-8")
        (folder / "README").write_text("edited\n", encoding="utf-8")
        second = await sandbox.run(
            ["/bin/sh", "-c", "cat .envrc README; echo x >> .envrc || echo refused"]
        )
    assert first.stdout == b"r"
    assert second.stdout == b"export A=1\nedited\nrefused\n", second.stderr
    assert (folder / ".envrc").read_text(encoding="utf-8") == "export A=1\n"


async def test_symlink_tricks_never_write_outside(tmp_path: Path) -> None:
    outside = folder_with(tmp_path / "outside", {"victim.txt": "safe"})
    folder = folder_with(tmp_path / "proj", {"sub/keep.txt": "k"})
    async with Sandbox(policy(folder)) as sandbox:
        # A link to an absolute host path is applied as a link, never followed.
        result = await sandbox.run(
            ["/bin/sh", "-c", f"ln -s {outside} out && ln -s {outside}/victim.txt v"]
        )
        assert result.exit_code == 0, result.stderr
        # The folder's own directory is swapped for a link to the outside between the
        # command and the apply: the layer must not write through it.
        layer = next(iter(sandbox._layers.values()))
        (layer.upper / "sub").mkdir(exist_ok=True)
        (layer.upper / "sub" / "victim.txt").write_text("EVIL", encoding="utf-8")
        (folder / "sub" / "keep.txt").unlink()
        (folder / "sub").rmdir()
        (folder / "sub").symlink_to(outside)
        layer.apply(since_ns=0)
    assert (outside / "victim.txt").read_text(encoding="utf-8") == "safe"
    assert os.readlink(folder / "out") == str(outside)
    assert sorted(os.listdir(outside)) == ["victim.txt"]


async def test_review_mode_holds_changes_the_task_still_sees(tmp_path: Path) -> None:
    folder = folder_with(tmp_path / "taxes", {"a.txt": "a"})
    storage = tmp_path / "task-storage"
    async with Sandbox(policy(folder), changes_dir=storage, hold=["taxes"]) as sandbox:
        first = await sandbox.run(["/bin/sh", "-c", "echo b > b.txt && echo A > a.txt"])
        assert {(c.path, c.status) for c in first.changes} == {
            ("b.txt", "held"),
            ("a.txt", "held"),
        }
        second = await sandbox.run(["/bin/sh", "-c", "cat b.txt a.txt"])
        assert second.stdout == b"b\nA\n"
    assert sorted(os.listdir(folder)) == ["a.txt"]
    assert (folder / "a.txt").read_text(encoding="utf-8") == "a"
    layer = FolderLayer(folder, storage / "taxes", "taxes")
    applied = layer.apply()
    assert {(c.path, c.status) for c in applied} == {("b.txt", "applied"), ("a.txt", "applied")}
    assert (folder / "a.txt").read_text(encoding="utf-8") == "A\n"


async def test_a_concurrent_edit_is_a_conflict_not_overwritten(tmp_path: Path) -> None:
    folder = folder_with(tmp_path / "proj", {"notes.txt": "v1\n"})
    async with Sandbox(policy(folder)) as sandbox:

        async def user_edits() -> None:
            for _ in range(600):
                if any((p / "notes.txt").exists() for p in _uppers(sandbox)):
                    break
                await asyncio.sleep(0.05)
            (folder / "notes.txt").write_text("the user's edit\n", encoding="utf-8")

        edit = asyncio.ensure_future(user_edits())
        result = await sandbox.run(
            ["/bin/sh", "-c", "echo task >> notes.txt; sleep 1.5; echo done"], timeout=60
        )
        await edit
    assert [(c.path, c.status) for c in result.changes] == [("notes.txt", "conflict")]
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "the user's edit\n"


async def test_four_tasks_fifty_commands_on_one_folder_never_fail(tmp_path: Path) -> None:
    folder = folder_with(tmp_path / "shared", {"README": "shared\n", ".git/HEAD": "ref\n"})
    failures: list[str] = []

    async def task(number: int) -> None:
        async with Sandbox(policy(folder, session=f"t{number}")) as sandbox:
            for step in range(50):
                result = await sandbox.run(
                    ["/bin/sh", "-c", f"cat README > /dev/null && echo {step} > t{number}.txt"]
                )
                if result.exit_code != 0:
                    failures.append(result.stderr.decode(errors="replace"))

    await asyncio.gather(*(task(n) for n in range(4)))
    assert failures == []
    assert sorted(os.listdir(folder)) == [".git", "README", "t0.txt", "t1.txt", "t2.txt", "t3.txt"]
    assert all((folder / f"t{n}.txt").read_text(encoding="utf-8") == "49\n" for n in range(4))


# --- kill -9 --------------------------------------------------------------------------------

_APPLY_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from errand.sandbox.changes import FolderLayer
    layer = FolderLayer(Path(sys.argv[1]), Path(sys.argv[2]), "f")
    print("ready", flush=True)
    sys.stdin.readline()
    layer.apply()
    print("applied", flush=True)
    """
)


def _prepare(tmp_path: Path, files: int) -> tuple[Path, Path, dict[str, tuple[int, str]]]:
    """A folder and a storage whose upper layer modifies, creates and deletes files; returns
    them and the folder's expected state once applied."""
    folder = folder_with(tmp_path / "f", {f"old{i}.txt": f"old {i}\n" for i in range(files)})
    storage = tmp_path / "storage"
    layer = FolderLayer(folder, storage, "f")
    for i in range(files):
        (layer.upper / f"old{i}.txt").write_text(f"new {i}\n" * 50, encoding="utf-8")
        (layer.upper / f"created{i}.txt").write_text(f"created {i}\n", encoding="utf-8")
    expected_dir = tmp_path / "expected"
    folder_with(expected_dir, {f"old{i}.txt": f"new {i}\n" * 50 for i in range(files)})
    folder_with(expected_dir, {f"created{i}.txt": f"created {i}\n" for i in range(files)})
    expected = {k: v[1] for k, v in snapshot(expected_dir).items()}
    return folder, storage, {k: (0, v) for k, v in expected.items()}


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.03, 0.08, 0.2])
def test_kill_during_apply_then_recovery_leaves_the_applied_state(
    tmp_path: Path, delay: float
) -> None:
    folder, storage, expected = _prepare(tmp_path, 300)
    original = snapshot(folder)
    with subprocess.Popen(
        [sys.executable, "-c", _APPLY_SCRIPT, str(folder), str(storage)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        # The kill lands somewhere in the apply (the plan, the copies, the renames, the
        # clean-up); each delay tends to hit another phase.
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    now = {k: (0, v[1]) for k, v in snapshot(folder).items()}
    assert not any(".errand-stage" in name for name in now)
    # Every file is either wholly old or wholly new, never torn.
    for name, (_, digest) in now.items():
        assert digest in (expected.get(name, (0, ""))[1], original.get(name, (0, ""))[1])
    FolderLayer(folder, storage, "f")  # opening the layer finishes an interrupted apply
    after = {k: (0, v[1]) for k, v in snapshot(folder).items()}
    if after != expected:
        # Killed before the journal was written: nothing was applied, and applying now works.
        assert after == {k: (0, v[1]) for k, v in original.items()}
        FolderLayer(folder, storage, "f").apply()
        after = {k: (0, v[1]) for k, v in snapshot(folder).items()}
    assert after == expected


def test_kill_during_a_command_leaves_the_folder_untouched(tmp_path: Path) -> None:
    folder = folder_with(tmp_path / "f", {"a.txt": "a"})
    before = snapshot(folder)
    script = textwrap.dedent(
        f"""
        import asyncio
        from errand.sandbox import FolderGrant, SandboxPolicy
        from errand.sandbox.session import Sandbox
        async def main():
            policy = SandboxPolicy(folders=(FolderGrant.parse("{folder}:rw"),))
            async with Sandbox(policy) as sandbox:
                script = "echo x > b.txt; echo y > a.txt; echo started; sleep 60"
                await sandbox.run(["/bin/sh", "-c", script],
                                  on_output=lambda name, chunk: print("started", flush=True))
        asyncio.run(main())
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert snapshot(folder) == before


async def test_file_tool_writes_go_through_the_layer(tmp_path: Path) -> None:
    folder = folder_with(tmp_path / "taxes", {"a.txt": "a"})
    async with Sandbox(policy(folder), changes_dir=tmp_path / "s", hold=["taxes"]) as sandbox:
        held = await sandbox.write_file(folder, "notes/new.txt", b"from a file tool\n")
        assert [(c.path, c.kind, c.status) for c in held] == [
            ("notes", ChangeKind.CREATED, "held"),
            ("notes/new.txt", ChangeKind.CREATED, "held"),
        ]
        seen = await sandbox.run(["/bin/cat", "notes/new.txt"])
        assert seen.stdout == b"from a file tool\n"
    assert sorted(os.listdir(folder)) == ["a.txt"]
    async with Sandbox(policy(folder)) as sandbox:
        applied = await sandbox.write_file(folder, "a.txt", b"rewritten")
        assert [(c.path, c.status) for c in applied] == [("a.txt", "applied")]
    assert (folder / "a.txt").read_text(encoding="utf-8") == "rewritten"


# --- undo -----------------------------------------------------------------------------------


async def _task_changes(folder: Path, storage: Path, script: str) -> None:
    async with Sandbox(policy(folder), changes_dir=storage) as sandbox:
        result = await sandbox.run(["/bin/sh", "-c", script])
        assert result.exit_code == 0, result.stderr


async def test_undo_restores_the_folder_and_can_itself_be_undone(tmp_path: Path) -> None:
    folder = folder_with(tmp_path / "f", {"a.txt": "a\n", "b.txt": "b\n", "d/x": "x", "k": "k"})
    storage = tmp_path / "s"
    before = snapshot(folder)
    await _task_changes(
        folder, storage, "echo more >> a.txt; rm b.txt; rm -r d; mkdir -p n/m; echo c > n/m/c"
    )
    after_task = snapshot(folder)
    layer = FolderLayer(folder, storage / "f", "f")
    undone = layer.undo()
    assert all(c.status == "applied" for c in undone)
    assert snapshot(folder) == before
    redone = FolderLayer(folder, storage / "f", "f").undo()
    assert all(c.status == "applied" for c in redone)
    assert snapshot(folder) == after_task


async def test_undo_reports_conflicts_and_restores_the_rest(tmp_path: Path) -> None:
    folder = folder_with(tmp_path / "f", {"a.txt": "a\n", "b.txt": "b\n"})
    storage = tmp_path / "s"
    await _task_changes(folder, storage, "echo task >> a.txt; echo task >> b.txt; echo n > new")
    (folder / "b.txt").write_text("the user's later edit\n", encoding="utf-8")
    layer = FolderLayer(folder, storage / "f", "f")
    result = {(c.path, c.status) for c in layer.undo()}
    assert result == {("a.txt", "applied"), ("b.txt", "conflict"), ("new", "applied")}
    assert (folder / "a.txt").read_text(encoding="utf-8") == "a\n"
    assert (folder / "b.txt").read_text(encoding="utf-8") == "the user's later edit\n"
    assert not (folder / "new").exists()
    forced = FolderLayer(folder, storage / "f", "f").undo(force=True)
    assert [(c.path, c.status) for c in forced] == [("b.txt", "applied")]
    assert (folder / "b.txt").read_text(encoding="utf-8") == "b\n"


_UNDO_SCRIPT = _APPLY_SCRIPT.replace("layer.apply()", "layer.undo()")


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.06, 0.15])
def test_kill_during_undo_then_recovery_restores_the_folder(tmp_path: Path, delay: float) -> None:
    folder, storage, _ = _prepare(tmp_path, 300)
    original = {k: (0, v[1]) for k, v in snapshot(folder).items()}
    FolderLayer(folder, storage, "f").apply()
    applied = {k: (0, v[1]) for k, v in snapshot(folder).items()}
    with subprocess.Popen(
        [sys.executable, "-c", _UNDO_SCRIPT, str(folder), str(storage)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    FolderLayer(folder, storage, "f")  # finishes an interrupted undo
    after = {k: (0, v[1]) for k, v in snapshot(folder).items()}
    if after != original:
        assert after == applied  # killed before the undo's plan was written
        FolderLayer(folder, storage, "f").undo()
        after = {k: (0, v[1]) for k, v in snapshot(folder).items()}
    assert after == original
