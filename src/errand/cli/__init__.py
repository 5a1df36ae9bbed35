"""The ``errand`` command: a thin layer over the library."""

from __future__ import annotations

import sys

import typer

from errand.cli import changes as changes_cli
from errand.cli import devices as devices_cli
from errand.cli import folders as folders_cli
from errand.cli import hooks as hooks_cli
from errand.cli import mcp as mcp_cli
from errand.cli import sandbox as sandbox_cli
from errand.cli import schedules as schedules_cli
from errand.cli import sessions as sessions_cli
from errand.cli import skills as skills_cli
from errand.cli import tokens as tokens_cli
from errand.cli import webhooks as webhooks_cli
from errand.cli.evals import eval_
from errand.cli.models import models
from errand.cli.pair import pair
from errand.cli.run import run
from errand.cli.serve import serve
from errand.cli.worker import worker, workers

app = typer.Typer(
    name="errand",
    help="A self-hosted personal AI agent; every tool call runs in a sandbox.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(run)
app.command()(models)
app.command()(serve)
app.command()(worker)
app.command()(workers)
app.command()(pair)
app.command(name="eval")(eval_)
app.command()(changes_cli.changes)
app.command()(changes_cli.undo)
app.add_typer(sessions_cli.app, name="sessions")
app.add_typer(skills_cli.app, name="skills")
app.add_typer(sandbox_cli.app, name="sandbox")
app.add_typer(devices_cli.app, name="devices")
app.add_typer(folders_cli.app, name="folders")
app.add_typer(tokens_cli.app, name="tokens")
app.add_typer(schedules_cli.app, name="schedules")
app.add_typer(hooks_cli.app, name="hooks")
app.add_typer(webhooks_cli.app, name="webhooks")
app.add_typer(mcp_cli.app, name="mcp")


def main() -> None:
    """Console-script entry point: an unusable environment is one line, never a traceback."""
    try:
        app()
    except Exception as exc:
        from errand.cli.failures import EXIT_ENVIRONMENT, explain

        message = explain(exc)
        if message is None:
            raise
        print(f"errand: {message}", file=sys.stderr)
        sys.exit(EXIT_ENVIRONMENT)
