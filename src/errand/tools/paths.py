"""Mapping the paths a model writes to a granted folder and a path inside it.

The model sees the sandbox's view: each granted folder at ``/sessions/<session>/mnt/<name>``,
commands starting in the first one (the working folder). File tools accept the same paths a
command would: relative ones are taken from the working folder, absolute ones must lie in a
granted folder. A path is normalised the way the sandbox would read it (``a/../b`` is ``b``;
``../other/x`` from the working folder reaches the folder ``other`` when it is granted), and
then it must land inside a grant: anything else is refused with the list of folders that
exist. This is a lexical mapping only; :class:`~errand.sandbox.files.GrantedRoot` then
confines the actual access with the kernel's help.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from errand.sandbox import FolderGrant, FolderMode, GrantedRoot, SandboxPolicy, folder_gone
from errand.tools.errors import ToolError


@dataclass(frozen=True, slots=True)
class GrantPath:
    """A path inside one granted folder.

    ``rel`` is relative to the folder (``""`` for the folder itself), ``/``-separated,
    without ``.`` or ``..``; ``sandbox_path`` is where commands see it; ``shown`` is how tool
    output names it (relative in the working folder, absolute elsewhere).
    """

    grant: FolderGrant
    rel: str
    sandbox_path: str
    shown: str


def resolve_path(policy: SandboxPolicy, path: str, *, writing: bool = False) -> GrantPath:
    """Map ``path`` as the model wrote it to a granted folder.

    Raises:
        ToolError: no folders are granted; the path is empty of meaning (NUL), outside every
            granted folder (with the folders that exist), or ``writing`` into a read-only one.
    """
    if not policy.folders:
        raise ToolError("No folders are granted to this task, so there are no files to use.")
    if "\x00" in path:
        raise ToolError("The path contains a NUL character.")
    given = path.strip() or "."
    absolute = posixpath.normpath(posixpath.join(policy.workdir, given))
    if absolute.startswith("//"):
        absolute = "/" + absolute.lstrip("/")
    for grant in policy.folders:
        mount = policy.mount_point(grant)
        if absolute == mount or absolute.startswith(mount + "/"):
            rel = absolute[len(mount) + 1 :]
            found = GrantPath(grant, rel, absolute, show_path(policy, grant, rel))
            if writing and grant.mode is FolderMode.READ_ONLY:
                raise ToolError(
                    f"{found.shown} is in the folder {grant.name!r}, which is granted "
                    "read-only; nothing was changed."
                )
            return found
    raise ToolError(_outside_message(policy, given))


def show_path(policy: SandboxPolicy, grant: FolderGrant, rel: str) -> str:
    """How output names ``rel`` in ``grant``: relative to the working folder when it is
    there (so the model can pass it back as it stands), else the full sandbox path."""
    if grant == policy.folders[0]:
        return rel or "."
    mount = policy.mount_point(grant)
    return f"{mount}/{rel}" if rel else mount


def folder_list(policy: SandboxPolicy) -> str:
    """The granted folders as the model should know them, in one line."""
    modes = {FolderMode.READ_WRITE: "read-write", FolderMode.READ_ONLY: "read-only"}
    return ", ".join(f"{policy.mount_point(g)} ({modes[g.mode]})" for g in policy.folders)


def _outside_message(policy: SandboxPolicy, given: str) -> str:
    message = (
        f"{given!r} is outside the granted folders. Use a path relative to the working "
        f"folder {policy.workdir}, or one under: {folder_list(policy)}."
    )
    if given.startswith("/"):
        # A host path of a granted folder is a common slip (the user named it that way);
        # say where the same file is in the sandbox.
        host = Path(posixpath.normpath(given))
        for grant in policy.folders:
            if host == grant.path or host.is_relative_to(grant.path):
                inside = host.relative_to(grant.path).as_posix()
                where = policy.mount_point(grant) + ("" if inside == "." else f"/{inside}")
                message += f" That is a host path; in the sandbox it is {where}."
                break
    return message


def granted_root(roots: Mapping[str, GrantedRoot], found: GrantPath) -> GrantedRoot:
    """The open host-side handle of the folder ``found`` is in.

    Raises:
        ToolError: the task's context has no handle for that folder (a wiring mistake that
            the model can only report), or the folder is gone from the host.
    """
    root = roots.get(found.grant.name)
    if root is None:
        raise ToolError(f"The folder {found.grant.name!r} is not open for file tools.")
    if not found.grant.path.is_dir():
        raise ToolError(folder_gone(found.grant.name))
    return root
