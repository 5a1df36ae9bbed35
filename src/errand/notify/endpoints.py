"""Which push endpoints a device may give: https, on a known push service, nothing else.

A subscription's endpoint comes from the phone, so it is untrusted: without this check a
paired device (or whoever stole its token) could make the gateway send requests to any
host, the computer's own network included. Only the push services browsers use are
accepted, over https on the default port, without user info; ``NotifySettings.push_services``
may add exact origins (tests, a private push service).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from errand.notify.settings import origin_of

PUSH_SERVICE_HOSTS: tuple[str, ...] = (
    "fcm.googleapis.com",  # Chrome, Edge on Android, Samsung Internet, Opera
    "android.googleapis.com",
    "updates.push.services.mozilla.com",  # Firefox
    "web.push.apple.com",  # Safari on iOS 16.4+ and macOS
)
PUSH_SERVICE_SUFFIXES: tuple[str, ...] = (
    ".notify.windows.com",  # Edge on Windows (wns2-<region>.notify.windows.com)
    ".push.apple.com",
)
MAX_ENDPOINT = 1000


class EndpointRefused(ValueError):
    """The endpoint is not one Errand sends to; the message says why in one sentence."""


def check_push_endpoint(url: str, *, extra_origins: frozenset[str] = frozenset()) -> str:
    """Return ``url`` if it is a push endpoint Errand may POST to; raise ``EndpointRefused``."""
    if len(url) > MAX_ENDPOINT:
        raise EndpointRefused("The push endpoint is too long.")
    if any(ch.isspace() or ord(ch) < 0x20 or ch == "\\" for ch in url):
        raise EndpointRefused("The push endpoint holds characters a URL cannot.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EndpointRefused("The push endpoint is not a valid URL.") from exc
    host = parts.hostname
    if host is None or parts.username is not None or parts.password is not None:
        raise EndpointRefused("The push endpoint must name a push service host, without a user.")
    if parts.fragment:
        raise EndpointRefused("The push endpoint must not have a fragment.")
    if origin_of(parts.scheme, host, port) in extra_origins:
        return url
    if parts.scheme != "https":
        raise EndpointRefused("The push endpoint must use https.")
    if port not in (None, 443):
        raise EndpointRefused("The push endpoint must use the default https port.")
    if not _known(host):
        raise EndpointRefused(f"{host} is not a push service Errand sends to.")
    return url


def _known(host: str) -> bool:
    host = host.lower()
    if not host.isascii():
        return False
    return host in PUSH_SERVICE_HOSTS or any(
        host.endswith(suffix) and len(host) > len(suffix) for suffix in PUSH_SERVICE_SUFFIXES
    )
