"""Identifiers for tasks, approvals and questions.

An id is 26 characters of lowercase Crockford base32: 48 bits of milliseconds since the
epoch, then 80 bits that are random for the first id of a millisecond and counted up after
it. Ids are URL-safe, unguessable enough to not leak neighbours, and sort by creation time
within a process, which is what the store's newest-first paging orders by.
"""

from __future__ import annotations

import secrets
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_RANDOM_BITS = 80
_RANDOM_LIMIT = 1 << _RANDOM_BITS

_lock = threading.Lock()
_last_ms = 0
_last_random = 0


def new_id() -> str:
    """Return a fresh id, greater than every id this process returned before."""
    global _last_ms, _last_random
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms, _last_random = now_ms, secrets.randbits(_RANDOM_BITS - 1)
        else:
            # Same millisecond (or the clock stepped back): count up so order still holds.
            _last_random += 1 + secrets.randbits(16)
            if _last_random >= _RANDOM_LIMIT:
                _last_ms, _last_random = _last_ms + 1, 0
        value = (_last_ms << _RANDOM_BITS) | _last_random
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def looks_like_id(text: str) -> bool:
    """True if ``text`` has the shape of an id (callers use it to reject junk early)."""
    return len(text) == 26 and all(char in _ALPHABET for char in text)
