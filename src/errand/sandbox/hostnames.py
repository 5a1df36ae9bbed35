"""Hostname normalisation and domain patterns for the egress policy.

Every name is normalised the same way before it is matched, so that tricks such as case,
a trailing dot or Unicode spellings get the verdict of the plain name. Anything that is not
cleanly a hostname is refused rather than guessed at.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

MAX_NAME_LENGTH = 253
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# A last label that URL parsers and inet_aton read as a number: 2130706433, 0177.1, 0x7f.1.
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
_PORT = re.compile(r"[0-9]{1,5}")
# Characters that never belong in a hostname and that parsers disagree about.
_FORBIDDEN = set("%@/\\?#[]:,;\"'<>`{}|^~=+&$!*() ")
# Public suffixes with two labels that `*.` must not cover whole.
_MULTI_LABEL_SUFFIXES = frozenset(
    {
        "co.uk",
        "org.uk",
        "ac.uk",
        "gov.uk",
        "com.au",
        "net.au",
        "org.au",
        "co.jp",
        "ne.jp",
        "or.jp",
        "com.br",
        "com.cn",
        "com.mx",
        "co.nz",
        "co.in",
        "co.za",
        "com.tr",
        "github.io",
        "herokuapp.com",
        "appspot.com",
        "cloudfront.net",
        "amazonaws.com",
        "azurewebsites.net",
        "blogspot.com",
        "pages.dev",
        "workers.dev",
        "vercel.app",
        "netlify.app",
        "fly.dev",
    }
)


class HostnameError(ValueError):
    """A name that is not a clean hostname or an acceptable domain pattern."""


def normalize_host(name: str) -> str:
    """Return the canonical form of a hostname or IP literal.

    Lowercases, strips one trailing dot, converts Unicode labels to punycode (IDNA), and
    canonicalises IP literals (``[::1]`` becomes ``::1``; IPv4-mapped IPv6 becomes IPv4).

    Raises:
        HostnameError: NUL, control characters, whitespace, ``%``, ``@``, ``/``, ``\\``, an
            empty or over-long name, a bad label, or anything else that does not parse cleanly.
    """
    if not name:
        raise HostnameError("empty host name")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in name):
        raise HostnameError("host name contains control characters or whitespace")
    if name.startswith("[") and name.endswith("]"):
        return _normalize_ip(name[1:-1], bracketed=True)
    literal = _try_ip(name)
    if literal is not None:
        return literal
    if any(ch in _FORBIDDEN for ch in name):
        raise HostnameError(f"host name {name!r} contains a character not allowed in a host name")
    if name.endswith("."):
        name = name[:-1]
    if not name or name.endswith("."):
        raise HostnameError("host name has an empty label")
    try:
        ascii_name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError as exc:
        raise HostnameError(f"host name {name!r} is not a valid internationalised name") from exc
    ascii_name = ascii_name.lower()
    if len(ascii_name) > MAX_NAME_LENGTH:
        raise HostnameError("host name is longer than 253 characters")
    labels = ascii_name.split(".")
    for label in labels:
        if not _LABEL.fullmatch(label):
            raise HostnameError(f"host name {name!r} has an invalid label {label!r}")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # Numeric last labels are how 2130706433, 0177.0.0.1 or 0x7f.1 smuggle addresses past
        # a name check: resolvers read them as IPv4 addresses.
        raise HostnameError(f"host name {name!r} looks like a numeric address")
    return ascii_name


def _try_ip(text: str) -> str | None:
    try:
        return _normalize_ip(text, bracketed=False)
    except HostnameError:
        return None


def _normalize_ip(text: str, *, bracketed: bool) -> str:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError as exc:
        raise HostnameError(f"{text!r} is not an IP address") from exc
    if bracketed and addr.version != 6:
        raise HostnameError("only IPv6 addresses go in brackets")
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id is not None:
        raise HostnameError(f"{text!r} names an interface zone; zones are not accepted")
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def is_ip_literal(host: str) -> bool:
    """Whether a normalised host is an IP address rather than a name."""
    return _try_ip(host) is not None


@dataclass(frozen=True, slots=True)
class Authority:
    """A normalised ``host:port`` pair, as parsed by :func:`parse_authority`."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_authority(text: str, *, default_port: int | None = None) -> Authority:
    """Parse ``host[:port]`` or ``[ipv6][:port]`` strictly, with the host normalised.

    The port, when present, is 1–65535 written in decimal digits only; without one,
    ``default_port`` applies. An unbracketed IPv6 address is refused, as its colons cannot be
    told apart from a port.

    Raises:
        HostnameError: ``user@host``, a second ``:``, an empty or non-decimal or out-of-range
            port, a missing port without a default, or a host :func:`normalize_host` refuses.
    """
    if "@" in text:
        raise HostnameError(f"{text!r}: user@host is not accepted; name the host alone")
    port_text: str | None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise HostnameError(f"{text!r}: unclosed '[' in the address")
        host_text, rest = text[: end + 1], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise HostnameError(f"{text!r}: unexpected text after the bracketed address")
        port_text = rest[1:] if rest else None
    else:
        host_text, sep, tail = text.partition(":")
        if ":" in tail:
            raise HostnameError(f"{text!r}: more than one ':' (IPv6 addresses go in brackets)")
        port_text = tail if sep else None
    if port_text is None:
        if default_port is None:
            raise HostnameError(f"{text!r} has no port")
        port = default_port
    else:
        port = parse_port(port_text)
    return Authority(host=normalize_host(host_text), port=port)


def parse_port(text: str) -> int:
    """Parse a TCP port written as 1–5 ASCII decimal digits, 1–65535.

    Raises:
        HostnameError: anything else (signs, spaces, hex, Unicode digits, 0, over 65535).
    """
    if not _PORT.fullmatch(text):
        raise HostnameError(f"port {text!r} is not a decimal number")
    port = int(text)
    if not 1 <= port <= 65535:
        raise HostnameError(f"port {port} is outside 1-65535")
    return port


@dataclass(frozen=True, slots=True)
class DomainPattern:
    """``example.com`` (that name only) or ``*.example.com`` (subdomains only, any depth)."""

    suffix: str
    wildcard: bool

    def matches(self, host: str) -> bool:
        """Whether an already normalised host falls under this pattern."""
        if self.wildcard:
            return host.endswith("." + self.suffix)
        return host == self.suffix

    def __str__(self) -> str:
        return f"*.{self.suffix}" if self.wildcard else self.suffix


def parse_domain_pattern(text: str) -> DomainPattern:
    """Parse a domain from a policy.

    Raises:
        HostnameError: ``*``, ``*.com``, a wildcard anywhere but the first label, an IP
            literal (use a CIDR instead), or an invalid name.
    """
    raw = text.strip()
    wildcard = raw.startswith("*.")
    body = raw[2:] if wildcard else raw
    if "*" in body:
        raise HostnameError(f"{text!r}: a wildcard is only allowed as a leading '*.'")
    suffix = normalize_host(body)
    if is_ip_literal(suffix):
        raise HostnameError(f"{text!r} is an IP address; allow its range with --allow-cidr")
    if wildcard and ("." not in suffix or suffix in _MULTI_LABEL_SUFFIXES):
        raise HostnameError(f"{text!r} would match a whole public suffix; name a domain")
    return DomainPattern(suffix=suffix, wildcard=wildcard)
