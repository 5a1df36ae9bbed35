"""``errand webhooks``: signed notifications to your own endpoints when tasks end."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from errand.cli.automation_common import console, errors, local_time, with_store

if TYPE_CHECKING:
    from errand.automation import NewEndpoint
    from errand.store import AttemptRecord, DeliveryRecord, EndpointRecord, Store

app = typer.Typer(
    help="Outbound webhooks: add, list, test, deliveries, remove.", no_args_is_help=True
)


@app.command()
def add(
    url: Annotated[str, typer.Argument(help="The receiver's http(s) URL.")],
    events: Annotated[
        str,
        typer.Option(
            help="Comma-separated: task.completed, task.failed, task.needs_you, "
            "task.cancelled, schedule.refused."
        ),
    ],
    schedule: Annotated[str | None, typer.Option(help="Only the runs of this schedule.")] = None,
    allow_private: Annotated[
        bool,
        typer.Option("--allow-private", help="Allow a private or loopback address."),
    ] = False,
) -> None:
    """Add an endpoint; its signing secret is printed once."""
    from errand.automation import Webhooks

    async def work(store: Store) -> NewEndpoint:
        return await Webhooks(store).add(
            url, events.split(","), schedule=schedule, allow_private=allow_private
        )

    added = with_store(work)
    errors.print(
        f"Added webhook {added.record.id} for {', '.join(added.record.events)}. Deliveries are "
        "signed with the Standard Webhooks scheme; the secret is shown only once:",
        markup=False,
    )
    typer.echo(added.secret)


@app.command("list")
def list_() -> None:
    """Every endpoint, and whether it is disabled."""
    from errand.automation import Webhooks

    async def work(store: Store) -> list[EndpointRecord]:
        return await Webhooks(store).list_all()

    endpoints = with_store(work)
    if not endpoints:
        console.print("No webhooks. Add one with `errand webhooks add URL --events ...`.")
        return
    table = Table("id", "url", "events", "state", box=None)
    for endpoint in endpoints:
        state = f"disabled: {endpoint.disabled_reason}" if endpoint.disabled_at else "active"
        table.add_row(endpoint.id, endpoint.url, ",".join(endpoint.events), state)
    console.print(table)


@app.command()
def test(endpoint_id: Annotated[str, typer.Argument(help="The webhook's id.")]) -> None:
    """Queue a signed test delivery (`errand serve` sends it; see `deliveries`)."""
    from errand.automation import Webhooks

    async def work(store: Store) -> DeliveryRecord:
        return await Webhooks(store).test(endpoint_id)

    delivery = with_store(work)
    console.print(f"Queued test delivery {delivery.id}.", markup=False)


@app.command()
def deliveries(endpoint_id: Annotated[str, typer.Argument(help="The webhook's id.")]) -> None:
    """Every delivery to the endpoint, each attempt with its status and latency."""
    from errand.automation import Webhooks

    async def work(store: Store) -> list[tuple[DeliveryRecord, list[AttemptRecord]]]:
        return await Webhooks(store).deliveries(endpoint_id)

    found = with_store(work)
    if not found:
        console.print("No deliveries yet.")
        return
    table = Table("delivery", "event", "state", "attempt", "at", "status", "latency", box=None)
    for delivery, attempts in found:
        state = delivery.state.value
        if delivery.next_attempt_at and state == "pending":
            state += f" (next {local_time(delivery.next_attempt_at)})"
        if not attempts:
            table.add_row(delivery.id, delivery.event, state, "-", "-", "-", "-")
        for attempt in attempts:
            table.add_row(
                delivery.id if attempt.number == 1 else "",
                delivery.event if attempt.number == 1 else "",
                state if attempt.number == 1 else "",
                str(attempt.number),
                local_time(attempt.at),
                str(attempt.status_code) if attempt.status_code else (attempt.error or "error"),
                f"{attempt.latency_ms} ms",
            )
    console.print(table)


@app.command()
def remove(endpoint_id: Annotated[str, typer.Argument(help="The webhook's id.")]) -> None:
    """Delete the endpoint and its delivery history."""
    from errand.automation import Webhooks

    async def work(store: Store) -> None:
        await Webhooks(store).remove(endpoint_id)

    with_store(work)
    console.print(f"Removed webhook {endpoint_id}.", markup=False)
