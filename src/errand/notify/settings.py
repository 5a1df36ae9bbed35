"""What ``errand.toml``'s ``[notify]`` table says, checked once.

    [notify]
    contact = "mailto:you@example.com"    # the VAPID subject push services may write to
    ntfy = "https://ntfy.sh/my-errand-topic"
    web_push = true                        # false: no Web Push at all

``contact`` must be a ``mailto:`` address or an ``https:`` URL. Apple's push service drops
pushes whose contact is ``mailto:...@localhost``, so without one Errand uses the gateway's
own ``https`` address when it has one, and says at start-up that iPhones need a contact
otherwise.

``push_services`` adds push service origins a device's subscription may name beyond the
well-known ones (``https://fcm.googleapis.com`` ...). It exists for tests and private push
services; an ``http`` origin is accepted only on a loopback address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

_KEYS = frozenset({"contact", "ntfy", "web_push", "push_services"})


@dataclass(frozen=True)
class NotifySettings:
    """How notifications leave this computer."""

    contact: str | None = None
    ntfy: str | None = None
    web_push: bool = True
    push_services: frozenset[str] = frozenset()
    """Extra push service origins (``scheme://host[:port]``) subscriptions may use."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> NotifySettings:
        """Raises ValueError with one sentence naming the key when ``[notify]`` is wrong."""
        table = config.get("notify", {})
        if not isinstance(table, Mapping):
            raise ValueError("notify must be a table, like [notify]")
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise ValueError(
                f"notify.{unknown[0]} is not a setting (Errand knows {', '.join(sorted(_KEYS))})"
            )
        contact = table.get("contact")
        if contact is not None:
            contact = _contact(contact)
        ntfy = table.get("ntfy")
        if ntfy is not None:
            ntfy = _ntfy_url(ntfy)
        web_push = table.get("web_push", True)
        if not isinstance(web_push, bool):
            raise ValueError("notify.web_push must be true or false")
        services = table.get("push_services", [])
        if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
            raise ValueError(
                'notify.push_services must be a list of origins, like ["https://push.example"]'
            )
        return cls(
            contact=contact,
            ntfy=ntfy,
            web_push=web_push,
            push_services=frozenset(push_service_origin(s) for s in services),
        )

    def contact_for(self, base_url: str) -> str | None:
        """The VAPID subject to sign with: ``contact``, else the gateway's https address."""
        if self.contact is not None:
            return self.contact
        parts = urlsplit(base_url)
        return f"https://{parts.hostname}" if parts.scheme == "https" and parts.hostname else None


def _contact(value: object) -> str:
    if not isinstance(value, str) or not (
        (value.startswith("mailto:") and "@" in value) or value.startswith("https://")
    ):
        raise ValueError(
            "notify.contact must be a mailto: address or an https: URL, "
            'like "mailto:you@example.com"'
        )
    if value.lower().endswith("@localhost"):
        raise ValueError(
            "notify.contact must be a real address: Apple's push service drops pushes "
            "from mailto:...@localhost"
        )
    return value


def _ntfy_url(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError('notify.ntfy must be a topic URL, like "https://ntfy.sh/my-topic"')
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.path.strip("/") == "":
        raise ValueError('notify.ntfy must be a topic URL, like "https://ntfy.sh/my-topic"')
    if parts.username or parts.password:
        raise ValueError("notify.ntfy must not hold a user name or password")
    return value


def push_service_origin(value: str) -> str:
    """``scheme://host[:port]`` in lower case; raises ValueError for anything else."""
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(
            f"notify.push_services: {value!r} is not an origin like https://push.example"
        )
    if parts.path not in ("", "/") or parts.query or parts.username:
        raise ValueError(f"notify.push_services: {value!r} must be only scheme, host and port")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ValueError(f"notify.push_services: {value!r} may use http only on a loopback address")
    return origin_of(parts.scheme, parts.hostname, parts.port)


def origin_of(scheme: str, host: str, port: int | None) -> str:
    default = 443 if scheme == "https" else 80
    literal = f"[{host}]" if ":" in host else host
    return f"{scheme}://{literal.lower()}" + ("" if port in (None, default) else f":{port}")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
