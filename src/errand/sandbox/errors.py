"""Errors of the sandbox layer."""

from __future__ import annotations


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be set up here; nothing ran. Exit status 125.

    ``hint`` says how to fix it, in one sentence a user can act on.
    """

    def __init__(self, problem: str, hint: str) -> None:
        super().__init__(f"{problem}. {hint}")
        self.problem = problem
        self.hint = hint


class PathRefused(PermissionError):
    """A host-side file operation named a path outside the grant, a protected path, or one
    reached through a symlink; nothing was read or written."""


def folder_gone(name: str) -> str:
    """What the model is told when the granted folder ``name`` was deleted or moved on the
    host while its task ran (tools say this rather than a raw file-not-found error)."""
    return (
        f"the folder '{name}' no longer exists on the computer (it was deleted or moved "
        "while this task ran); ask the user before relying on it"
    )
