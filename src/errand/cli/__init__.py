"""The ``errand`` command: a thin layer over the library."""

from __future__ import annotations

import typer

from errand.cli import sandbox as sandbox_cli

app = typer.Typer(
    name="errand",
    help="A self-hosted personal AI agent; every tool call runs in a sandbox.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(sandbox_cli.app, name="sandbox")


def main() -> None:
    """Console-script entry point."""
    app()
