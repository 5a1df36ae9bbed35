"""IDs as people type them: a unique prefix is enough, and a device may be named instead.

Every command that takes an ID resolves it here, so each says the same thing when nothing or
several things match.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_LISTED = 5


class IdProblem(ValueError):
    """No match or several; the message is the one sentence to show."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """Something an ID may name: its id and, for things people name (devices), its name."""

    id: str
    name: str | None = None


def resolve_id(given: str, candidates: Iterable[Candidate], *, kind: str) -> str:
    """The one id ``given`` means: an exact id, an exact name, or a unique id prefix.

    Raises:
        IdProblem: nothing matches, or several do (the message lists them).
    """
    every = list(candidates)
    for match in (
        [c for c in every if c.id == given],
        [c for c in every if c.name is not None and c.name == given],
        [c for c in every if given and c.id.startswith(given)],
    ):
        if len(match) == 1:
            return match[0].id
        if len(match) > 1:
            raise IdProblem(ambiguous(given, [_label(c) for c in match], kind=kind))
    raise IdProblem(f"no {kind} {given!r}")


def ambiguous(given: str, labels: Sequence[str], *, kind: str) -> str:
    """The sentence for a prefix that matches several ``labels``."""
    shown = ", ".join(labels[:MAX_LISTED]) + (", ..." if len(labels) > MAX_LISTED else "")
    return f"{given!r} matches several {kind}s ({shown}); type more of the id"


def _label(candidate: Candidate) -> str:
    return f"{candidate.id} ({candidate.name})" if candidate.name else candidate.id
