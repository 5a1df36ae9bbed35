"""Tools that change files in read-write granted folders: ``write_file`` and ``edit_file``.

Writes go through :class:`~errand.sandbox.files.GrantedRoot`: atomic replacement, no writes
through symlinks, protected paths (git, editor, CI, shell configuration) refused. A path in a
read-only folder is refused before anything is opened.
"""

from __future__ import annotations

import asyncio
import difflib
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from errand.sandbox import GrantedRoot
from errand.tools.base import Action, ActionKind, ToolContext, ToolOutput
from errand.tools.errors import ToolError, file_errors
from errand.tools.paths import GrantPath, granted_root, resolve_path
from errand.tools.text_output import cut_line, format_size

MAX_EDIT_BYTES = 4 * 1024 * 1024
"""Largest file ``edit_file`` loads; bigger ones are edited with commands."""
MAX_DIFF_BYTES = 64 * 1024
"""Largest current file a write's approval shows a diff against."""
_DIFF_CHARS = 20_000
_SNIPPET_LINES = 8


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WriteFileArgs(_Args):
    path: str = Field(description="The file to create or replace.")
    content: str = Field(description="The complete new content.")


class EditFileArgs(_Args):
    path: str = Field(description="The file to edit.")
    old_string: str = Field(description="Exact text to replace; must occur exactly once.")
    new_string: str = Field(description="Replacement text.")


class WriteFile:
    """Create or replace a whole file (missing parent folders are created)."""

    name: ClassVar[str] = "write_file"
    description: ClassVar[str] = "Create or overwrite a file with the given content."
    Args: ClassVar[type[BaseModel]] = WriteFileArgs

    def describe(self, args: BaseModel, ctx: ToolContext) -> Action:
        assert isinstance(args, WriteFileArgs)
        found = resolve_path(ctx.policy, args.path, writing=True)
        replaces, diff = _compare(ctx, found, args.content)
        return Action(
            self.name,
            ActionKind.WRITE,
            f"write {found.shown}",
            folder=found.grant.name,
            replaces=replaces,
            diff=diff,
        )

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolOutput:
        assert isinstance(args, WriteFileArgs)
        found = resolve_path(ctx.policy, args.path, writing=True)
        root = granted_root(ctx.roots, found)
        data = args.content.encode("utf-8")
        with file_errors(found.shown):
            try:
                await asyncio.to_thread(root.stat, found.rel)
                existed = True
            except FileNotFoundError:
                existed = False
            await write_through(ctx, root, found.grant.path, found.rel, data)
        what = "replaced its previous content" if existed else "new file"
        return ToolOutput(
            f"Wrote {format_size(len(data))} to {found.shown} ({what}).",
            files=(found.sandbox_path,),
        )


class EditFile:
    """Replace one exact, unique piece of text in a file."""

    name: ClassVar[str] = "edit_file"
    description: ClassVar[str] = (
        "Replace an exact string in a file. old_string must match once, whitespace included."
    )
    Args: ClassVar[type[BaseModel]] = EditFileArgs

    def describe(self, args: BaseModel, ctx: ToolContext) -> Action:
        assert isinstance(args, EditFileArgs)
        found = resolve_path(ctx.policy, args.path, writing=True)
        return Action(self.name, ActionKind.WRITE, f"edit {found.shown}", folder=found.grant.name)

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolOutput:
        assert isinstance(args, EditFileArgs)
        found = resolve_path(ctx.policy, args.path, writing=True)
        if not args.old_string:
            raise ToolError("old_string is empty; to create or overwrite a file use write_file.")
        if args.old_string == args.new_string:
            raise ToolError("old_string and new_string are the same; nothing would change.")
        root = granted_root(ctx.roots, found)
        with file_errors(found.shown):
            data, more = await asyncio.to_thread(
                root.read_bytes, found.rel, max_bytes=MAX_EDIT_BYTES
            )
        if more:
            raise ToolError(
                f"{found.shown} is larger than {format_size(MAX_EDIT_BYTES)}; "
                "edit it with run_shell instead."
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ToolError(
                f"{found.shown} is not UTF-8 text; edit_file cannot change it."
            ) from None
        count = text.count(args.old_string)
        if count == 0:
            raise ToolError(
                f"old_string was not found in {found.shown}. It must match exactly, "
                "whitespace and indentation included; read_file shows the current text."
            )
        if count > 1:
            raise ToolError(
                f"old_string occurs {count} times in {found.shown}; include more of the "
                "surrounding text so that it matches exactly once."
            )
        # The file is checked again under the write (it may have changed since the read).
        with file_errors(found.shown):
            if ctx.sandbox.layered(found.grant.path):
                edited_text = text.replace(args.old_string, args.new_string, 1)
                await write_through(ctx, root, found.grant.path, found.rel, edited_text.encode())
            else:
                try:
                    await asyncio.to_thread(
                        root.replace_text, found.rel, args.old_string, args.new_string
                    )
                except ValueError as exc:
                    raise ToolError(str(exc)) from None
        first = text[: text.index(args.old_string)].count("\n") + 1
        edited = text.replace(args.old_string, args.new_string, 1).split("\n")
        span = args.new_string.count("\n") + 1
        return ToolOutput(
            f"Edited {found.shown} at line {first}. Now:\n{_snippet(edited, first, span)}",
            files=(found.sandbox_path,),
        )


def _snippet(lines: list[str], first: int, span: int) -> str:
    """The edited lines, numbered as read_file numbers them, at most a few."""
    last = min(first + min(span, _SNIPPET_LINES) - 1, len(lines))
    shown = [f"{n:>6}\t{cut_line(lines[n - 1], 200)}" for n in range(first, last + 1)]
    if span > _SNIPPET_LINES:
        shown.append(f"[... {span - _SNIPPET_LINES} more changed lines]")
    return "\n".join(shown)


async def write_through(
    ctx: ToolContext, root: GrantedRoot, folder: Path, rel: str, data: bytes
) -> None:
    """Write a file through the sandbox's change layer when the folder has one (so the write
    is recorded, reviewable and undoable like a command's), else directly."""
    if ctx.sandbox.layered(folder):
        await asyncio.to_thread(root.check_write, rel)
        await ctx.sandbox.write_file(folder, rel, data)
    else:
        await asyncio.to_thread(root.write_bytes, rel, data)


def _compare(ctx: ToolContext, found: GrantPath, content: str) -> tuple[bool, str | None]:
    """Whether writing ``content`` to ``found`` replaces a file, and the diff from its current
    text (None when it is new, large, not text, or cannot be read)."""
    root = ctx.roots.get(found.grant.name)
    if root is None or not found.rel:
        return False, None
    try:
        data, more = root.read_bytes(found.rel, max_bytes=MAX_DIFF_BYTES)
    except FileNotFoundError:
        return False, None
    except OSError:
        return True, None
    if more:
        return True, None
    try:
        before = data.decode("utf-8")
    except UnicodeDecodeError:
        return True, None
    name = found.rel.rsplit("/", 1)[-1]
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        content.splitlines(keepends=True),
        fromfile=f"{name} (now)",
        tofile=f"{name} (after)",
    )
    diff = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return True, diff if len(diff) <= _DIFF_CHARS else diff[:_DIFF_CHARS] + "…\n"
