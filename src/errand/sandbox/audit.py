"""Records of what the egress proxy decided, for the user to see and the model to read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class NetworkDecision:
    """One connection attempt and what the policy made of it."""

    session: str
    call_id: str
    host: str
    port: int
    verdict: Verdict
    reason: str
    at: float

    def as_dict(self) -> dict[str, str | int | float]:
        return {
            "session": self.session,
            "call_id": self.call_id,
            "host": self.host,
            "port": self.port,
            "verdict": str(self.verdict),
            "reason": self.reason,
            "at": self.at,
        }


DecisionSink = Callable[[NetworkDecision], None]
"""Called for every decision, on the event loop; it must not block."""

AskUser = Callable[[str, int, str], Awaitable[bool]]
"""Asked ``(host, port, call_id)`` when a domain is not listed; True lets it through for the
rest of the session. Absent when nobody can answer, in which case unlisted domains are denied."""
