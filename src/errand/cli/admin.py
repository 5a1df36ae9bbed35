"""Talking to the running ``errand serve`` from another terminal on the same computer.

``errand serve`` writes its loopback address and an admin secret to ``server.json`` in the
data directory (owner-only); the commands that act on the live server (``errand pair``,
``errand devices pending`` and ``approve``) read it and call the admin routes over loopback.
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console

from errand.config import data_dir
from errand.server import SERVER_FILE

err = Console(stderr=True, highlight=False, soft_wrap=True)

NOT_RUNNING = (
    "errand serve is not running on this computer: start it (it shows a pairing code at "
    "start-up), then run this command again."
)


def admin_call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the running server's admin route ``path`` (under ``/api/v1/admin``) and return
    its JSON answer.

    Raises:
        typer.Exit: (after one line on stderr) the server is not running (1), or it refused
            the call (1, with its message).
    """
    import httpx

    try:
        with (data_dir() / SERVER_FILE).open(encoding="utf-8") as fh:
            server = json.load(fh)
        url, secret = str(server["url"]), str(server["admin_secret"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        err.print(f"errand: {NOT_RUNNING}", markup=False)
        raise typer.Exit(1) from exc
    try:
        response = httpx.request(
            method,
            f"{url}/api/v1/admin/{path}",
            headers={"X-Errand-Admin": secret},
            json=body,
            timeout=10.0,
            trust_env=False,
        )
    except httpx.HTTPError as exc:
        err.print(f"errand: {NOT_RUNNING}", markup=False)
        raise typer.Exit(1) from exc
    if response.status_code != 200:
        err.print(f"errand: {_error_message(response.text)}", markup=False)
        raise typer.Exit(1)
    return response.json()


def _error_message(body: str) -> str:
    try:
        return str(json.loads(body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return body[:200]
