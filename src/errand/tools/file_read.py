"""Tools that look at granted folders from the host side: ``list_files`` and ``read_file``.

Both go through :class:`~errand.sandbox.files.GrantedRoot`, so symlinks and races cannot lead
them out of a folder; the blocking file calls run in a worker thread so that the event loop
(which also serves the egress proxy) stays responsive.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar, assert_never

from pydantic import BaseModel, ConfigDict, Field

from errand.sandbox import Entry
from errand.tools.base import Action, ActionKind, ToolContext, ToolOutput
from errand.tools.errors import ToolError, file_errors
from errand.tools.paths import granted_root, resolve_path, show_path
from errand.tools.text_output import cut_line, decode_text, format_size, looks_binary

MAX_LISTED = 300
"""Entries or matches shown by one ``list_files`` call; the rest are counted."""
SCAN_LIMIT = 10_000
"""Entries or matches looked at by one ``list_files`` call."""
MAX_READ_BYTES = 4 * 1024 * 1024
"""How far into a file ``read_file`` can reach; past that, commands (sed, tail) can."""
MAX_OUTPUT_CHARS = 24_000
"""Numbered text returned by one ``read_file`` call, below the registry's own cap so that
the tool can say where to continue instead of being cut in the middle."""
MAX_LINE_CHARS = 2_000


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ListFilesArgs(_Args):
    path: str = Field(
        default=".",
        description="A folder, or a glob pattern like src/**/*.py. Default: the working folder.",
    )


class ReadFileArgs(_Args):
    path: str = Field(description="The file to read.")
    start_line: int | None = Field(default=None, ge=1, description="First line (from 1).")
    end_line: int | None = Field(default=None, ge=1, description="Last line, inclusive.")


class ListFiles:
    """List a folder, or the paths a glob pattern matches."""

    name: ClassVar[str] = "list_files"
    description: ClassVar[str] = "List a folder's entries, or the files matching a glob pattern."
    Args: ClassVar[type[BaseModel]] = ListFilesArgs

    def describe(self, args: BaseModel, ctx: ToolContext) -> Action:
        assert isinstance(args, ListFilesArgs)
        found = resolve_path(ctx.policy, args.path)
        return Action(self.name, ActionKind.READ, f"list {found.shown}", folder=found.grant.name)

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolOutput:
        assert isinstance(args, ListFilesArgs)
        found = resolve_path(ctx.policy, args.path)
        root = granted_root(ctx.roots, found)
        if any(ch in found.rel for ch in "*?["):
            with file_errors(found.shown):
                matches, cut_short = await asyncio.to_thread(root.glob, found.rel, limit=SCAN_LIMIT)
            if not matches:
                return ToolOutput(f"No paths match {found.shown}.")
            lines = [show_path(ctx.policy, found.grant, rel) for rel in matches[:MAX_LISTED]]
            return ToolOutput(
                "\n".join(lines) + _more_note(len(matches) - len(lines), cut_short, "matches")
            )
        with file_errors(found.shown):
            entry = await asyncio.to_thread(root.stat, found.rel)
            if entry.kind != "dir":
                return ToolOutput(f"{found.shown} is a {entry.kind}, {format_size(entry.size)}.")
            entries, cut_short = await asyncio.to_thread(root.list_dir, found.rel, limit=SCAN_LIMIT)
        if not entries:
            return ToolOutput(f"{found.shown} is an empty folder.")
        lines = [_entry_line(e) for e in entries[:MAX_LISTED]]
        count = f"{len(entries)}{'+' if cut_short else ''}"
        head = f"{found.shown} ({count} {'entry' if count == '1' else 'entries'}):"
        more = _more_note(len(entries) - len(lines), cut_short, "entries")
        return ToolOutput("\n".join([head, *lines]) + more)


class ReadFile:
    """Read a text file, with line numbers, optionally only some lines."""

    name: ClassVar[str] = "read_file"
    description: ClassVar[str] = "Read a text file; lines come numbered."
    Args: ClassVar[type[BaseModel]] = ReadFileArgs

    def describe(self, args: BaseModel, ctx: ToolContext) -> Action:
        assert isinstance(args, ReadFileArgs)
        found = resolve_path(ctx.policy, args.path)
        return Action(self.name, ActionKind.READ, f"read {found.shown}", folder=found.grant.name)

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolOutput:
        assert isinstance(args, ReadFileArgs)
        found = resolve_path(ctx.policy, args.path)
        root = granted_root(ctx.roots, found)
        with file_errors(found.shown):
            data, more = await asyncio.to_thread(
                root.read_bytes, found.rel, max_bytes=MAX_READ_BYTES
            )
        if looks_binary(data):
            size = f"over {format_size(MAX_READ_BYTES)}" if more else format_size(len(data))
            return ToolOutput(
                f"{found.shown} is a binary file ({size}); it is not shown as text. "
                "Inspect it with run_shell (for example `file` or `xxd | head`)."
            )
        if not data:
            return ToolOutput(f"{found.shown} is empty.")
        lines = decode_text(data).split("\n")
        if more:
            lines.pop()  # cut mid-line by the read limit
        elif lines[-1] == "":
            lines.pop()
        return ToolOutput(_numbered(lines, args.start_line, args.end_line, complete=not more))


def _numbered(
    lines: list[str], start_line: int | None, end_line: int | None, *, complete: bool
) -> str:
    total = len(lines)
    start = start_line or 1
    if start > total:
        counted = f"{total} lines" if complete else f"more than {total} lines (readable here)"
        raise ToolError(f"start_line {start} is past the end: the file has {counted}.")
    if end_line is not None and end_line < start:
        raise ToolError(f"end_line {end_line} is before start_line {start}.")
    end = min(end_line or total, total)
    out: list[str] = []
    used = 0
    shown_end = start - 1
    for number in range(start, end + 1):
        line = f"{number:>6}\t{cut_line(lines[number - 1].rstrip(chr(13)), MAX_LINE_CHARS)}"
        if used + len(line) + 1 > MAX_OUTPUT_CHARS and out:
            break
        out.append(line)
        used += len(line) + 1
        shown_end = number
    notes: list[str] = []
    of_total = f"{total}" if complete else f"{total}+"
    if shown_end < end or (start > 1 or end < total):
        notes.append(f"[lines {start}-{shown_end} of {of_total}")
        if shown_end < total:
            notes[-1] += f"; continue with start_line={shown_end + 1}"
        notes[-1] += "]"
    if not complete and shown_end == total:
        notes.append(
            f"[read_file reaches only the first {format_size(MAX_READ_BYTES)} of this file; "
            "use run_shell (sed -n, tail) for the rest]"
        )
    return "\n".join(out + notes)


def _entry_line(entry: Entry) -> str:
    match entry.kind:
        case "dir":
            return f"{entry.name}/"
        case "file":
            return f"{entry.name}  {format_size(entry.size)}"
        case "symlink":
            return f"{entry.name}  (symlink)"
        case "other":
            return f"{entry.name}  (special file)"
        case _:
            assert_never(entry.kind)


def _more_note(hidden: int, cut_short: bool, what: str) -> str:
    if cut_short:
        return f"\n[{hidden}+ more {what} not shown; narrow the path or pattern]"
    if hidden > 0:
        return f"\n[{hidden} more {what} not shown; narrow the path or pattern]"
    return ""
