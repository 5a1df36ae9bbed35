"""``errand`` commands run in the test's own process: the same commands, arguments, output
and exit codes as the installed command, without starting a Python for each (about 2 s apiece
on a 2-core machine). Tests of start-up itself, signals, terminal width or a broken
environment start the real command instead."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from errand.cli import app


@dataclass(frozen=True, slots=True)
class Ran:
    """What a command did, named as :class:`subprocess.CompletedProcess` names it."""

    returncode: int
    stdout: str
    stderr: str


def errand_here(home: Path, *args: str) -> Ran:
    """Run ``errand ARGS`` with ``ERRAND_HOME`` at ``home`` and no other ``ERRAND_`` setting
    of the test's environment, no input, and a 200-column terminal."""
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("ERRAND_")}
    env.update(ERRAND_HOME=str(home), COLUMNS="200")
    result = CliRunner().invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)
