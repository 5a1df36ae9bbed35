"""``search_files``: find lines matching a pattern in a granted folder.

The search runs as ``grep`` inside the sandbox rather than with Python's ``re`` in the
Errand process. A model-written regular expression can backtrack for minutes; inside the
sandbox it is bounded by the command's time limit and killed with it, while in the host
process it would stall the event loop that also serves the egress proxy and every other
task. grep's Perl-compatible syntax (``-P``) is also what models tend to write, and ``-I``
skips binary files for free. A glob pattern is expanded on the host side with
:class:`~errand.sandbox.files.GrantedRoot` (the same matching ``list_files`` uses) and the
files are handed to grep through ``xargs``.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from errand.tools.base import Action, ActionKind, ToolContext, ToolOutput
from errand.tools.errors import ToolError, file_errors
from errand.tools.paths import GrantPath, granted_root, resolve_path, show_path
from errand.tools.shell import sandbox_timeout
from errand.tools.text_output import cut_line

MAX_MATCHES = 200
MAX_GLOB_FILES = 5_000
MAX_MATCH_CHARS = 300
SEARCH_TIMEOUT = 60.0
# -s: the guards (/dev/null) over absent protected paths in read-write folders would each be
# reported; syntax errors in the pattern are still reported.
_COMMON = ["-n", "-H", "-I", "-Z", "-s", "-D", "skip", "--exclude-dir=.git"]


class SearchFilesArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pattern: str = Field(description="Perl-style regex; (?i) ignores case.")
    path: str = Field(default=".", description="Folder, file or glob like src/**/*.py.")
    fixed_string: bool = Field(default=False, description="Match pattern literally.")


class SearchFiles:
    """Search file contents; results as ``path:line: text``."""

    name: ClassVar[str] = "search_files"
    description: ClassVar[str] = (
        "Search text files for a regex or fixed string; prints path:line: text."
    )
    Args: ClassVar[type[BaseModel]] = SearchFilesArgs

    def describe(self, args: BaseModel, ctx: ToolContext) -> Action:
        assert isinstance(args, SearchFilesArgs)
        found = resolve_path(ctx.policy, args.path)
        return Action(
            self.name,
            ActionKind.READ,
            cut_line(f"search {found.shown} for {args.pattern}", 200),
            folder=found.grant.name,
        )

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolOutput:
        assert isinstance(args, SearchFilesArgs)
        if not args.pattern:
            raise ToolError("The pattern is empty.")
        found = resolve_path(ctx.policy, args.path)
        syntax = "-F" if args.fixed_string else "-P"
        stdin: bytes | None = None
        if any(ch in found.rel for ch in "*?["):
            root = granted_root(ctx.roots, found)
            with file_errors(found.shown):
                files, cut_short = await asyncio.to_thread(
                    root.glob, found.rel, limit=MAX_GLOB_FILES
                )
            if not files:
                return ToolOutput(f"No files match {found.shown}.")
            if cut_short:
                raise ToolError(
                    f"{found.shown} matches more than {MAX_GLOB_FILES} paths; narrow the pattern."
                )
            argv = ["xargs", "-0", "-r", "grep", *_COMMON, "-d", "skip", syntax]
            argv += ["-e", args.pattern, "--"]
            stdin = b"\0".join(f.encode() for f in files) + b"\0"
        else:
            argv = ["grep", "-r", *_COMMON, syntax, "-e", args.pattern, "--", found.rel or "."]
        result = await ctx.sandbox.run(
            argv,
            call_id=ctx.call_id,
            cwd=ctx.policy.mount_point(found.grant),
            stdin=stdin,
            timeout=sandbox_timeout(ctx, SEARCH_TIMEOUT),
            extra_mounts=list(ctx.extra_mounts),
        )
        if result.launch_failed is not None:
            raise ToolError("The sandbox could not be set up: " + result.launch_failed)
        matches = _matches(ctx, found, result.stdout)
        problems = result.stderr.decode("utf-8", errors="replace").strip()
        if result.timed_out:
            raise ToolError(
                f"The search took longer than {sandbox_timeout(ctx, SEARCH_TIMEOUT):g} s and was "
                "stopped; narrow the path or simplify the pattern."
            )
        if not matches:
            if problems and result.exit_code not in (0, 1):
                raise ToolError(f"The search failed: {cut_line(problems, 500)}")
            return ToolOutput(f"No matches for {args.pattern!r} in {found.shown}.")
        lines = matches[:MAX_MATCHES]
        if len(matches) > len(lines) or result.stdout_dropped:
            more = len(matches) - len(lines)
            plus = "+" if result.stdout_dropped else ""
            lines.append(f"[{more}{plus} more matches not shown; narrow the search]")
        return ToolOutput("\n".join(lines))


def _matches(ctx: ToolContext, found: GrantPath, stdout: bytes) -> list[str]:
    """grep's ``path NUL line:text`` records as ``path:line: text`` with tool-style paths."""
    out: list[str] = []
    for record in stdout.decode("utf-8", errors="replace").split("\n"):
        name, sep, rest = record.partition("\0")
        number, colon, text = rest.partition(":")
        if not sep or not colon or not number.isdigit():
            continue  # the tail of a stream cut by the output cap
        rel = name.removeprefix("./")
        shown = show_path(ctx.policy, found.grant, rel)
        out.append(f"{shown}:{number}: {cut_line(text.rstrip(chr(13)), MAX_MATCH_CHARS)}")
    return out
