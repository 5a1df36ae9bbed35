"""The agent: the task loop, approvals, the system prompt and the context budget.

Public surface: :func:`run_task` runs a stored task with a model adapter; :class:`TaskOptions`
says how (its ``toolsets`` factory, a :data:`ToolsetFactory` given a :class:`ToolsetRequest`,
chooses the task's toolsets); a :class:`Responder` answers approvals and questions;
:class:`ApprovalPolicy` decides which calls ask, applied around any toolset by
:class:`Approving` with an :data:`Approver`.
"""

from errand.agent.approvals import (
    ApprovalAnswer,
    ApprovalPolicy,
    Approver,
    Approving,
    RefusedBecause,
    Verdict,
)
from errand.agent.asking import Responder, TaskUser
from errand.agent.loop import (
    TaskOptions,
    TaskOutcome,
    run_task,
)
from errand.agent.prompt import system_prompt
from errand.agent.settings import (
    browser_toolsets,
    options_for_spec,
    options_from_config,
    with_mcp_servers,
)
from errand.agent.toolsets import (
    ToolsetFactory,
    ToolsetRequest,
    builtin_toolsets,
    with_browser,
)
from errand.agent.transcript import (
    load_transcript,
    message_from_json,
    message_to_json,
    opening_messages,
)

__all__ = [
    "ApprovalAnswer",
    "ApprovalPolicy",
    "Approver",
    "Approving",
    "RefusedBecause",
    "Responder",
    "TaskOptions",
    "TaskOutcome",
    "TaskUser",
    "ToolsetFactory",
    "ToolsetRequest",
    "Verdict",
    "browser_toolsets",
    "builtin_toolsets",
    "load_transcript",
    "message_from_json",
    "message_to_json",
    "opening_messages",
    "options_for_spec",
    "options_from_config",
    "run_task",
    "system_prompt",
    "with_browser",
    "with_mcp_servers",
]
