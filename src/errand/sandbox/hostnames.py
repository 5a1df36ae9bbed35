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
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Characters that never belong in a hostname and that parsers disagree about.
_FORBIDDEN = set("%@/\\?#[]:,;\"'<>`{}|^~=+&$!*() ")
# Public suffixes with two labels that `*.` must not cover whole.
_MULTI_LABEL_SUFFIXES = frozenset(
    {"co.uk", "org.uk", "ac.uk", "gov.uk", "com.au", "net.au", "org.au", "co.jp", "ne.jp",
     "or.jp", "com.br", "com.cn", "com.mx", "co.nz", "co.in", "co.za", "com.tr", "github.io",
     "herokuapp.com", "appspot.com", "cloudfront.net", "amazonaws.com", "azurewebsites.net",
     "blogspot.com", "pages.dev", "workers.dev", "vercel.app", "netlify.app", "fly.dev"}
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
        if not _LABEL.match(label):
            raise HostnameError(f"host name {name!r} has an invalid label {label!r}")
    if labels[-1].isdigit():
        # All-numeric last labels are how 2130706433 or 0177.0.0.1 smuggle addresses.
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
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def is_ip_literal(host: str) -> bool:
    """Whether a normalised host is an IP address rather than a name."""
    return _try_ip(host) is not None


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
