"""Every table of the store, registered on the one ``metadata``.

Import this (not the area modules one by one) wherever the complete schema is needed:
Alembic's autogenerate and the test that checks the migrations match the tables. A new
area adds its module to the import below and a migration under ``migrations/versions``.
"""

from __future__ import annotations

from errand.store import (
    access,
    approvals,
    automation,
    events,
    follow_ups,
    push,
    questions,
    tasks,
    transcript,
    usage,
    workers,
)
from errand.store.schema import metadata

__all__ = [
    "access",
    "approvals",
    "automation",
    "events",
    "follow_ups",
    "metadata",
    "push",
    "questions",
    "tasks",
    "transcript",
    "usage",
    "workers",
]
