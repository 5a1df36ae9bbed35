"""Which devices have the app open and in front right now.

The app tells the gateway when it becomes visible or hidden (and repeats "visible" while it
stays so); a claim lasts ``ttl`` seconds, so an app that vanished without saying so (a
killed browser, lost signal) gets pushes again soon. Kept in memory: after a restart every
device counts as away, which errs toward telling the user.
"""

from __future__ import annotations

import time
from collections.abc import Callable

VISIBLE_FOR_S = 45.0
MAX_DEVICES = 1000


class Presence:
    def __init__(
        self, *, ttl: float = VISIBLE_FOR_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._clock = clock
        self._until: dict[str, float] = {}

    def mark(self, device_id: str, *, visible: bool) -> None:
        if not visible:
            self._until.pop(device_id, None)
            return
        if len(self._until) >= MAX_DEVICES and device_id not in self._until:
            now = self._clock()
            self._until = {d: t for d, t in self._until.items() if t > now}
            if len(self._until) >= MAX_DEVICES:
                return
        self._until[device_id] = self._clock() + self._ttl

    def visible(self, device_id: str) -> bool:
        until = self._until.get(device_id)
        return until is not None and until > self._clock()
