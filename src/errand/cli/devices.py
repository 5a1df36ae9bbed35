"""``errand devices``: the phones paired with this computer; revoke one or all."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from errand.store.access import DeviceRecord

app = typer.Typer(help="Paired devices: list, revoke.", no_args_is_help=True)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


@app.command("list")
def list_() -> None:
    """Paired devices; one unused for 30 days is shown as expired and no longer works."""
    from errand.access import DEVICE_INACTIVE_AFTER, now_of

    found = asyncio.run(_list())
    if not found:
        console.print("No paired devices. Pair a phone with `errand pair`.", markup=False)
        return
    now = now_of(time.time)
    table = Table("id", "name", "paired", "last seen", "status", box=None)
    for device in found:
        expired = device.is_expired(now, DEVICE_INACTIVE_AFTER)
        table.add_row(
            device.id,
            device.name,
            device.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            device.last_seen_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            "[yellow]expired[/]" if expired else "active",
        )
    console.print(table)


async def _list() -> list[DeviceRecord]:
    from errand.store import AccessStore, open_store

    async with await open_store() as store:
        return await AccessStore(store).list_devices()


@app.command()
def revoke(
    device_id: Annotated[
        str | None, typer.Argument(help="The device's id (from `errand devices list`).")
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
    if not asyncio.run(_revoke(device_id)):
        errors.print(f"errand: no paired device {device_id!r}", markup=False)
        raise typer.Exit(2)
    console.print(f"Revoked device {device_id}.", markup=False)


async def _revoke(device_id: str) -> bool:
    from errand.access import now_of
    from errand.store import AccessStore, open_store

    async with await open_store() as store:
        return await AccessStore(store).revoke_device(device_id, now=now_of(time.time))


async def _revoke_all() -> int:
    from errand.access import now_of
    from errand.store import AccessStore, open_store

    async with await open_store() as store:
        return await AccessStore(store).revoke_all_devices(now=now_of(time.time))
