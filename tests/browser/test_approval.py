"""A form posted to a domain outside the task's allowed list waits for the user's approval,
which shows the fields and values; approved it is sent, refused nothing leaves.

The toolset runs inside the same approval wrapper the agent loop puts around every toolset,
with the default approval policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from browser.conftest import ALLOWED, UNLISTED, Browsing
from browser.test_browser_toolset import ref_of
from errand.agent import ApprovalAnswer, ApprovalPolicy, Approving
from errand.models import ToolCall
from errand.tools import Action, ActionKind, ToolContext, ToolOutput

pytestmark = [pytest.mark.browser, pytest.mark.netns]


@dataclass
class Approver:
    """The user at the phone: answers every approval with ``answer`` and remembers them."""

    answer: ApprovalAnswer
    seen: list[Action] = field(default_factory=list)

    async def __call__(self, action: Action, call: ToolCall, ctx: ToolContext) -> ApprovalAnswer:
        self.seen.append(action)
        return self.answer


async def fill_and_submit(browsing: Browsing, approver: Approver) -> ToolOutput:
    approving = Approving(browsing.toolset, ApprovalPolicy(), approver)
    origin = f"http://{UNLISTED}:8090"
    page = await browsing.call(
        "browser_navigate", url=browsing.url(ALLOWED, f"/post-elsewhere?to={origin}")
    )
    nothing_focused = browsing.describe("browser_press_key", key="Enter")
    assert isinstance(nothing_focused, Action) and nothing_focused.kind is not ActionKind.SEND
    filled = await browsing.call(
        "browser_fill_form",
        fields=[
            {"ref": ref_of(page.content, 'textbox "Email"'), "value": "ada@example.org"},
            {"ref": ref_of(page.content, 'textbox "Password"'), "value": "hunter22"},
        ],
    )
    assert approver.seen == [], "filling in a form is not sending it"
    enter = browsing.describe("browser_press_key", key="Enter")  # in the field just filled
    assert isinstance(enter, Action), enter
    assert (enter.kind, enter.domain) == (ActionKind.SEND, UNLISTED)
    call = browsing.call_of("browser_click", ref=ref_of(filled.content, "Subscribe"))
    return await approving.invoke(call, browsing.ctx)


async def test_an_approved_submission_is_sent(browsing: Browsing) -> None:
    approver = Approver(ApprovalAnswer.APPROVED)
    browsing.user.answer = True  # the proxy's own question about the unlisted domain
    out = await fill_and_submit(browsing, approver)
    assert not out.is_error, out.content
    (action,) = approver.seen
    assert (action.kind, action.domain) == (ActionKind.SEND, UNLISTED)
    assert "email='ada@example.org'" in action.summary
    assert "password=(password, 8 characters)" in action.summary
    posted = [r for r in browsing.received() if r.path == "/collect"]
    assert [(r.method, r.host.split(":")[0]) for r in posted] == [("POST", UNLISTED)]
    assert posted[0].body == "email=ada%40example.org&password=hunter22"


@pytest.mark.parametrize("answer", [ApprovalAnswer.REFUSED, ApprovalAnswer.EXPIRED])
async def test_a_refused_submission_sends_nothing(
    browsing: Browsing, answer: ApprovalAnswer
) -> None:
    approver = Approver(answer)
    browsing.user.answer = True  # even a domain the proxy would let through
    out = await fill_and_submit(browsing, approver)
    assert out.is_error
    expected = "did not approve" if answer is ApprovalAnswer.REFUSED else "did not answer in time"
    assert expected in out.content
    assert len(approver.seen) == 1
    assert UNLISTED not in browsing.hosts_received()
    assert browsing.user.asked == []
    still = await browsing.call("browser_snapshot")
    assert "Newsletter" in still.content
