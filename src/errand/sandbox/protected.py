"""Paths inside read-write folders that stay read-only and cannot be created.

Writing any of these lets a sandboxed command act outside the sandbox later: a git hook or
config runs on the user's next commit, an rc file on the next shell, an editor or CI config on
the next open or push. The bwrap backend, the Seatbelt profile and the host-side file access
all enforce this one list.
"""

from __future__ import annotations

from pathlib import PurePosixPath

PROTECTED_PATHS: tuple[str, ...] = (
    ".git/hooks",
    ".git/config",
    ".git/info",
    ".git/modules",
    ".errand",
    ".mcp.json",
    ".vscode",
    ".idea",
    ".envrc",
    ".github/workflows",
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".profile",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".zlogin",
    ".gitconfig",
    ".gitmodules",
    ".npmrc",
    ".pypirc",
    ".agents",
)
"""Relative to the root of each granted read-write folder."""


def is_protected(relative: str | PurePosixPath) -> bool:
    """Whether a path relative to a granted root is, or lies under, a protected path.

    A parent of a protected path (``.git``, ``.github``) is not itself protected, but
    renaming or deleting such a parent must be refused by callers: see
    :func:`is_protected_parent`.
    """
    parts = _parts(relative)
    for protected in PROTECTED_PATHS:
        p = protected.split("/")
        if parts[: len(p)] == p:
            return True
    return False


def is_protected_parent(relative: str | PurePosixPath) -> bool:
    """Whether a path is a strict ancestor of a protected path (``.git``, ``.github``)."""
    parts = _parts(relative)
    if not parts:
        return True
    return any(
        protected.split("/")[: len(parts)] == parts and len(protected.split("/")) > len(parts)
        for protected in PROTECTED_PATHS
    )


def _parts(relative: str | PurePosixPath) -> list[str]:
    return [p for p in PurePosixPath(relative).parts if p not in ("", ".", "/")]
