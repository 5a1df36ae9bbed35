"""``errand tokens``: API tokens for scripts and other programs."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from errand.access import IssuedToken
    from errand.store.access import TokenRecord

app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="What the token is for.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="tasks:read, tasks:write, approvals, devices, schedules or webhooks; repeat "
            "for several "
            "(default: all).",
        ),
    ] = None,
) -> None:
    """Make an API token; it is printed once and cannot be shown again."""
    from errand.access import CredentialError

    try:
        issued = asyncio.run(_create(name, scope or []))
    except CredentialError as exc:
        errors.print(f"errand: {exc}", markup=False)
        raise typer.Exit(2) from exc
    errors.print(
        "This token is shown only once; store it now (send it as `Authorization: Bearer ...`).",
        markup=False,
    )
    typer.echo(issued.token)
    errors.print(f"id {issued.record.id}, scopes: {' '.join(issued.record.scopes)}", markup=False)


async def _create(name: str, scopes: list[str]) -> IssuedToken:
    from errand.access import create_token
    from errand.store import open_store

    async with await open_store() as store:
        return await create_token(store, name, scopes)


@app.command("list")
def list_() -> None:
    """API tokens that still work (their secrets are not stored, so never shown)."""
    found = asyncio.run(_list())
    if not found:
        console.print("No API tokens. Make one with `errand tokens create --name NAME`.")
        return
    table = Table("id", "name", "scopes", "created", "last used", box=None)
    for token in found:
        table.add_row(
            token.id,
            token.name,
            " ".join(token.scopes),
            token.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            token.last_used_at.astimezone().strftime("%Y-%m-%d %H:%M")
            if token.last_used_at
            else "never",
        )
    console.print(table)


async def _list() -> list[TokenRecord]:
    from errand.store import AccessStore, open_store

    async with await open_store() as store:
        return await AccessStore(store).list_tokens()


@app.command()
def revoke(token_id: Annotated[str, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token at once."""
    if not asyncio.run(_revoke(token_id)):
        errors.print(f"errand: no API token {token_id!r}", markup=False)
        raise typer.Exit(2)
    console.print(f"Revoked token {token_id}.", markup=False)


async def _revoke(token_id: str) -> bool:
    import time

    from errand.access import now_of
    from errand.store import AccessStore, open_store

    async with await open_store() as store:
        return await AccessStore(store).revoke_token(token_id, now=now_of(time.time))
