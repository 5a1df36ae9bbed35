"""Task options from ``errand.toml``, the same for every entry point (CLI, gateway)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from errand.agent.approvals import ApprovalPolicy
from errand.agent.loop import TaskOptions
from errand.sandbox.policy import SandboxPolicy


def options_from_config(config: Mapping[str, Any], policy: SandboxPolicy) -> TaskOptions:
    """Read ``[approvals]`` and ``[skills] trusted = ["/path", ...]`` (folders whose
    ``.agents/skills`` may be loaded when they are granted).

    Raises:
        ValueError: a malformed table, in one sentence.
    """
    approvals = ApprovalPolicy.from_toml(config.get("approvals", {}))
    skills = config.get("skills", {})
    trusted_raw = skills.get("trusted", []) if isinstance(skills, Mapping) else []
    if not isinstance(trusted_raw, list) or not all(isinstance(p, str) for p in trusted_raw):
        raise ValueError("skills.trusted must be a list of folder paths")
    trusted_paths = {Path(p).expanduser().resolve() for p in trusted_raw}
    trusted = frozenset(g.name for g in policy.folders if g.path in trusted_paths)
    return replace(TaskOptions(), approvals=approvals, trusted_folders=trusted)
