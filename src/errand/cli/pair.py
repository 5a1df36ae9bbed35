"""``errand pair``: a fresh pairing code from the running ``errand serve``.

Pairing is never open without a local action: this command is one. It reads the address
and admin secret that ``errand serve`` wrote (owner-only) to ``server.json`` and asks the
server, over loopback, for a new code; the server keeps the code's rules (one claim, five
minutes, confirmation in the terminal where it runs).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from errand.config import data_dir

err = Console(stderr=True, highlight=False, soft_wrap=True)

NOT_RUNNING = (
    "errand serve is not running on this computer: start it (it shows a pairing code at "
    "start-up), then run errand pair for another code."
)


def pair(
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"link", "expires_at"} instead of a QR code.')
    ] = False,
) -> None:
    """Show a QR code (and link) that pairs a phone with this computer."""
    import httpx

    from errand.cli.serve import show_pairing
    from errand.server.instance import SERVER_FILE

    try:
        with (data_dir() / SERVER_FILE).open(encoding="utf-8") as fh:
            server = json.load(fh)
        url, secret = str(server["url"]), str(server["admin_secret"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        err.print(f"errand: {NOT_RUNNING}", markup=False)
        raise typer.Exit(1) from exc
    try:
        response = httpx.post(
            f"{url}/api/v1/admin/pairing-codes",
            headers={"X-Errand-Admin": secret},
            timeout=10.0,
            trust_env=False,
        )
    except httpx.HTTPError as exc:
        err.print(f"errand: {NOT_RUNNING}", markup=False)
        raise typer.Exit(1) from exc
    if response.status_code != 200:
        message = _error_message(response.text)
        err.print(f"errand: the server refused to make a code: {message}", markup=False)
        raise typer.Exit(1)
    answer = response.json()
    link, expires_at = str(answer["link"]), str(answer["expires_at"])
    if as_json:
        typer.echo(json.dumps({"link": link, "expires_at": expires_at}))
        return
    show_pairing(link, expires_at)


def _error_message(body: str) -> str:
    try:
        return str(json.loads(body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return body[:200]
