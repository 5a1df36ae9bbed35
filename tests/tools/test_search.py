"""search_files: grep inside the sandbox, over folders, files and glob patterns."""

from __future__ import annotations

from errand.tools import Action, ActionKind
from errand.tools.search import MAX_MATCHES
from tools.tool_harness import DOCS, Harness


def _tree(harness: Harness) -> None:
    (harness.work / "src" / "pkg").mkdir(parents=True)
    (harness.work / "src" / "a.py").write_text("def alpha():\n    return 1\n", encoding="utf-8")
    (harness.work / "src" / "pkg" / "b.py").write_text("x = 2\ndef beta(): pass\n", "utf-8")
    (harness.work / "notes.txt").write_text("def is a keyword\n", encoding="utf-8")
    (harness.work / "blob.bin").write_bytes(b"\x00\x01def binary\x00")


async def test_search_reports_path_line_and_text(harness: Harness) -> None:
    _tree(harness)
    out = await harness.call("search_files", pattern=r"def \w+\(")
    assert not out.is_error
    assert sorted(out.content.splitlines()) == [
        "src/a.py:1: def alpha():",
        "src/pkg/b.py:2: def beta(): pass",
    ]


async def test_search_skips_binary_files(harness: Harness) -> None:
    _tree(harness)
    out = await harness.call("search_files", pattern="binary")
    assert out.content == "No matches for 'binary' in .."


async def test_search_within_a_glob_pattern(harness: Harness) -> None:
    _tree(harness)
    out = await harness.call("search_files", pattern="def", path="src/**/*.py")
    assert sorted(line.split(":")[0] for line in out.content.splitlines()) == [
        "src/a.py",
        "src/pkg/b.py",
    ]
    none = await harness.call("search_files", pattern="def", path="*.rs")
    assert none.content == "No files match *.rs."


async def test_fixed_strings_and_other_folders(harness: Harness) -> None:
    (harness.work / "a.txt").write_text("a.b\naxb\n", encoding="utf-8")
    fixed = await harness.call("search_files", pattern="a.b", fixed_string=True)
    assert fixed.content == "a.txt:1: a.b"
    docs = await harness.call("search_files", pattern="(?i)READ ME", path=DOCS)
    assert docs.content == f"{DOCS}/guide.md:2: read me"


async def test_search_is_bounded_and_counts_the_rest(harness: Harness) -> None:
    (harness.work / "many.txt").write_text("hit\n" * (MAX_MATCHES + 7), encoding="utf-8")
    out = await harness.call("search_files", pattern="hit")
    lines = out.content.splitlines()
    assert len(lines) == MAX_MATCHES + 1
    assert lines[-1] == "[7 more matches not shown; narrow the search]"


async def test_a_bad_regex_and_a_bad_path_are_errors(harness: Harness) -> None:
    (harness.work / "a.txt").write_text("text\n", encoding="utf-8")
    bad = await harness.call("search_files", pattern="(unclosed")
    assert bad.is_error
    assert "The search failed" in bad.content
    outside = await harness.call("search_files", pattern="root", path="/etc")
    assert outside.is_error and "outside the granted folders" in outside.content


async def test_search_describes_as_a_read_action(harness: Harness) -> None:
    action = harness.builtin.describe(
        harness.call_of("search_files", pattern="x", path=DOCS), harness.ctx
    )
    assert isinstance(action, Action)
    assert (action.kind, action.folder) == (ActionKind.READ, "docs")
