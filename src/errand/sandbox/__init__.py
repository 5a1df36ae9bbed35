"""The sandbox: every tool call of the agent runs here, or not at all.

Public surface: build a :class:`SandboxPolicy`, open a :class:`Sandbox` session with it, and
``await session.run(argv)`` for each command (an :class:`ExecResult`; ``launch_failed`` says
when the sandbox could not start it) or ``await session.spawn(argv)`` for a long-lived
:class:`SandboxProcess`. :func:`host_egress` puts a connection Errand makes itself (a remote MCP
server's) behind the same egress proxy and rules. Host-side file tools use :class:`GrantedRoot`. A
:class:`SandboxBackend` builds each command's confinement; callers never import a backend.
The change layer (:class:`FolderLayer`: change list, apply, discard, undo) keeps each task's
changes to read-write folders under :func:`task_changes_dir`; :func:`open_layers` reopens them.
"""

from errand.sandbox.addresses import refusal_reason
from errand.sandbox.audit import AskUser, DecisionSink, NetworkDecision, Verdict
from errand.sandbox.backend import ExtraMount, Launch, LaunchFailed, SandboxBackend
from errand.sandbox.cgroup import MemoryLimit
from errand.sandbox.changes import (
    Change,
    ChangeKind,
    FolderLayer,
    LoggedChange,
    open_layers,
    paths_in,
    task_changes_dir,
    text_diff,
)
from errand.sandbox.errors import PathRefused, SandboxUnavailable, folder_gone
from errand.sandbox.files import Entry, GrantedRoot
from errand.sandbox.hostnames import HostnameError, normalize_host, parse_domain_pattern
from errand.sandbox.layers import probe
from errand.sandbox.leftovers import process_start_time
from errand.sandbox.policy import (
    MOUNT_NAME,
    FolderGrant,
    FolderMode,
    Limits,
    NetworkPolicy,
    PolicyError,
    SandboxPolicy,
    mount_path,
    policy_from_request,
    session_home,
)
from errand.sandbox.proxy import Resolver, host_egress
from errand.sandbox.session import (
    EXIT_SANDBOX_UNAVAILABLE,
    EXIT_TIMEOUT,
    ExecResult,
    OutputSink,
    Sandbox,
    SandboxProcess,
)
from errand.sandbox.trusted import GrantRefused, describe_hidden

__all__ = [
    "EXIT_SANDBOX_UNAVAILABLE",
    "EXIT_TIMEOUT",
    "MOUNT_NAME",
    "AskUser",
    "Change",
    "ChangeKind",
    "DecisionSink",
    "Entry",
    "ExecResult",
    "ExtraMount",
    "FolderGrant",
    "FolderLayer",
    "FolderMode",
    "GrantRefused",
    "GrantedRoot",
    "HostnameError",
    "Launch",
    "LaunchFailed",
    "Limits",
    "LoggedChange",
    "MemoryLimit",
    "NetworkDecision",
    "NetworkPolicy",
    "OutputSink",
    "PathRefused",
    "PolicyError",
    "Resolver",
    "Sandbox",
    "SandboxBackend",
    "SandboxPolicy",
    "SandboxProcess",
    "SandboxUnavailable",
    "Verdict",
    "describe_hidden",
    "folder_gone",
    "host_egress",
    "mount_path",
    "normalize_host",
    "open_layers",
    "parse_domain_pattern",
    "paths_in",
    "policy_from_request",
    "probe",
    "process_start_time",
    "refusal_reason",
    "session_home",
    "task_changes_dir",
    "text_diff",
]
