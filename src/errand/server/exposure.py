"""How phones reach the gateway: the bind address, the names it answers to, the QR's base URL.

PAIRING.md "Reaching the computer": 127.0.0.1 unless the user opts into one exposure —
``--tailscale`` (``tailscale serve`` in front of the local port), ``--public-url`` (the
user's own HTTPS tunnel or proxy in front of it) or ``--lan`` (plain HTTP on the LAN
address, with a warning). Whatever the mode, the gateway answers only to the names listed
here (``Host`` checks) and accepts browser requests only from these origins.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
from dataclasses import dataclass
from urllib.parse import urlsplit

from errand.server.security import host_names

LAN_WARNING = (
    "LAN mode serves plain HTTP: anyone on this network could read the traffic between "
    "your phone and this computer. Prefer --tailscale where you can."
)
TAILSCALE_MISSING = (
    "--tailscale needs the tailscale command: install Tailscale on this computer and on "
    "your phone, sign both in to the same tailnet (`tailscale up`), then run "
    "`errand serve --tailscale` again."
)
_TAILSCALE_SECONDS = 15.0


class ExposureError(Exception):
    """The chosen exposure cannot be set up; the message says what to do."""


@dataclass(frozen=True)
class Exposure:
    """Where the gateway listens and the names and origins it accepts."""

    mode: str  # "local", "lan", "public" or "tailscale"
    bind_host: str
    base_url: str
    allowed_hosts: frozenset[str]
    app_origins: frozenset[str]
    admin_hosts: frozenset[str]
    warnings: tuple[str, ...] = ()

    @property
    def exposed(self) -> bool:
        return self.mode != "local"


def plan(
    *,
    host: str,
    port: int,
    lan: bool = False,
    public_url: str | None = None,
    tailscale_name: str | None = None,
) -> Exposure:
    """The exposure for a gateway bound to ``host:port`` (the real port, after binding).

    ``tailscale_name`` is this computer's tailnet name once ``tailscale serve`` runs.

    Raises:
        ExposureError: a malformed ``public_url``, or no LAN address for ``lan``.
    """
    local = host_names("127.0.0.1", port) | host_names("localhost", port)
    if host not in ("127.0.0.1", "localhost", "0.0.0.0", "::", "::1"):
        local |= host_names(host, port)
    hosts, origins = set(local), {f"http://{h}" for h in local}
    warnings: list[str] = []
    mode, base_url = "local", f"http://127.0.0.1:{port}"
    if lan:
        address = lan_address()
        if address is None:
            raise ExposureError("no LAN address found: is this computer on a network?")
        lan_hosts = host_names(address, port)
        hosts |= lan_hosts
        origins |= {f"http://{h}" for h in lan_hosts}
        mode, base_url = "lan", f"http://{address}:{port}"
        warnings.append(LAN_WARNING)
    if tailscale_name:
        mode, base_url = "tailscale", f"https://{tailscale_name}"
        hosts |= host_names(tailscale_name, 443)
        origins.add(base_url)
    if public_url:
        mode, base_url = "public", public_url.rstrip("/")
        name, public_port, origin = _public(public_url)
        hosts |= host_names(name, public_port)
        origins.add(origin)
    return Exposure(
        mode=mode,
        bind_host=host,
        base_url=base_url,
        allowed_hosts=frozenset(hosts),
        app_origins=frozenset(origins),
        admin_hosts=frozenset(local),
        warnings=tuple(warnings),
    )


def bind_host_for(host: str | None, *, lan: bool) -> str:
    """Loopback unless the user named a host, or all interfaces for ``--lan``."""
    if host:
        return host
    return "0.0.0.0" if lan else "127.0.0.1"


def lan_address() -> str | None:
    """This computer's address on its LAN: the source address of its default route.

    A UDP ``connect`` only picks a route; no packet is sent.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
            address: str = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith(("127.", "0.")) else address


def start_tailscale_serve(port: int) -> str:
    """Put ``tailscale serve`` (HTTPS on the tailnet only) in front of 127.0.0.1:``port``
    and return this computer's tailnet name.

    Raises:
        ExposureError: no ``tailscale`` command, or it failed (its message is included).
    """
    binary = shutil.which("tailscale")
    if binary is None:
        raise ExposureError(TAILSCALE_MISSING)
    try:
        status = subprocess.run(
            [binary, "status", "--json"],
            capture_output=True,
            text=True,
            timeout=_TAILSCALE_SECONDS,
            check=True,
        )
        name = str(json.loads(status.stdout)["Self"]["DNSName"]).rstrip(".")
        subprocess.run(
            [binary, "serve", "--bg", "--https=443", f"http://127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=_TAILSCALE_SECONDS,
            check=True,
        )
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        raise ExposureError(f"tailscale serve could not start: {str(detail).strip()}") from exc
    if not name:
        raise ExposureError("tailscale reports no name for this computer; run `tailscale up`")
    return name


def stop_tailscale_serve() -> None:
    """Undo :func:`start_tailscale_serve` (best effort: the gateway is stopping anyway)."""
    binary = shutil.which("tailscale")
    if binary is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                [binary, "serve", "--https=443", "off"],
                capture_output=True,
                timeout=_TAILSCALE_SECONDS,
                check=False,
            )


def _public(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ExposureError(f"--public-url {url!r} must be an http(s) URL such as https://host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ExposureError("--public-url must be the server's root, without a path")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ExposureError(f"--public-url {url!r} has an invalid port") from exc
    default = port == (443 if parts.scheme == "https" else 80)
    netloc = parts.hostname if default else f"{parts.hostname}:{port}"
    return parts.hostname, port, f"{parts.scheme}://{netloc}".lower()
