"""The task as a typed value: its spec, statuses, exit codes and grant re-checks.

Public surface: :class:`TaskSpec` (what a task may do, stored as JSON), :class:`TaskSource`,
:class:`TaskStatus` with :data:`FINAL` and :data:`ACTIVE`, :class:`ExitCode`,
:func:`recheck_grants`, :func:`attention` over a :class:`Trouble` (what a finished
task's user should look at), and where a task runs (:data:`GATEWAY_WORKER`,
:func:`check_worker_name`, :func:`place_of`, :func:`waiting_for`: see ``tasks/workers.py``).
A bottom-layer package: it depends on the sandbox policy only, so the store can return typed
specs.
"""

from errand.tasks.grants import AllowedFolderLike, GrantChange, recheck_grants
from errand.tasks.spec import (
    SPEC_VERSION,
    Attachment,
    FolderGrantSpec,
    GrantOrigin,
    NetworkSpec,
    SourceKind,
    SpecError,
    TaskSource,
    TaskSpec,
)
from errand.tasks.status import ACTIVE, ALLOWED_TRANSITIONS, FINAL, ExitCode, TaskStatus
from errand.tasks.trouble import Trouble, attention
from errand.tasks.workers import GATEWAY_WORKER, check_worker_name, place_of, waiting_for

__all__ = [
    "ACTIVE",
    "ALLOWED_TRANSITIONS",
    "FINAL",
    "GATEWAY_WORKER",
    "SPEC_VERSION",
    "AllowedFolderLike",
    "Attachment",
    "ExitCode",
    "FolderGrantSpec",
    "GrantChange",
    "GrantOrigin",
    "NetworkSpec",
    "SourceKind",
    "SpecError",
    "TaskSource",
    "TaskSpec",
    "TaskStatus",
    "Trouble",
    "attention",
    "check_worker_name",
    "place_of",
    "recheck_grants",
    "waiting_for",
]
