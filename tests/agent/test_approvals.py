"""Approval as a wrapper around any toolset: what runs, what asks, and what the model reads."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from errand.agent import ApprovalAnswer, ApprovalPolicy, Approving, Verdict
from errand.models import ToolCall
from errand.sandbox import Sandbox, SandboxPolicy
from errand.tools import Action, ActionKind, ToolContext, ToolDef, ToolOutput


class Browser:
    """A toolset that only describes its calls; approval is not its business."""

    name = "browser"

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.closed = False

    async def list_tools(self, ctx: ToolContext) -> Sequence[ToolDef]:
        return [ToolDef("open_page", "Open a page.", {"type": "object"})]

    def describe(self, call: ToolCall, ctx: ToolContext) -> Action | ToolOutput:
        if call.arguments_json == "bad":
            return ToolOutput("url: required", is_error=True)
        return Action("open_page", ActionKind.NETWORK, "open example.org", domain="example.org")

    async def invoke(self, call: ToolCall, ctx: ToolContext) -> ToolOutput:
        self.ran.append(call.id)
        return ToolOutput("opened")

    async def aclose(self) -> None:
        self.closed = True


class Asker:
    def __init__(self, answer: ApprovalAnswer) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str]] = []

    async def __call__(self, action: Action, call: ToolCall, ctx: ToolContext) -> ApprovalAnswer:
        self.asked.append((action.summary, call.id))
        return self.answer


@pytest.fixture
def ctx() -> ToolContext:
    policy = SandboxPolicy()
    return ToolContext(sandbox=Sandbox(policy), policy=policy, roots={}, ask_user=_none)


async def _none(question: str) -> str:
    return ""


ASK = ApprovalPolicy(kinds={ActionKind.NETWORK: Verdict.ASK})
CALL = ToolCall("c1", "open_page", "{}")


async def test_allowed_calls_run_without_asking(ctx: ToolContext) -> None:
    browser, asker = Browser(), Asker(ApprovalAnswer.REFUSED)
    out = await Approving(browser, ApprovalPolicy(), asker).invoke(CALL, ctx)
    assert out == ToolOutput("opened") and browser.ran == ["c1"] and asker.asked == []


async def test_an_approved_call_runs_after_the_user_said_yes(ctx: ToolContext) -> None:
    browser, asker = Browser(), Asker(ApprovalAnswer.APPROVED)
    out = await Approving(browser, ASK, asker).invoke(CALL, ctx)
    assert out == ToolOutput("opened")
    assert asker.asked == [("open example.org", "c1")]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            ApprovalAnswer.REFUSED,
            "The user did not approve this open_page call (open example.org). Do not retry it; "
            "find another way or ask the user.",
        ),
        (
            ApprovalAnswer.EXPIRED,
            "The user did not answer in time about this open_page call (open example.org), so "
            "it did not run. Do not retry it; find another way or ask the user.",
        ),
    ],
)
async def test_an_unapproved_call_never_reaches_the_toolset(
    ctx: ToolContext, answer: ApprovalAnswer, message: str
) -> None:
    browser = Browser()
    out = await Approving(browser, ASK, Asker(answer)).invoke(CALL, ctx)
    assert out == ToolOutput(message, is_error=True)
    assert browser.ran == []


async def test_a_denied_call_is_refused_without_asking(ctx: ToolContext) -> None:
    browser, asker = Browser(), Asker(ApprovalAnswer.APPROVED)
    policy = ApprovalPolicy(tools={"open_page": Verdict.DENY})
    out = await Approving(browser, policy, asker).invoke(CALL, ctx)
    assert out == ToolOutput(
        "open_page is not allowed by the user's approval policy (open example.org).",
        is_error=True,
    )
    assert browser.ran == [] and asker.asked == []


async def test_a_call_that_cannot_be_described_returns_its_error(ctx: ToolContext) -> None:
    browser, asker = Browser(), Asker(ApprovalAnswer.APPROVED)
    out = await Approving(browser, ASK, asker).invoke(ToolCall("c2", "open_page", "bad"), ctx)
    assert out == ToolOutput("url: required", is_error=True)
    assert asker.asked == [] and browser.ran == []


async def test_listing_and_closing_pass_through(ctx: ToolContext) -> None:
    browser = Browser()
    wrapped = Approving(browser, ASK, Asker(ApprovalAnswer.APPROVED))
    assert wrapped.name == "browser"
    assert [t.name for t in await wrapped.list_tools(ctx)] == ["open_page"]
    await wrapped.aclose()
    assert browser.closed


def test_tool_rules_ending_in_a_star_cover_a_prefix_and_exact_rules_win() -> None:
    policy = ApprovalPolicy(
        tools={
            "mcp__git__*": Verdict.ASK,
            "mcp__git__git_log": Verdict.ALLOW,
            "mcp__git__git_push*": Verdict.DENY,
        }
    )

    def verdict(tool: str) -> Verdict:
        return policy.decide(Action(tool=tool, kind=ActionKind.MCP, summary=""))

    assert verdict("mcp__git__git_status") is Verdict.ASK
    assert verdict("mcp__git__git_log") is Verdict.ALLOW
    assert verdict("mcp__git__git_push_tags") is Verdict.DENY
    assert verdict("mcp__time__now") is Verdict.ASK  # the MCP kind's default
    assert ApprovalPolicy().decide(Action("read_file", ActionKind.READ, "")) is Verdict.ALLOW
