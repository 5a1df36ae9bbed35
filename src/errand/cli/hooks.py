"""``errand hooks``: inbound webhooks that start a task (``POST /hooks/NAME``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from errand.cli.automation_common import console, errors, local_time, with_store

if TYPE_CHECKING:
    from errand.automation import NewHook
    from errand.store import HookRecord, Store

app = typer.Typer(
    help="Inbound hooks: add, list, show, rotate-secret, remove.", no_args_is_help=True
)


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="The hook's name: POST /hooks/NAME.")],
    prompt_template: Annotated[
        str, typer.Option("--prompt-template", help="The task's instructions at each call.")
    ],
    folder: Annotated[
        list[str] | None, typer.Option("--folder", help="Allowed folder NAME[:ro|:rw]; repeat.")
    ] = None,
    allow_domain: Annotated[
        list[str] | None, typer.Option("--allow-domain", help="Domain the task may reach.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="PROVIDER:MODEL (default: configured).")] = None,
) -> None:
    """Add a hook; its signing secret is printed once."""
    from errand.automation import Hooks, TaskTemplate, TemplateError

    try:
        template = TaskTemplate.from_options(folder or [], allow_domain or [], model)
    except TemplateError as exc:
        errors.print(f"errand: {exc}", markup=False)
        raise typer.Exit(2) from exc

    async def work(store: Store) -> NewHook:
        return await Hooks(store).add(name, prompt_template, template)

    _show_secret(with_store(work))


@app.command("list")
def list_() -> None:
    """Every hook (secrets are never shown again)."""
    from errand.automation import Hooks

    async def work(store: Store) -> list[HookRecord]:
        return await Hooks(store).list_all()

    hooks = with_store(work)
    if not hooks:
        console.print("No hooks. Add one with `errand hooks add NAME --prompt-template ...`.")
        return
    table = Table("name", "path", "created", "prompt template", box=None)
    for hook in hooks:
        table.add_row(
            hook.name, f"/hooks/{hook.name}", local_time(hook.created_at), hook.prompt_template
        )
    console.print(table)


@app.command()
def show(name: Annotated[str, typer.Argument(help="The hook's name.")]) -> None:
    """A hook's path, template and task settings."""
    from errand.automation import Hooks, TaskTemplate

    async def work(store: Store) -> HookRecord:
        return await Hooks(store).show(name)

    hook = with_store(work)
    template = TaskTemplate.from_json(hook.request)
    console.print(f"{hook.name}: POST /hooks/{hook.name}", markup=False)
    console.print(f"  prompt template: {hook.prompt_template}", markup=False)
    folders = ", ".join(f"{f.name}:{f.mode}" for f in template.folders) or "none"
    console.print(
        f"  folders: {folders}; domains: {', '.join(template.allow_domains) or 'none'}; "
        f"model: {template.model or 'default'}",
        markup=False,
    )
    console.print("  the payload reaches the task as an untrusted attachment", markup=False)


@app.command("rotate-secret")
def rotate_secret(name: Annotated[str, typer.Argument(help="The hook's name.")]) -> None:
    """Replace the hook's secret at once; the new one is printed once."""
    from errand.automation import Hooks

    async def work(store: Store) -> NewHook:
        return await Hooks(store).rotate_secret(name)

    _show_secret(with_store(work))


@app.command()
def remove(name: Annotated[str, typer.Argument(help="The hook's name.")]) -> None:
    """Delete the hook; calls to it are refused at once."""
    from errand.automation import Hooks

    async def work(store: Store) -> None:
        await Hooks(store).remove(name)

    with_store(work)
    console.print(f"Removed hook {name}.", markup=False)


def _show_secret(new: NewHook) -> None:
    errors.print(
        f"Hook {new.record.name} answers POST /hooks/{new.record.name}, signed with the "
        "Standard Webhooks scheme. Its secret is shown only once:",
        markup=False,
    )
    typer.echo(new.secret)
