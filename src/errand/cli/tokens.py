"""``errand tokens``: API tokens for scripts and other programs."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from errand.cli import tables
from errand.cli.ids import Candidate, IdProblem, resolve_id

if TYPE_CHECKING:
    from errand.access import IssuedToken
    from errand.store import TokenRecord

app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="What the token is for.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="tasks:read, tasks:write, approvals, devices, schedules, webhooks or maintenance; "
            "repeat for several "
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
    shown = tables.table("id", "name", "scopes", "created", "last used")
    for token in found:
        shown.add_row(
            token.id,
            token.name,
            " ".join(token.scopes),
            token.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            token.last_used_at.astimezone().strftime("%Y-%m-%d %H:%M")
            if token.last_used_at
            else "never",
        )
    tables.console().print(shown)


async def _list() -> list[TokenRecord]:
    from errand.store import AccessStore, open_store

    async with await open_store() as store:
        return await AccessStore(store).list_tokens()


@app.command()
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id or its first characters.")],
) -> None:
    """Revoke a token at once."""
    try:
        revoked = asyncio.run(_revoke(token_id))
    except IdProblem as exc:
        errors.print(f"errand: {exc}", markup=False)
        raise typer.Exit(2) from exc
    console.print(f"Revoked token {revoked}.", markup=False)


async def _revoke(given: str) -> str:
    import time

    from errand.access import now_of
    from errand.store import AccessStore, open_store

    async with await open_store() as store:
        access = AccessStore(store)
        found = await access.list_tokens()
        token_id = resolve_id(given, [Candidate(t.id) for t in found], kind="API token")
        if not await access.revoke_token(token_id, now=now_of(time.time)):
            raise IdProblem(f"no API token {given!r}")
        return token_id
