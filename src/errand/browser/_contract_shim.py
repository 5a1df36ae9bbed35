"""Temporary stand-in for ``errand.tools.ToolDef`` until it lands on main (deleted on rebase)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ToolDef:
    name: str
    description: str
    input_schema: Mapping[str, object]
