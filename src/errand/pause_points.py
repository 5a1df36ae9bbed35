"""Named points where a crash test can freeze Errand, to kill it exactly there.

Crash safety is tested by ``kill -9`` at the moments that matter (between a reply and its
record, inside the commit that ends a task, while a tool runs). With
``ERRAND_TEST_PAUSE_AT=<point>`` and ``ERRAND_TEST_PAUSE_MARKER=<file>`` set, the process
that reaches that point writes its pid to the marker file and then blocks (its whole event
loop with it) until a signal ends it; the test waits for the file, never for a time. Unset,
as always outside tests, :func:`pause_at` costs one environment lookup.

Points: ``complete-task`` (inside the store's commit of a task's final answer and status,
after the answer is written and before the commit), ``final-answer`` (the final answer
received from the model, nothing of it stored yet), ``completed`` (just after that commit).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

PAUSE_AT_ENV = "ERRAND_TEST_PAUSE_AT"
PAUSE_MARKER_ENV = "ERRAND_TEST_PAUSE_MARKER"


def pause_at(point: str) -> None:
    """Block this process forever if a test asked to pause at ``point``; else return."""
    if os.environ.get(PAUSE_AT_ENV) != point:
        return
    marker = os.environ.get(PAUSE_MARKER_ENV)
    if marker:
        Path(marker).write_text(str(os.getpid()), encoding="utf-8")
    while True:  # only a signal (the test's kill -9) ends the wait
        signal.pause()
