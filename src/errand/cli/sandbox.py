"""``errand sandbox``: run commands in the sandbox and check that it works here."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated

import typer
from rich.console import Console

from errand.config import ConfigError, config_path, load_config
from errand.sandbox import (
    EXIT_SANDBOX_UNAVAILABLE,
    ExecResult,
    NetworkDecision,
    PolicyError,
    Sandbox,
    SandboxPolicy,
    SandboxUnavailable,
    Verdict,
    policy_from_request,
)
from errand.tasks import ExitCode

app = typer.Typer(
    help="Run commands in the sandbox and check that it works here.", no_args_is_help=True
)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@app.command(context_settings={"ignore_unknown_options": True})
def exec(
    command: Annotated[list[str], typer.Argument(help="The command and its arguments, after --.")],
    folder: Annotated[
        list[str] | None,
        typer.Option(
            "--folder", help="PATH[:ro|:rw] to show inside the sandbox (read-only by default)."
        ),
    ] = None,
    allow_domain: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-domain", help="A domain the command may reach (example.com or *.example.com)."
        ),
    ] = None,
    deny_domain: Annotated[
        list[str] | None, typer.Option("--deny-domain", help="A domain that is always refused.")
    ] = None,
    allow_cidr: Annotated[
        list[str] | None,
        typer.Option("--allow-cidr", help="A private address range the command may reach."),
    ] = None,
    session: Annotated[
        str, typer.Option(help="Session name (its home is /sessions/NAME).")
    ] = "cli",
    timeout: Annotated[
        float | None, typer.Option(help="Seconds before the command is killed.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object at the end.")
    ] = False,
) -> None:
    """Run COMMAND in a fresh sandbox, as the agent's shell tool does.

    Exits with the command's status, 124 on timeout, 125 when the sandbox cannot be set up.
    """
    try:
        policy = policy_from_request(
            load_config().get("sandbox", {}),
            folders=folder or [],
            allow_domains=allow_domain or [],
            deny_domains=deny_domain or [],
            allow_cidrs=allow_cidr or [],
            session=session,
            timeout=timeout,
            config_file=config_path(),
        )
    except (PolicyError, ConfigError) as exc:
        err.print(f"errand: {exc}", markup=False)
        raise typer.Exit(ExitCode.USAGE) from exc
    try:
        result = asyncio.run(_run(policy, command, stream=not as_json))
    except SandboxUnavailable as exc:
        err.print(f"errand: the sandbox cannot start: {exc}", markup=False)
        raise typer.Exit(EXIT_SANDBOX_UNAVAILABLE) from exc
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if as_json:
        sys.stdout.write(json.dumps({"session": policy.session, **result.as_json()}) + "\n")
    raise typer.Exit(result.exit_code)


async def _run(policy: SandboxPolicy, command: list[str], *, stream: bool) -> ExecResult:
    def show(decision: NetworkDecision) -> None:
        if stream and decision.verdict is Verdict.DENY:
            err.print(
                f"errand: network: refused {decision.host}:{decision.port}: {decision.reason}",
                markup=False,
            )

    def write(name: str, chunk: bytes) -> None:
        target = sys.stdout.buffer if name == "stdout" else sys.stderr.buffer
        target.write(chunk)
        target.flush()

    async with Sandbox(policy, on_decision=show) as sandbox:
        return await sandbox.run(command, on_output=write if stream else None)


@app.command()
def check() -> None:
    """Report each layer of the sandbox; exit non-zero if it cannot run here."""
    from errand.sandbox import probe

    layers = asyncio.run(probe())
    out = Console(highlight=False)
    for layer in layers:
        mark = "[green]ok[/]" if layer.ok else "[red]FAIL[/]"
        out.print(f"{mark:>14}  [bold]{layer.name}[/]: ", end="")
        out.print(layer.detail, markup=False)
    failed = [layer for layer in layers if layer.required and not layer.ok]
    if failed:
        out.print("The sandbox cannot run here; fix the failures above.", markup=False)
        raise typer.Exit(EXIT_SANDBOX_UNAVAILABLE)
    out.print("The sandbox works here.", markup=False)
