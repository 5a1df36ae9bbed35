"""``run_shell``: one bash command in a fresh sandbox, in the working folder.

A non-zero exit is an ordinary result the model reads, not a tool error; only a sandbox that
could not be set up is one. The output keeps the head and tail of each stream within a
budget and says what was cut, and lists every connection the egress proxy refused, so the
model learns why a download failed instead of retrying blindly.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from errand.sandbox import ExecResult, Verdict
from errand.tools.base import Action, ActionKind, ToolContext, ToolOutput
from errand.tools.errors import ToolError
from errand.tools.text_output import cut_line, cut_middle, format_size

STDOUT_CHARS = 20_000
STDERR_CHARS = 6_000
"""Budgets per stream; together below the registry's cap, so each stream keeps its tail."""
_SUMMARY_CHARS = 200


class RunShellArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: str = Field(description="Bash command line.")
    timeout: int | None = Field(
        default=None, ge=1, description="Seconds before it is stopped (capped by the sandbox)."
    )


class RunShell:
    """Run a bash command in the sandbox."""

    name: ClassVar[str] = "run_shell"
    description: ClassVar[str] = (
        "Run a bash command in the sandbox, starting in the working folder. "
        "Network only through the allowlist proxy."
    )
    Args: ClassVar[type[BaseModel]] = RunShellArgs

    def describe(self, args: BaseModel, ctx: ToolContext) -> Action:
        assert isinstance(args, RunShellArgs)
        return Action(self.name, ActionKind.SHELL, cut_line(args.command, _SUMMARY_CHARS))

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolOutput:
        assert isinstance(args, RunShellArgs)
        if not args.command.strip():
            raise ToolError("The command is empty.")
        timeout = sandbox_timeout(ctx, args.timeout)
        result = await ctx.sandbox.run(
            ["/bin/bash", "-c", args.command],
            call_id=ctx.call_id,
            timeout=timeout,
            extra_mounts=list(ctx.extra_mounts),
        )
        if result.launch_failed is not None:
            raise ToolError(
                "The sandbox could not be set up, so the command did not run: "
                + result.launch_failed
            )
        return ToolOutput(format_result(result, timeout))


def sandbox_timeout(ctx: ToolContext, requested: float | None) -> float:
    """The requested time limit, never above the sandbox policy's."""
    limit = ctx.policy.limits.timeout_seconds
    return min(requested, limit) if requested else limit


def format_result(result: ExecResult, timeout: float) -> str:
    """Exit code, the two streams (cut to budget, with what was dropped), refusals."""
    lines = [f"exit code: {result.exit_code}"]
    if result.timed_out:
        lines[0] += (
            f" (timed out after {timeout:g} s; the command and everything it started were stopped)"
        )
    for label, data, dropped, budget in (
        ("stdout", result.stdout, result.stdout_dropped, STDOUT_CHARS),
        ("stderr", result.stderr, result.stderr_dropped, STDERR_CHARS),
    ):
        if not data and not dropped:
            continue
        text = cut_middle(data.decode("utf-8", errors="replace"), budget)
        lines.append(f"--- {label} ---")
        lines.append(text.rstrip("\n"))
        if dropped:
            lines.append(f"[{format_size(dropped)} more {label} dropped by the sandbox]")
    refused = refusals(result)
    if refused:
        lines.append("--- network refused ---")
        lines.extend(refused)
    return "\n".join(lines)


def refusals(result: ExecResult) -> list[str]:
    """One line per connection the egress proxy refused: where, and the proxy's reason."""
    seen: list[str] = []
    for decision in result.network:
        if decision.verdict is Verdict.DENY:
            line = f"{decision.host}:{decision.port}: {decision.reason}"
            if line not in seen:
                seen.append(line)
    return seen
