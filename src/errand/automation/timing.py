"""When a schedule runs: cron in its timezone, a fixed interval, or once at a given time.

Cron expressions are evaluated by cronsim in the schedule's own timezone, so "0 8 * * 1-5"
means eight in the morning local time through daylight-saving changes: a time that a spring
change skips runs at the first minute after the gap, a time an autumn change repeats runs
once. Intervals (``--every 2h``) are absolute durations from one occurrence to the next.
All times leave this module as aware UTC datetimes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

Clock = Callable[[], datetime]
"""Returns the current time, aware. The scheduler takes one so tests never wait."""

TimingKind = Literal["cron", "every", "at"]

MIN_INTERVAL = timedelta(minutes=1)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_INTERVAL = re.compile(r"^(?:\d+[smhdw])+$")


def system_clock() -> datetime:
    """The computer's clock, in UTC."""
    return datetime.now(UTC)


class TimingError(ValueError):
    """A schedule's timing cannot be used; the message says how to write it."""


@dataclass(frozen=True, slots=True)
class Timing:
    """A parsed timing. ``spec`` is how it is stored: the cron expression, the interval in
    seconds, or the ISO time (UTC)."""

    kind: TimingKind
    spec: str
    tz: str

    def next_after(self, after: datetime) -> datetime | None:
        """The first occurrence strictly after ``after`` (aware), in UTC; None if none."""
        if self.kind == "every":
            return (after + timedelta(seconds=int(self.spec))).astimezone(UTC)
        if self.kind == "at":
            at = datetime.fromisoformat(self.spec)
            return at if at > after else None
        local = after.astimezone(ZoneInfo(self.tz)).replace(microsecond=0)
        return next(iter(CronSim(self.spec, local))).astimezone(UTC)

    def first(self, now: datetime) -> datetime | None:
        """The first occurrence from ``now`` on (an interval's first run is one interval on)."""
        return self.next_after(now)

    def describe(self) -> str:
        """How the timing reads in listings."""
        if self.kind == "every":
            return f"every {format_interval(int(self.spec))}"
        if self.kind == "at":
            local = datetime.fromisoformat(self.spec).astimezone(ZoneInfo(self.tz))
            return f"once at {local.isoformat(timespec='minutes')}"
        return f"cron {self.spec} ({self.tz})"


def parse_timing(
    *, cron: str | None = None, every: str | None = None, at: str | None = None, tz: str = "UTC"
) -> Timing:
    """Exactly one of ``cron``, ``every`` (``2h``, ``30m``, ``1h30m``) or ``at`` (ISO time,
    local to ``tz`` unless it carries an offset), in the IANA timezone ``tz``.

    Raises:
        TimingError: none or several given, or one is malformed or the timezone unknown.
    """
    given = [name for name, value in (("cron", cron), ("every", every), ("at", at)) if value]
    if len(given) != 1:
        raise TimingError("give exactly one of --cron, --every or --at")
    zone = _zone(tz)
    if cron:
        expression = " ".join(cron.split())
        try:
            CronSim(expression, datetime.now(zone))
        except CronSimError as exc:
            raise TimingError(f"{cron!r} is not a cron expression: {exc}") from exc
        return Timing("cron", expression, tz)
    if every:
        seconds = parse_interval(every)
        return Timing("every", str(seconds), tz)
    assert at is not None
    try:
        when = datetime.fromisoformat(at)
    except ValueError as exc:
        raise TimingError(f"{at!r} is not an ISO date and time, e.g. 2026-12-01T09:00") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return Timing("at", when.astimezone(UTC).isoformat(), tz)


def parse_interval(text: str) -> int:
    """Seconds in an interval such as ``2h`` or ``1h30m`` (at least a minute).

    Raises:
        TimingError: malformed or shorter than a minute.
    """
    compact = text.strip().lower().replace(" ", "")
    if not _INTERVAL.match(compact):
        raise TimingError(f"{text!r} is not an interval; write e.g. 30m, 2h, 1d or 1h30m")
    seconds = sum(
        int(number) * _UNITS[unit] for number, unit in re.findall(r"(\d+)([smhdw])", compact)
    )
    if seconds < MIN_INTERVAL.total_seconds():
        raise TimingError("an interval must be at least a minute")
    return seconds


def format_interval(seconds: int) -> str:
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimingError(
            f"{name!r} is not a timezone; use an IANA name like Europe/Berlin"
        ) from exc
