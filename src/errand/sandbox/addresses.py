"""Which IP addresses the egress proxy may connect to.

The proxy decides by name first; this module then judges the address a name resolved to (or an
IP literal). Some addresses are never reachable, whatever the policy says: unspecified,
loopback, link-local, multicast, broadcast and the reserved IPv4 block, cloud metadata
services, and this computer's own addresses. Private and other special-purpose ranges (RFC 1918,
shared 100.64/10, unique-local fc00::/7, documentation ranges ...) are reachable only inside a
range the user allowed. IPv4-mapped IPv6 is judged as the IPv4 address it carries, and the IPv4
addresses embedded in NAT64, 6to4 and Teredo addresses are judged too.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_log = logging.getLogger(__name__)

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(text)
    for text in (
        "169.254.169.254",  # the common one: most clouds and OpenStack
        "169.254.170.2",  # container credentials endpoint
        "169.254.169.123",  # time service next to the metadata endpoint
        "100.100.100.200",  # a cloud's metadata endpoint in the shared 100.64/10 range
        "168.63.129.16",  # a cloud's host agent endpoint, a public address
        "192.0.0.192",  # an older metadata endpoint in the IETF protocol block
        "fd00:ec2::254",  # IPv6 metadata endpoints, in unique-local space
        "fd00:ec2::123",
        "fd20:ce::254",
    )
)

_ALWAYS_REFUSED_V4 = (
    (ipaddress.IPv4Network("0.0.0.0/8"), "an unspecified address"),
    (ipaddress.IPv4Network("240.0.0.0/4"), "a reserved address"),
)
_PRIVATE_RANGES: tuple[tuple[IPNetwork, str], ...] = (
    (ipaddress.IPv4Network("10.0.0.0/8"), "a private address"),
    (ipaddress.IPv4Network("172.16.0.0/12"), "a private address"),
    (ipaddress.IPv4Network("192.168.0.0/16"), "a private address"),
    (ipaddress.IPv4Network("100.64.0.0/10"), "a shared (carrier-grade NAT) address"),
    (ipaddress.IPv6Network("fc00::/7"), "a private (unique local) address"),
)
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def canonical_address(address: IPAddress) -> IPAddress:
    """The address itself, or the IPv4 address an IPv4-mapped IPv6 address carries."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def refusal_reason(
    address: IPAddress,
    *,
    allow_cidrs: Iterable[IPNetwork] = (),
    own_addresses: frozenset[IPAddress] = frozenset(),
) -> str | None:
    """Why the proxy must not connect to ``address``, or None when it may.

    The reason is a phrase such as ``"a loopback address"`` that completes a sentence like
    "evil.test resolves to 127.0.0.1, a loopback address".
    """
    address = canonical_address(address)
    views = [address, *_embedded_ipv4(address)]
    for view in views:
        reason = _always_refused(view, own_addresses)
        if reason is not None:
            return reason
    if any(address.version == net.version and address in net for net in allow_cidrs):
        return None
    for view in views:
        reason = _private_reason(view)
        if reason is not None:
            return reason
    return None


def _always_refused(address: IPAddress, own_addresses: frozenset[IPAddress]) -> str | None:
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address):
        if address == ipaddress.IPv4Address("255.255.255.255"):
            return "a broadcast address"
        for net, reason in _ALWAYS_REFUSED_V4:
            if address in net:
                return reason
    if address in own_addresses:
        return "one of this computer's own addresses"
    return None


def _private_reason(address: IPAddress) -> str | None:
    for net, reason in _PRIVATE_RANGES:
        if address.version == net.version and address in net:
            return reason
    if not address.is_global:
        return "a special-purpose address"
    return None


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses that an IPv6 address routes to through a translation mechanism."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if any(address in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


class HostAddresses:
    """This computer's own addresses, re-read at most every ``ttl`` seconds.

    On Linux they come from ``/proc/net/fib_trie`` (local IPv4 routes) and
    ``/proc/net/if_inet6``; elsewhere from resolving the host's own name. Addresses change
    (a VPN comes up, DHCP renews), so the set is refreshed rather than read once.
    """

    def __init__(
        self,
        *,
        ttl: float = 1.0,
        proc: Path = Path("/proc/net"),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._proc = proc
        self._clock = clock
        self._cached: frozenset[IPAddress] = frozenset()
        self._read_at: float | None = None

    def current(self) -> frozenset[IPAddress]:
        """The addresses as of at most ``ttl`` seconds ago."""
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self._ttl:
            self._cached = self._read()
            self._read_at = now
        return self._cached

    def _read(self) -> frozenset[IPAddress]:
        found: set[IPAddress] = set()
        try:
            found.update(parse_fib_trie(self._read_text("fib_trie")))
            found.update(parse_if_inet6(self._read_text("if_inet6")))
        except OSError:
            found.update(_addresses_of_own_name())
        return frozenset(found)

    def _read_text(self, name: str) -> str:
        return (self._proc / name).read_text(encoding="ascii", errors="replace")


def parse_fib_trie(text: str) -> set[ipaddress.IPv4Address]:
    """Local IPv4 addresses from ``/proc/net/fib_trie``: leaves marked ``/32 host LOCAL``."""
    found: set[ipaddress.IPv4Address] = set()
    leaf: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            leaf = stripped[3:].strip()
        elif leaf is not None and stripped.startswith("/32 host LOCAL"):
            try:
                found.add(ipaddress.IPv4Address(leaf))
            except ValueError:
                _log.debug("unreadable fib_trie leaf %r", leaf)
    return found


def parse_if_inet6(text: str) -> set[ipaddress.IPv6Address]:
    """Interface IPv6 addresses from ``/proc/net/if_inet6`` (first column, 32 hex digits)."""
    found: set[ipaddress.IPv6Address] = set()
    for line in text.splitlines():
        fields = line.split()
        if fields and len(fields[0]) == 32:
            try:
                found.add(ipaddress.IPv6Address(int(fields[0], 16)))
            except ValueError:
                _log.debug("unreadable if_inet6 line %r", line)
    return found


def _addresses_of_own_name() -> set[IPAddress]:
    found: set[IPAddress] = set()
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_STREAM)
    except OSError:
        return found
    for info in infos:
        try:
            found.add(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except ValueError:
            continue
    return found
