"""Outbound webhooks: endpoints the owner adds, and the checks on where they point.

Delivering is the :class:`~errand.automation.outbox.Deliverer`'s job; this module manages
endpoints (add, list, test, deliveries, remove). An endpoint whose name resolves to a
private, loopback or otherwise special address is refused unless added with
``allow_private``, and the deliverer checks again, on the address it connects to, at every
attempt (a name that later resolves elsewhere gains nothing).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from errand.automation.hooks import new_secret
from errand.automation.schedules import AutomationError
from errand.automation.timing import Clock, system_clock
from errand.sandbox import refusal_reason
from errand.store import (
    EVENT_NAMES,
    AttemptRecord,
    AutomationStore,
    DeliveryRecord,
    EndpointRecord,
    Store,
)

SUBSCRIBABLE = tuple(sorted(EVENT_NAMES - {"webhook.test"}))
MAX_URL = 2000

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


@dataclass(frozen=True, slots=True)
class NewEndpoint:
    """A created endpoint and its signing secret, which is shown this once."""

    record: EndpointRecord
    secret: str = field(repr=False)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal is itself).

    Raises:
        OSError: the name does not resolve.
    """
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in found:
            found.append(address)
    return found


def check_address(host: str, address: IPAddress, *, allow_private: bool) -> str | None:
    """Why Errand must not deliver to ``address``, or None when it may."""
    if allow_private:
        return None
    reason = refusal_reason(address)
    if reason is None:
        return None
    return f"{host} resolves to {address}, {reason}; add it with --allow-private if you mean it"


def split_url(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of an endpoint URL.

    Raises:
        AutomationError: ``invalid_webhook`` for anything but an http(s) URL with a host.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL:
        raise AutomationError("invalid_webhook", f"{url!r} is not an http:// or https:// URL")
    if parts.username or parts.password:
        raise AutomationError("invalid_webhook", "put no user name or password in the URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise AutomationError("invalid_webhook", f"{url!r} has an invalid port") from exc
    return parts.scheme, parts.hostname, port


class Webhooks:
    """The owner's outbound webhook endpoints."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = system_clock,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self._store = AutomationStore(store)
        self._clock = clock
        self._wake = wake or (lambda: None)

    async def add(
        self,
        url: str,
        events: Sequence[str],
        *,
        schedule: str | None = None,
        allow_private: bool = False,
    ) -> NewEndpoint:
        """Add an endpoint for ``events`` (of one schedule's runs, if named).

        Raises:
            AutomationError: ``invalid_webhook`` (URL, events, a private address without
                ``allow_private``, a name that does not resolve) or ``schedule_not_found``.
        """
        _, host, port = split_url(url)
        chosen = [e.strip() for e in events if e.strip()]
        unknown = [e for e in chosen if e not in SUBSCRIBABLE]
        if not chosen or unknown:
            raise AutomationError(
                "invalid_webhook",
                f"choose events among {', '.join(SUBSCRIBABLE)}"
                + (f" (not {', '.join(unknown)})" if unknown else ""),
            )
        schedule_id = None
        if schedule is not None:
            found = await self._store.get_schedule(schedule)
            if found is None:
                raise AutomationError("schedule_not_found", f"no schedule is named {schedule!r}")
            schedule_id = found.id
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise AutomationError("invalid_webhook", f"{host} does not resolve: {exc}") from exc
        for address in addresses:
            reason = check_address(host, address, allow_private=allow_private)
            if reason is not None:
                raise AutomationError("invalid_webhook", reason)
        secret = new_secret()
        record = await self._store.add_endpoint(
            url,
            events=list(dict.fromkeys(chosen)),
            schedule_id=schedule_id,
            allow_private=allow_private,
            secret=secret,
            now=self._clock(),
        )
        return NewEndpoint(record, secret)

    async def list_all(self) -> list[EndpointRecord]:
        return await self._store.list_endpoints()

    async def get(self, endpoint_id: str) -> EndpointRecord:
        """Raises ``AutomationError`` (``webhook_not_found``)."""
        found = await self._store.get_endpoint(endpoint_id)
        if found is None:
            raise AutomationError("webhook_not_found", f"no webhook has the id {endpoint_id!r}")
        return found

    async def test(self, endpoint_id: str) -> DeliveryRecord:
        """Queue a ``webhook.test`` delivery to the endpoint and wake the deliverer.

        Raises:
            AutomationError: ``webhook_not_found``, or ``webhook_disabled``.
        """
        endpoint = await self.get(endpoint_id)
        delivery = await self._store.enqueue_test(endpoint.id, now=self._clock())
        if delivery is None:
            raise AutomationError(
                "webhook_disabled",
                f"this webhook is disabled ({endpoint.disabled_reason}); add it again",
            )
        self._wake()
        return delivery

    async def deliveries(
        self, endpoint_id: str, *, limit: int = 50
    ) -> list[tuple[DeliveryRecord, list[AttemptRecord]]]:
        """The endpoint's newest deliveries, each with every attempt (status, latency)."""
        endpoint = await self.get(endpoint_id)
        return await self._store.deliveries_of(endpoint.id, limit=limit)

    async def remove(self, endpoint_id: str) -> None:
        endpoint = await self.get(endpoint_id)
        await self._store.remove_endpoint(endpoint.id)
