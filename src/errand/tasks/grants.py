"""Grants re-checked: a task's folders held against the allowed folders as they are now.

Removing an allowed folder (``errand folders remove``) or narrowing it (``rw`` to ``ro``) must
hold for tasks created before, not only new ones. So every time a task (re)starts, reads a
new message from the user, or has a file served, its grants are re-resolved here: an allowed
folder that is gone (or now names another host path) is dropped, a narrowed one narrows the
grant, one now labelled with another worker is dropped, and a folder missing on the computer
(the worker's host, where the task runs) is dropped. Grants the owner gave at the
computer (``GrantOrigin.HOST``) are kept for CLI tasks only.

Pure: the caller reads the allowed folders and records what changed (an event and a line to
the model); see ``errand.runner`` and the gateway's file routes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from errand.sandbox import FolderMode
from errand.tasks.spec import FolderGrantSpec, GrantOrigin, SourceKind, TaskSpec


class AllowedFolderLike(Protocol):
    """An allowed folder as the access store keeps it: its name, host path, most mode, and
    the worker whose folder it is (None: the gateway's computer)."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> str | os.PathLike[str]: ...

    @property
    def mode(self) -> str: ...

    @property
    def worker(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class GrantChange:
    """One grant the task lost or had narrowed; ``mode`` is what is left (None: nothing)."""

    name: str
    was: FolderMode
    mode: FolderMode | None
    reason: str

    def sentence(self) -> str:
        """What the task is told, in one sentence."""
        if self.mode is None:
            return f"You no longer have access to the folder {self.name!r}: {self.reason}."
        return f"The folder {self.name!r} is now read-only for you: {self.reason}."

    def to_json(self) -> dict[str, str | None]:
        return {
            "folder": self.name,
            "was": self.was.value,
            "mode": self.mode.value if self.mode else None,
            "reason": self.reason,
        }


def recheck_grants(
    spec: TaskSpec,
    allowed: Iterable[AllowedFolderLike],
    *,
    exists: Callable[[str], bool] = os.path.isdir,
) -> tuple[TaskSpec, list[GrantChange]]:
    """The spec with its grants as the allowed folders permit now, and what changed."""
    by_name = {folder.name: folder for folder in allowed}
    kept: list[FolderGrantSpec] = []
    changes: list[GrantChange] = []
    for grant in spec.folders:
        mode: FolderMode | None = grant.mode
        reason = ""
        if grant.origin is GrantOrigin.HOST:
            if spec.source.kind is not SourceKind.CLI:
                mode, reason = None, "only tasks started at the computer keep host folders"
        else:
            folder = by_name.get(grant.name)
            if folder is None:
                mode, reason = None, "the owner no longer shares it with tasks"
            elif os.fspath(folder.path) != grant.path:
                mode, reason = None, "the owner now shares another folder under that name"
            elif folder.worker != grant.worker:
                mode, reason = None, "the owner now shares it from another worker"
            elif grant.mode is FolderMode.READ_WRITE and folder.mode != FolderMode.READ_WRITE:
                mode, reason = FolderMode.READ_ONLY, "the owner now shares it read-only"
        if mode is not None and not exists(grant.path):
            mode, reason = None, "it no longer exists on the computer"
        if mode is None:
            changes.append(GrantChange(grant.name, grant.mode, None, reason))
            continue
        if mode is not grant.mode:
            changes.append(GrantChange(grant.name, grant.mode, mode, reason))
            grant = grant.model_copy(update={"mode": mode})
        kept.append(grant)
    if not changes:
        return spec, []
    return spec.model_copy(update={"folders": tuple(kept)}), changes
