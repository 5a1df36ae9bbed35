"""The task as a typed value: its spec, statuses, exit codes and grant re-checks.

Public surface: :class:`TaskSpec` (what a task may do, stored as JSON), :class:`TaskSource`,
:class:`TaskStatus` with :data:`FINAL` and :data:`ACTIVE`, :class:`ExitCode`,
:func:`recheck_grants`, and :func:`attention` over a :class:`Trouble` (what a finished
task's user should look at). A bottom-layer package: it depends on the sandbox policy only,
so the store can return typed specs.
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

__all__ = [
    "ACTIVE",
    "ALLOWED_TRANSITIONS",
    "FINAL",
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
    "recheck_grants",
]
