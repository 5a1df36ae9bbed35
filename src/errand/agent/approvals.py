"""Which tool calls run, which wait for the user, and which are refused.

Defaults follow the sandbox being the boundary: reading and writing inside granted folders and
sandboxed shell commands run without asking. Reaching a domain outside the allowlist asks: that
question comes from the egress proxy, whichever tool made the connection, so there is one gate
for the network. Rules can be set per tool, per folder and per kind of action. An approval
request is bound to a digest of exactly what will run, so a decision cannot be replayed for
something else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from errand.tools.base import Action, ActionKind


class Verdict(StrEnum):
    ALLOW = "allow"
    ASK = "ask"
    DENY = "deny"


_DEFAULTS: Mapping[ActionKind, Verdict] = {
    ActionKind.READ: Verdict.ALLOW,
    ActionKind.WRITE: Verdict.ALLOW,
    ActionKind.SHELL: Verdict.ALLOW,
    ActionKind.NETWORK: Verdict.ALLOW,  # the proxy asks per unlisted domain
    ActionKind.ASK: Verdict.ALLOW,
    ActionKind.SKILL: Verdict.ALLOW,
}


@dataclass(frozen=True)
class ApprovalPolicy:
    """Rules in order of precedence: per tool, then per folder, then per kind of action."""

    tools: Mapping[str, Verdict] = field(default_factory=dict)
    folders: Mapping[str, Verdict] = field(default_factory=dict)
    kinds: Mapping[ActionKind, Verdict] = field(default_factory=lambda: dict(_DEFAULTS))

    def decide(self, action: Action) -> Verdict:
        if action.tool in self.tools:
            return self.tools[action.tool]
        if action.folder is not None and action.folder in self.folders:
            return self.folders[action.folder]
        return self.kinds.get(action.kind, Verdict.ASK)

    @classmethod
    def from_toml(cls, table: Mapping[str, object]) -> ApprovalPolicy:
        """Read ``[approvals]``: ``tools = {run_shell = "ask"}``, ``folders = {docs = "deny"}``,
        ``kinds = {write = "ask"}``.

        Raises:
            ValueError: an unknown kind or verdict, in one sentence.
        """

        def verdicts(key: str) -> dict[str, Verdict]:
            raw = table.get(key, {})
            if not isinstance(raw, Mapping):
                raise ValueError(f"approvals.{key} must be a table")
            try:
                return {str(k): Verdict(str(v)) for k, v in raw.items()}
            except ValueError as exc:
                raise ValueError(f"approvals.{key}: verdicts are allow, ask or deny") from exc

        kinds = dict(_DEFAULTS)
        for name, verdict in verdicts("kinds").items():
            try:
                kinds[ActionKind(name)] = verdict
            except ValueError as exc:
                kinds_list = ", ".join(k.value for k in ActionKind)
                raise ValueError(f"approvals.kinds: {name!r} is not one of {kinds_list}") from exc
        return cls(tools=verdicts("tools"), folders=verdicts("folders"), kinds=kinds)
