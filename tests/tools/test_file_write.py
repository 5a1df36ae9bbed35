"""write_file and edit_file: changes inside read-write folders, refusals everywhere else."""

from __future__ import annotations

from errand.tools import Action, ActionKind
from tools.tool_harness import DOCS, WORK, Harness


async def test_write_file_creates_parents_and_reports_the_sandbox_path(harness: Harness) -> None:
    out = await harness.call("write_file", path="out/deep/a.txt", content="héllo\n")
    assert not out.is_error
    assert out.content == "Wrote 7 bytes to out/deep/a.txt (new file)."
    assert out.files == (f"{WORK}/out/deep/a.txt",)
    assert (harness.work / "out/deep/a.txt").read_text(encoding="utf-8") == "héllo\n"
    again = await harness.call("write_file", path=f"{WORK}/out/deep/a.txt", content="new")
    assert "replaced its previous content" in again.content
    assert (harness.work / "out/deep/a.txt").read_text(encoding="utf-8") == "new"


async def test_write_file_is_refused_in_read_only_folders(harness: Harness) -> None:
    out = await harness.call("write_file", path=f"{DOCS}/guide.md", content="defaced")
    assert out.is_error
    assert "granted read-only" in out.content
    assert (harness.docs / "guide.md").read_text(encoding="utf-8") == "# Guide\nread me\n"


async def test_write_file_outside_the_grants_changes_nothing(harness: Harness) -> None:
    target = harness.work.parent / "escaped.txt"
    for path in ("../escaped.txt", str(target), "/sessions/t1/mnt/other/x.txt"):
        out = await harness.call("write_file", path=path, content="x")
        assert out.is_error, path
        assert "outside the granted folders" in out.content
    assert not target.exists()


async def test_write_file_does_not_write_through_symlinks_or_protected_paths(
    harness: Harness,
) -> None:
    outside = harness.work.parent / "victim.txt"
    outside.write_text("safe", encoding="utf-8")
    (harness.work / "link").symlink_to(outside)
    through = await harness.call("write_file", path="link", content="owned")
    assert through.is_error
    assert outside.read_text(encoding="utf-8") == "safe"
    hook = await harness.call("write_file", path=".git/hooks/pre-commit", content="evil")
    assert hook.is_error
    assert not (harness.work / ".git").exists()


async def test_edit_file_replaces_a_unique_string(harness: Harness) -> None:
    (harness.work / "a.py").write_text("x = 1\ny = 2\nz = 3\n", encoding="utf-8")
    out = await harness.call("edit_file", path="a.py", old_string="y = 2", new_string="y = 20")
    assert not out.is_error
    assert out.content == "Edited a.py at line 2. Now:\n     2\ty = 20"
    assert out.files == (f"{WORK}/a.py",)
    assert (harness.work / "a.py").read_text(encoding="utf-8") == "x = 1\ny = 20\nz = 3\n"


async def test_edit_file_missing_and_ambiguous_strings_change_nothing(harness: Harness) -> None:
    original = "a = 1\na = 1\nb = 2\n"
    (harness.work / "a.py").write_text(original, encoding="utf-8")
    missing = await harness.call("edit_file", path="a.py", old_string="c = 3", new_string="c")
    assert missing.is_error
    assert "was not found in a.py" in missing.content
    twice = await harness.call("edit_file", path="a.py", old_string="a = 1", new_string="a = 2")
    assert twice.is_error
    assert "occurs 2 times in a.py" in twice.content
    same = await harness.call("edit_file", path="a.py", old_string="b = 2", new_string="b = 2")
    assert same.is_error
    empty = await harness.call("edit_file", path="a.py", old_string="", new_string="x")
    assert empty.is_error and "write_file" in empty.content
    assert (harness.work / "a.py").read_text(encoding="utf-8") == original


async def test_edit_file_refuses_read_only_missing_and_binary_files(harness: Harness) -> None:
    ro = await harness.call(
        "edit_file", path=f"{DOCS}/guide.md", old_string="read", new_string="write"
    )
    assert ro.is_error and "read-only" in ro.content
    gone = await harness.call("edit_file", path="nope.txt", old_string="a", new_string="b")
    assert gone.is_error and "does not exist" in gone.content
    (harness.work / "blob").write_bytes(b"\xff\xfe\x00abc")
    binary = await harness.call("edit_file", path="blob", old_string="abc", new_string="x")
    assert binary.is_error and "not UTF-8 text" in binary.content


async def test_writes_describe_as_write_actions_on_their_folder(harness: Harness) -> None:
    action = harness.builtin.describe(
        harness.call_of("edit_file", path="a.py", old_string="a", new_string="b"), harness.ctx
    )
    assert action == Action("edit_file", ActionKind.WRITE, "edit a.py", folder="work")
    refused = harness.builtin.describe(
        harness.call_of("write_file", path=f"{DOCS}/x", content=""), harness.ctx
    )
    assert not isinstance(refused, Action)
    assert refused.is_error and "read-only" in refused.content


async def test_a_write_over_a_file_describes_what_it_replaces(harness: Harness) -> None:
    new = harness.builtin.describe(
        harness.call_of("write_file", path="fresh.txt", content="hello\n"), harness.ctx
    )
    assert new == Action("write_file", ActionKind.WRITE, "write fresh.txt", folder="work")
    (harness.work / "plan.txt").write_text("one\ntwo\n", encoding="utf-8")
    over = harness.builtin.describe(
        harness.call_of("write_file", path="plan.txt", content="one\nthree\n"), harness.ctx
    )
    assert isinstance(over, Action) and over.replaces
    assert over.diff is not None
    assert "-two\n" in over.diff and "+three\n" in over.diff and " one\n" in over.diff
    (harness.work / "blob.bin").write_bytes(b"\xff\xfe\x00binary")
    binary = harness.builtin.describe(
        harness.call_of("write_file", path="blob.bin", content="text"), harness.ctx
    )
    assert isinstance(binary, Action) and binary.replaces and binary.diff is None
