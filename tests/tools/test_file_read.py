"""list_files and read_file on real granted folders."""

from __future__ import annotations

import os

from errand.tools import Action, ActionKind
from errand.tools.file_read import MAX_LISTED, MAX_OUTPUT_CHARS, MAX_READ_BYTES
from tools.tool_harness import DOCS, Harness


async def test_list_files_shows_entries_with_kinds_and_sizes(harness: Harness) -> None:
    (harness.work / "src").mkdir()
    (harness.work / "README.md").write_text("hello\n", encoding="utf-8")
    out = await harness.call("list_files")
    assert not out.is_error
    assert out.content.splitlines() == [". (2 entries):", "README.md  6 bytes", "src/"]


async def test_list_files_in_a_read_only_folder_by_absolute_path(harness: Harness) -> None:
    out = await harness.call("list_files", path=DOCS)
    assert "guide.md" in out.content
    assert out.content.startswith(f"{DOCS} (1 entry)")


async def test_list_files_with_a_glob_pattern(harness: Harness) -> None:
    for rel in ("src/a.py", "src/pkg/b.py", "src/pkg/c.txt", "top.py"):
        (harness.work / rel).parent.mkdir(parents=True, exist_ok=True)
        (harness.work / rel).write_text("x", encoding="utf-8")
    out = await harness.call("list_files", path="src/**/*.py")
    assert out.content.splitlines() == ["src/a.py", "src/pkg/b.py"]
    none = await harness.call("list_files", path="*.rs")
    assert none.content == "No paths match *.rs."


async def test_list_files_is_bounded_and_counts_what_it_leaves_out(harness: Harness) -> None:
    for i in range(MAX_LISTED + 25):
        (harness.work / f"f{i:04}.txt").write_bytes(b"")
    out = await harness.call("list_files")
    lines = out.content.splitlines()
    assert len(lines) == 1 + MAX_LISTED + 1
    assert lines[-1].startswith("[25 more entries not shown")
    globbed = await harness.call("list_files", path="*.txt")
    assert globbed.content.splitlines()[-1].startswith("[25 more matches not shown")


async def test_list_files_on_a_file_and_on_nothing(harness: Harness) -> None:
    (harness.work / "a.txt").write_text("abc", encoding="utf-8")
    assert (await harness.call("list_files", path="a.txt")).content == "a.txt is a file, 3 bytes."
    missing = await harness.call("list_files", path="nope")
    assert missing.is_error
    assert "nope does not exist" in missing.content


async def test_read_file_numbers_lines(harness: Harness) -> None:
    (harness.work / "a.txt").write_text("one\ntwo\nthree\n", encoding="utf-8")
    out = await harness.call("read_file", path="a.txt")
    assert out.content == "     1\tone\n     2\ttwo\n     3\tthree"


async def test_read_file_line_range_says_where_to_continue(harness: Harness) -> None:
    text = "".join(f"line {i}\n" for i in range(1, 11))
    (harness.work / "a.txt").write_text(text, encoding="utf-8")
    out = await harness.call("read_file", path="a.txt", start_line=3, end_line=4)
    assert out.content.splitlines() == [
        "     3\tline 3",
        "     4\tline 4",
        "[lines 3-4 of 10; continue with start_line=5]",
    ]
    past = await harness.call("read_file", path="a.txt", start_line=11)
    assert past.is_error
    assert "the file has 10 lines" in past.content
    backwards = await harness.call("read_file", path="a.txt", start_line=5, end_line=2)
    assert backwards.is_error


async def test_read_file_caps_its_output_and_names_the_next_line(harness: Harness) -> None:
    line = "x" * 99
    (harness.work / "big.txt").write_text((line + "\n") * 1000, encoding="utf-8")
    out = await harness.call("read_file", path="big.txt")
    assert len(out.content) <= MAX_OUTPUT_CHARS + 100
    last = out.content.splitlines()[-1]
    assert last.startswith("[lines 1-")
    shown_end = int(last.split("-")[1].split(" ")[0])
    assert f"continue with start_line={shown_end + 1}" in last
    following = await harness.call("read_file", path="big.txt", start_line=shown_end + 1)
    assert following.content.startswith(f"{shown_end + 1:>6}\t")


async def test_read_file_beyond_the_read_limit_points_to_commands(harness: Harness) -> None:
    (harness.work / "huge.log").write_bytes(b"a" * 50 + b"\n" + b"b" * (MAX_READ_BYTES + 10))
    out = await harness.call("read_file", path="huge.log")
    assert out.content.splitlines()[0] == "     1\t" + "a" * 50
    assert "use run_shell (sed -n, tail) for the rest" in out.content


async def test_read_file_reports_binary_files_instead_of_garbage(harness: Harness) -> None:
    (harness.work / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + os.urandom(200))
    out = await harness.call("read_file", path="img.png")
    assert not out.is_error
    assert out.content.startswith("img.png is a binary file (210 bytes)")
    assert "\x00" not in out.content


async def test_read_file_failures_are_clear(harness: Harness) -> None:
    (harness.work / "sub").mkdir()
    folder = await harness.call("read_file", path="sub")
    assert folder.is_error and "is a folder" in folder.content
    missing = await harness.call("read_file", path="missing.txt")
    assert missing.is_error and "missing.txt does not exist" in missing.content
    outside = await harness.call("read_file", path="/etc/passwd")
    assert outside.is_error and "outside the granted folders" in outside.content
    assert "root:" not in outside.content


async def test_read_file_does_not_follow_a_symlink_out_of_the_folder(harness: Harness) -> None:
    (harness.work / "link").symlink_to("/etc/passwd")
    out = await harness.call("read_file", path="link")
    assert out.is_error
    assert "root:" not in out.content


async def test_reads_describe_as_read_actions_on_their_folder(harness: Harness) -> None:
    action = harness.builtin.describe(
        harness.call_of("read_file", path=f"{DOCS}/guide.md"), harness.ctx
    )
    assert action == Action("read_file", ActionKind.READ, f"read {DOCS}/guide.md", folder="docs")
    listing = harness.builtin.describe(harness.call_of("list_files"), harness.ctx)
    assert isinstance(listing, Action) and listing.folder == "work"
