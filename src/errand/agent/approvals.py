"""Which tool calls run, which wait for the user, and which are refused.

Defaults follow the sandbox being the boundary: reading and writing inside granted folders and
sandboxed shell commands run without asking. Reaching a domain outside the allowlist asks: that
question comes from the egress proxy, whichever tool made the connection, so there is one gate
for the network. Rules can be set per tool, per folder and per kind of action. An approval
request is bound to a digest of exactly what will run, so a decision cannot be replayed for
something else.

:class:`Approving` applies a policy around any toolset: the built-in tools, the browser and MCP
servers alike only describe their calls truthfully; whoever runs the task supplies an
:data:`Approver` that asks the user and waits for the answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from errand.models import ToolCall
from errand.tools import Action, ActionKind, ToolContext, ToolDef, ToolOutput, Toolset


class Verdict(StrEnum):
    ALLOW = "allow"
    ASK = "ask"
    DENY = "deny"


_DEFAULTS: Mapping[ActionKind, Verdict] = {
    ActionKind.READ: Verdict.ALLOW,
    ActionKind.WRITE: Verdict.ALLOW,
    ActionKind.SHELL: Verdict.ALLOW,
    ActionKind.NETWORK: Verdict.ALLOW,  # the proxy asks per unlisted domain
    ActionKind.SEND: Verdict.ASK,  # the user sees the data before it leaves for such a domain
    ActionKind.ASK: Verdict.ALLOW,
    ActionKind.SKILL: Verdict.ALLOW,
    ActionKind.MCP: Verdict.ASK,  # MCP servers' settings say otherwise per server and tool
}


@dataclass(frozen=True)
class ApprovalPolicy:
    """Rules in order of precedence: per tool, then per folder, then per kind of action."""

    tools: Mapping[str, Verdict] = field(default_factory=dict)
    folders: Mapping[str, Verdict] = field(default_factory=dict)
    kinds: Mapping[ActionKind, Verdict] = field(default_factory=lambda: dict(_DEFAULTS))

    def decide(self, action: Action) -> Verdict:
        """The verdict for ``action``. A tool rule ending in ``*`` (``mcp__git__*``) covers
        every tool whose name starts with the rest; an exact rule wins over it, and a longer
        prefix over a shorter one."""
        if action.tool in self.tools:
            return self.tools[action.tool]
        prefixes = [k for k in self.tools if k.endswith("*") and action.tool.startswith(k[:-1])]
        if prefixes:
            return self.tools[max(prefixes, key=len)]
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


class ApprovalAnswer(StrEnum):
    """How a request for approval ended."""

    APPROVED = "approved"
    REFUSED = "refused"
    EXPIRED = "expired"
    """Nobody answered before the approval expired."""


@dataclass(frozen=True, slots=True)
class RefusedBecause:
    """The user refused and said why; the model is told their words."""

    reason: str


Approver = Callable[[Action, ToolCall, ToolContext], Awaitable[ApprovalAnswer | RefusedBecause]]
"""Ask the user to approve ``action`` (the call ``ToolCall`` as described) and wait."""

NOT_ALLOWED = "{tool} is not allowed by the user's approval policy ({summary})."
NOT_APPROVED = (
    "The user did not approve this {tool} call ({summary}). Do not retry it; find another way "
    "or ask the user."
)
NOT_APPROVED_BECAUSE = (
    "The user did not approve this {tool} call ({summary}) and said: {reason}\n"
    "Do not retry it as it was; take what they said into account."
)
NOT_ANSWERED = (
    "The user did not answer in time about this {tool} call ({summary}), so it did not run. "
    "Do not retry it; find another way or ask the user."
)
"""What the model is told when an approval expired unanswered (the one place to change it)."""


class Approving:
    """A toolset whose calls pass an :class:`ApprovalPolicy` first; a
    :class:`~errand.tools.Toolset` itself.

    Each call is described by the wrapped toolset; a denied call and one the user does not
    approve return an error output the model reads (the wrapped toolset never sees them).
    Listing and closing pass straight through.
    """

    def __init__(self, inner: Toolset, policy: ApprovalPolicy, approver: Approver) -> None:
        self.inner = inner
        self.name = inner.name
        self._policy = policy
        self._approver = approver

    async def list_tools(self, ctx: ToolContext) -> Sequence[ToolDef]:
        return await self.inner.list_tools(ctx)

    def describe(self, call: ToolCall, ctx: ToolContext) -> Action | ToolOutput:
        return self.inner.describe(call, ctx)

    async def invoke(self, call: ToolCall, ctx: ToolContext) -> ToolOutput:
        action = self.inner.describe(call, ctx)
        if isinstance(action, ToolOutput):
            return action
        verdict = self._policy.decide(action)
        if verdict is Verdict.DENY:
            return _refusal(NOT_ALLOWED, action)
        if verdict is Verdict.ASK:
            answer = await self._approver(action, call, ctx)
            if isinstance(answer, RefusedBecause):
                return _refusal(NOT_APPROVED_BECAUSE, action, answer.reason)
            if answer is ApprovalAnswer.REFUSED:
                return _refusal(NOT_APPROVED, action)
            if answer is ApprovalAnswer.EXPIRED:
                return _refusal(NOT_ANSWERED, action)
        return await self.inner.invoke(call, ctx)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _refusal(template: str, action: Action, reason: str = "") -> ToolOutput:
    text = template.format(tool=action.tool, summary=action.summary, reason=reason)
    return ToolOutput(text, is_error=True)
