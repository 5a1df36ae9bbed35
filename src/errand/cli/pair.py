"""``errand pair``: a fresh pairing code from the running ``errand serve``.

Pairing is never open without a local action: this command is one. It asks the running
server over loopback (see :mod:`errand.cli.admin`) for a new code; the server keeps the
code's rules (one claim, five minutes, confirmation by the owner) and withdraws every claim
still waiting for confirmation, so only the new code can pair a phone.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer


def pair(
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"link", "expires_at"} instead of a QR code.')
    ] = False,
) -> None:
    """Show a QR code (and link) that pairs a phone with this computer."""
    from errand.cli.admin import admin_call
    from errand.cli.serve import show_pairing

    answer = admin_call("POST", "pairing-codes")
    link, expires_at = str(answer["link"]), str(answer["expires_at"])
    if as_json:
        typer.echo(json.dumps({"link": link, "expires_at": expires_at}))
        return
    show_pairing(link, expires_at)
