"""A per-session process-count cap through the cgroup ``pids`` controller.

The kernel's per-user process limit (``RLIMIT_NPROC``) does not bind processes whose owner is
root, so when Errand runs as root a fork bomb would be stopped only by the timeout. Where this
process may create cgroups (root, with a ``pids`` hierarchy), each session gets its own group
with ``pids.max`` set, and every command joins it before it can fork.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

_MOUNTINFO = Path("/proc/self/mountinfo")
_CGROUP = Path("/proc/self/cgroup")


class PidsLimit:
    """A ``pids`` cgroup of one session; :attr:`procs` is the file a process writes its pid to
    to join it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.procs = path / "cgroup.procs"

    @classmethod
    def create(cls, session: str, max_pids: int, *, owner: str) -> PidsLimit | None:
        """Make the group, or return None where this process cannot (then the process-count
        limit rests on ``RLIMIT_NPROC``). ``owner`` (``leftovers.owner_tag()``) goes into its
        name so that the next process removes the group if this one is killed."""
        if os.geteuid() != 0:
            return None
        base = pids_base()
        if base is None:
            return None
        path = base / f"errand-{session}-{owner}-{secrets.token_hex(4)}"
        try:
            path.mkdir(mode=0o755)
            (path / "pids.max").write_text(str(max_pids), encoding="utf-8")
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()
            return None
        return cls(path)

    def remove(self) -> None:
        """Remove the group once its processes are gone (killed with their sandbox)."""
        with contextlib.suppress(OSError):
            self.path.rmdir()


def pids_base() -> Path | None:
    """The directory of this process's cgroup in a hierarchy with the pids controller."""
    try:
        mounts = _MOUNTINFO.read_text(encoding="utf-8").splitlines()
        groups = _CGROUP.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    v1_mount = v2_mount = None
    for line in mounts:
        fields = line.split(" - ")
        if len(fields) != 2:
            continue
        mount_point = fields[0].split()[4]
        fstype, _source, options = [*fields[1].split(), "", ""][:3]
        if fstype == "cgroup" and "pids" in options.split(","):
            v1_mount = Path(mount_point)
        elif fstype == "cgroup2" and v2_mount is None:
            v2_mount = Path(mount_point)
    for line in groups:
        _id, controllers, rel = line.split(":", 2)
        if v1_mount is not None and "pids" in controllers.split(","):
            return v1_mount / rel.lstrip("/")
        if v1_mount is None and v2_mount is not None and controllers == "":
            base = v2_mount / rel.lstrip("/")
            try:
                if "pids" not in (base / "cgroup.controllers").read_text(encoding="utf-8"):
                    return None
                if "pids" not in (base / "cgroup.subtree_control").read_text(encoding="utf-8"):
                    (base / "cgroup.subtree_control").write_text("+pids", encoding="utf-8")
            except OSError:
                return None
            return base
    return None
