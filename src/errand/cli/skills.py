"""``errand skills``: the Agent Skills Errand found, one skill's details, strict validation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from errand.skills import SkillSource, discover_skills, validate_skill

app = typer.Typer(help="Agent Skills: list, show, validate.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)


@app.command("list")
def list_(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also show skipped skills and why.")
    ] = False,
) -> None:
    """Skills in your skills folder (granted folders' skills appear when a task trusts them)."""
    catalog = discover_skills([SkillSource.user()])
    table = Table("name", "description", "source", box=None)
    for skill in catalog.skills:
        table.add_row(skill.name, skill.description, skill.source)
    console.print(table if catalog.skills else f"No skills in {SkillSource.user().root}.")
    if verbose:
        for skipped in catalog.skipped:
            console.print(f"skipped {skipped.path}: {skipped.reason}", markup=False)
        for warning in catalog.warnings:
            console.print(f"warning {warning.path}: {warning.message}", markup=False)


@app.command()
def show(name: Annotated[str, typer.Argument(help="The skill's name.")]) -> None:
    """A skill's front matter and instructions."""
    skill = discover_skills([SkillSource.user()]).get(name)
    if skill is None:
        console.print(f"errand: no skill named {name!r}", markup=False)
        raise typer.Exit(2)
    console.print(f"{skill.name} ({skill.path})\n{skill.description}\n", markup=False)
    console.print(skill.body(), markup=False)


@app.command()
def validate(path: Annotated[Path, typer.Argument(help="A skill folder (with SKILL.md).")]) -> None:
    """Check a skill strictly against the Agent Skills format; exit 1 when it has problems."""
    problems = validate_skill(path)
    for problem in problems:
        console.print(f"✗ {problem}", markup=False)
    if problems:
        raise typer.Exit(1)
    console.print(f"✓ {path} is a valid skill", markup=False)
