"""Paths inside read-write folders that stay read-only and cannot be created.

Writing any of these lets a sandboxed command act outside the sandbox later: a git hook or
config runs on the user's next commit, an rc file on the next shell, an editor or CI config on
the next open or push. The bwrap backend, the Seatbelt profile and the host-side file access
all enforce this one list.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from errand.sandbox.errors import SandboxUnavailable

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


@dataclass(frozen=True, slots=True)
class ProtectionPlan:
    """How the protected paths of one read-write folder are guarded for a command.

    ``cover`` are existing protected paths bound read-only onto themselves; ``pin`` are their
    parent directories bound onto themselves, because a mount point cannot be renamed or
    removed (so ``.git`` cannot be moved away and recreated writable); ``block`` are the first
    missing components of absent protected paths, covered by ``/dev/null`` (bwrap creates
    their mount points in the overlay's upper layer, which the change layer drops).
    """

    cover: tuple[str, ...]
    pin: tuple[str, ...]
    block: tuple[str, ...]


def plan_protection(host_root: Path) -> ProtectionPlan:
    """Work out the guards for a read-write folder as it is now.

    Raises:
        SandboxUnavailable: a protected path or one of its parents is a symlink, which no
            mount can guard; the message names it and what to do.
    """
    cover: list[str] = []
    pin: list[str] = []
    block: list[str] = []
    seen: dict[str, os.stat_result | None] = {}  # one lstat per path (.git is shared)
    for rel in PROTECTED_PATHS:
        parts = rel.split("/")
        for depth in range(1, len(parts) + 1):
            sub = "/".join(parts[:depth])
            if sub not in seen:
                try:
                    seen[sub] = os.lstat(os.path.join(host_root, sub))
                except (FileNotFoundError, NotADirectoryError):
                    seen[sub] = None
            info = seen[sub]
            if info is not None and stat.S_ISLNK(info.st_mode):
                raise SandboxUnavailable(
                    f"{host_root / sub} is a symbolic link, so Errand cannot keep it read-only "
                    "inside a read-write folder",
                    "remove the link or grant the folder read-only (:ro)",
                )
            if info is None:
                if sub not in block:
                    block.append(sub)
                break
            if depth == len(parts) or not stat.S_ISDIR(info.st_mode):
                if sub not in cover:
                    cover.append(sub)
                break
            if sub not in pin:
                pin.append(sub)
    return ProtectionPlan(tuple(cover), tuple(pin), tuple(block))


def write_guard_layer(directory: Path, plan: ProtectionPlan, root: Path) -> None:
    """Fill ``directory`` (emptied first) with an empty placeholder file for each path the
    plan blocks, inside directories with the permission bits of ``root``'s (plus the owner's
    own). Laid over ``root`` as the overlay's top lower layer, it gives every block guard its
    mount point, so that none is ever created in the task's upper layer or the user's folder.
    """
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(mode=0o755, parents=True)
    for rel in plan.block:
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            sub = "/".join(parts[:depth])
            if not (directory / sub).is_dir():
                (directory / sub).mkdir()
                os.chmod(directory / sub, stat.S_IMODE(os.lstat(root / sub).st_mode) | 0o700)
        (directory / rel).touch(mode=0o444)
