"""The sandbox: every tool call of the agent runs here, or not at all.

Public surface: build a :class:`SandboxPolicy`, open a :class:`Sandbox` session with it, and
``await session.run(argv)`` for each command. Host-side file tools use :class:`GrantedRoot`.
"""

from errand.sandbox.addresses import refusal_reason
from errand.sandbox.audit import AskUser, DecisionSink, NetworkDecision, Verdict
from errand.sandbox.errors import PathRefused, SandboxUnavailable
from errand.sandbox.files import Entry, GrantedRoot
from errand.sandbox.policy import (
    FolderGrant,
    FolderMode,
    Limits,
    NetworkPolicy,
    PolicyError,
    SandboxPolicy,
)

__all__ = [
    "AskUser",
    "DecisionSink",
    "Entry",
    "FolderGrant",
    "FolderMode",
    "GrantedRoot",
    "Limits",
    "NetworkDecision",
    "NetworkPolicy",
    "PathRefused",
    "PolicyError",
    "SandboxPolicy",
    "SandboxUnavailable",
    "Verdict",
    "refusal_reason",
]
