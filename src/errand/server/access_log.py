"""The access log never holds a secret that a client put in a URL.

Errand's own clients send credentials only in headers, but a client that misuses the API
(``?token=...``), a pasted pairing link (``/pair?v1.<secret>``) or a guessed admin call can
put one in the request target, and uvicorn's access log writes that target as it came. This
filter rewrites the logged target before any handler sees it: the query string of a refused
request (status 400 or more), of a pairing or admin path, or with a parameter whose name looks
like a credential is replaced by ``?[redacted]``. Other requests keep their query (``?limit=20``
helps when reading a log).
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_SENSITIVE_PATHS = ("/pair", "/api/v1/pair", "/api/v1/admin")
_SECRET_NAMES = re.compile(r"(^|[&;])[^=&;]*(token|secret|key|auth|pass|code|sig|bearer)", re.I)


def redact_target(target: str, status: int) -> str:
    """``target`` as it may be logged for a response with ``status``."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    sensitive = status >= 400 or path.startswith(_SENSITIVE_PATHS) or "=" not in query
    if sensitive or _SECRET_NAMES.search(query):
        return f"{path}?{REDACTED}"
    return target


class RedactQueryStrings(logging.Filter):
    """For uvicorn's access logger, whose records carry ``(client, method, target, http
    version, status)`` as their arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            client, method, target, version, status = args
            if isinstance(target, str) and isinstance(status, int):
                record.args = (client, method, redact_target(target, status), version, status)
        return True


def install() -> None:
    """Attach the filter to uvicorn's access logger (once)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryStrings) for f in logger.filters):
        logger.addFilter(RedactQueryStrings())
