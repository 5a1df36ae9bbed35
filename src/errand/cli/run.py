"""``errand run``: send the agent on one errand from the terminal and watch it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from errand.config import ConfigError, load_config
from errand.sandbox import FolderGrant, PolicyError
from errand.tasks import ExitCode

if TYPE_CHECKING:
    from errand.agent import TaskOptions
    from errand.intake import IntakeSettings, TaskRequest
    from errand.mcp import McpConfig
    from errand.store import ApprovalRecord, QuestionRecord, Store

# The model SDKs, the agent and the store are imported inside the command: `errand --help`
# and `errand sandbox exec` should not pay for them.

err = Console(stderr=True, highlight=False, soft_wrap=True)


def run(
    task: Annotated[str, typer.Argument(help="What you want done, in your own words.")],
    folder: Annotated[
        list[str] | None,
        typer.Option("--folder", help="PATH[:ro|:rw] the agent may use (read-only by default)."),
    ] = None,
    allow_domain: Annotated[
        list[str] | None, typer.Option("--allow-domain", help="A domain the agent may reach.")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="PROVIDER:MODEL, e.g. anthropic:claude-sonnet-4-5.")
    ] = None,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Most model calls.")] = None,
    timeout: Annotated[
        float | None, typer.Option(min=1, help="Seconds for the whole task.")
    ] = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", help="Approve what the policy would ask about (never widens the sandbox)."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print events as JSON lines.")] = False,
    browser: Annotated[
        bool,
        typer.Option(
            "--browser", help="Give the agent a web browser (Chromium, inside the sandbox)."
        ),
    ] = False,
    mcp: Annotated[
        list[str] | None,
        typer.Option("--mcp", help="An MCP server to use (default: every configured one)."),
    ] = None,
    no_mcp: Annotated[bool, typer.Option("--no-mcp", help="Use no MCP server.")] = False,
) -> None:
    """Run TASK with the agent; exits 0 done, 1 failed, 124 timed out, 130 cancelled."""
    from errand.agent import options_from_config
    from errand.browser import BrowserUnavailable, chromium_path
    from errand.intake import IntakeSettings, TaskRequest
    from errand.mcp import McpConfigError, mcp_config
    from errand.tasks import SourceKind, TaskSource

    try:
        config = load_config()
        servers = mcp_config(config)
        chosen = [] if no_mcp else mcp
        servers.select(chosen)
        settings = IntakeSettings.from_config(config)
        host_folders = [FolderGrant.parse(spec) for spec in folder or []]
        options_from_config(config)  # a malformed [approvals] is a usage error, before anything
    except (PolicyError, ConfigError, McpConfigError, ValueError) as exc:
        err.print(f"errand: {exc}", markup=False)
        raise typer.Exit(ExitCode.USAGE) from exc
    if servers.select(chosen):
        from errand.mcp import load_sdk

        load_sdk()  # now, before the task's lease is held and the loop must keep it
    request = TaskRequest(
        prompt=task,
        host_folders=host_folders,
        allow_domains=allow_domain or [],
        model=model,
        max_steps=max_steps,
        timeout=timeout,
        source=TaskSource(kind=SourceKind.CLI),
        toolsets=(["browser"] if browser else []) + [f"mcp:{name}" for name in chosen or []],
    )
    if browser:
        try:
            chromium_path()
        except BrowserUnavailable as exc:
            err.print(f"errand: {exc}", markup=False)
            raise typer.Exit(ExitCode.USAGE) from exc
    interactive = sys.stdin.isatty() and not yes
    try:
        code = asyncio.run(
            _run(
                request,
                settings,
                config,
                yes=yes,
                browser=browser,
                as_json=as_json,
                interactive=interactive,
                servers=servers,
                chosen=chosen,
            )
        )
    except KeyboardInterrupt:
        err.print("errand: cancelled", markup=False)
        code = ExitCode.CANCELLED
    raise typer.Exit(code)


async def _run(
    request: TaskRequest,
    settings: IntakeSettings,
    config: Mapping[str, Any],
    *,
    yes: bool,
    browser: bool,
    as_json: bool,
    interactive: bool,
    servers: McpConfig,
    chosen: list[str] | None,
) -> int:
    from errand.agent import browser_toolsets, options_from_config, with_mcp_servers
    from errand.cli.render import EventPrinter, follow, print_json
    from errand.intake import Intake, IntakeError
    from errand.runner import LeaseSettings, run_one, runner_id
    from errand.store import Lease, open_store

    store = await open_store()
    try:
        # The task is created already held by this process, under a lease it renews while
        # it runs: if this process dies, every reader sees the task interrupted once the
        # lease runs out, and no other runner can take it meanwhile.
        lease = Lease(runner_id("run"), LeaseSettings.from_env().lease_seconds)
        try:
            task = await Intake(store, config=settings).submit(request, lease=lease)
        except IntakeError as exc:
            err.print(f"errand: {exc.message}", markup=False)
            return ExitCode.FAILED if exc.code == "no_model" else ExitCode.USAGE
        options: TaskOptions = replace(options_from_config(config, task.spec), auto_approve=yes)
        if browser:
            options = replace(options, toolsets=browser_toolsets(options))
        # Servers the owner named must start; the default (all of them) reports failures.
        options = with_mcp_servers(options, servers, chosen, store=store, required=bool(chosen))
        if not as_json:
            err.print(f"[dim]task {task.id}[/]")
        printer = None if as_json else EventPrinter()
        watcher = asyncio.ensure_future(follow(store, task.id, printer, as_json=as_json))
        responder = TerminalResponder(store) if interactive else None
        try:
            outcome = await run_one(store, task, lease=lease, options=options, responder=responder)
        finally:
            try:
                printed: int | None = await asyncio.wait_for(asyncio.shield(watcher), 5.0)
            except (TimeoutError, asyncio.CancelledError):
                watcher.cancel()
                printed = None
        if printed is not None:
            # What the run recorded after the final status: its tools shutting down.
            for event in await store.events(task.id, after_seq=printed):
                if as_json:
                    print_json(event)
                elif printer is not None:
                    printer.show(event)
        return outcome.exit_code
    finally:
        await store.aclose()


class TerminalResponder:
    """Answers approvals and questions at the terminal where ``errand run`` was started."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.console = Console(highlight=False, soft_wrap=True)

    async def approval_requested(self, approval: ApprovalRecord) -> None:
        from errand.store import AlreadyDecided

        summary = approval.action.get("summary", "")
        answer = await read_line(f"Approve {approval.action.get('tool')}: {summary}? [y/N] ")
        try:
            await self.store.decide_approval(
                approval.id,
                approve=answer.strip().lower() in ("y", "yes"),
                decided_by="terminal",
                digest=approval.digest,
            )
        except AlreadyDecided:
            self.console.print("(already decided elsewhere)")

    async def question_asked(self, question: QuestionRecord) -> None:
        from errand.store import AlreadyAnswered

        answer = await read_line("Your answer: ")
        try:
            await self.store.answer_question(question.id, answer.strip(), answered_by="terminal")
        except AlreadyAnswered:
            self.console.print("(already answered elsewhere)")


async def read_line(prompt: str) -> str:
    """Ask ``prompt`` on the terminal (one question at a time; see :mod:`errand.cli.terminal`)."""
    from errand.cli.terminal import terminal

    return await terminal().ask(prompt)
