"""``errand devices``: the phones paired with this computer; revoke one or all."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from errand.cli import tables
from errand.cli.ids import Candidate, IdProblem, resolve_id

if TYPE_CHECKING:
    from errand.store import DeviceRecord

app = typer.Typer(help="Paired devices: list, revoke.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print the devices as JSON.")] = False,
) -> None:
    """Paired devices; one unused for 30 days is shown as expired and no longer works."""
    from errand.access import DEVICE_INACTIVE_AFTER, now_of

    found = asyncio.run(_list())
    now = now_of(time.time)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": device.id,
                        "name": device.name,
                        "paired_at": device.created_at.isoformat(),
                        "last_seen_at": device.last_seen_at.isoformat(),
                        "status": "expired"
                        if device.is_expired(now, DEVICE_INACTIVE_AFTER)
                        else "active",
                    }
                    for device in found
                ]
            )
        )
        return
    if not found:
        console.print("No paired devices. Pair a phone with `errand pair`.", markup=False)
        return
    shown = tables.table("id", "name", "paired", "last seen", "status")
    for device in found:
        expired = device.is_expired(now, DEVICE_INACTIVE_AFTER)
        shown.add_row(
            device.id,
            device.name,
            device.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            device.last_seen_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            "[yellow]expired[/]" if expired else "active",
        )
    tables.console().print(shown)


async def _list() -> list[DeviceRecord]:
    from errand.store import AccessStore, open_store

    async with await open_store() as store:
        return await AccessStore(store).list_devices()


@app.command()
def revoke(
    device_id: Annotated[
        str | None,
        typer.Argument(help="The device's id, its first characters, or its name."),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Revoke every device and close open pairing codes.")
    ] = False,
) -> None:
    """Revoke a device at once: its next request fails and its open streams close."""
    if (device_id is None) == (not all_):
        errors.print("errand: give a device id or --all (not both)", markup=False)
        raise typer.Exit(2)
    if all_:
        count = asyncio.run(_revoke_all())
        console.print(f"Revoked {count} device(s); pair again with `errand pair`.", markup=False)
        return
    assert device_id is not None
    try:
        revoked = asyncio.run(_revoke(device_id))
    except IdProblem as exc:
        errors.print(f"errand: {exc}", markup=False)
        raise typer.Exit(2) from exc
    console.print(f"Revoked device {revoked}.", markup=False)


async def _revoke(given: str) -> str:
    from errand.access import now_of
    from errand.store import AccessStore, open_store

    async with await open_store() as store:
        access = AccessStore(store)
        devices = await access.list_devices()
        device_id = resolve_id(
            given, [Candidate(d.id, d.name) for d in devices], kind="paired device"
        )
        if not await access.revoke_device(device_id, now=now_of(time.time)):
            raise IdProblem(f"no paired device {given!r}")
        return device_id


async def _revoke_all() -> int:
    from errand.access import now_of
    from errand.store import AccessStore, open_store

    async with await open_store() as store:
        return await AccessStore(store).revoke_all_devices(now=now_of(time.time))


@app.command("pending")
def pending() -> None:
    """Phones waiting for you to confirm their pairing (approve with `errand devices approve`)."""
    from errand.cli.admin import admin_call

    waiting = admin_call("GET", "pairings")["pairings"]
    if not waiting:
        console.print("No phone is waiting to pair. Make a code with `errand pair`.", markup=False)
        return
    for claim in waiting:
        console.print(f'"{claim["device_name"]}" from {claim["client"]}', markup=False)
    console.print(
        "Approve one with `errand devices approve NUMBER`, NUMBER being what its screen shows.",
        markup=False,
    )


@app.command("approve")
def approve(
    number: Annotated[str, typer.Argument(help="The six digits the phone shows.")],
    refuse: Annotated[
        bool, typer.Option("--refuse", help="Refuse this phone instead of pairing it.")
    ] = False,
) -> None:
    """Pair the waiting phone that shows NUMBER (works where `errand serve` has no terminal)."""
    from errand.cli.admin import admin_call

    decided = admin_call("POST", "pairings/decide", {"confirmation": number, "approve": not refuse})
    verb = "Refused" if refuse else "Paired"
    console.print(f'{verb} "{decided["device_name"]}" (from {decided["client"]}).', markup=False)
