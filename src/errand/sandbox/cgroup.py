"""Per-session process-count caps and per-process memory caps through cgroups.

The kernel's per-user process limit (``RLIMIT_NPROC``) does not bind processes whose owner is
root, so when Errand runs as root a fork bomb would be stopped only by the timeout. Where this
process may create cgroups (root, with a ``pids`` hierarchy), each session gets its own group
with ``pids.max`` set, and every command joins it before it can fork.

A long-lived process tree (the browser) can get a memory cap the same way
(:class:`MemoryLimit`): a group of its own in the ``memory`` hierarchy (cgroup v1's
``memory.limit_in_bytes``, or v2's ``memory.max`` with swap off), which the process joins
before it starts. Over the cap the kernel reclaims, then kills the group's largest process;
:meth:`MemoryLimit.oom_kills` says that it happened.
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


class MemoryLimit:
    """A ``memory`` cgroup of one process tree; :attr:`procs` is the file a process writes
    its pid to to join it."""

    def __init__(self, path: Path, *, v2: bool) -> None:
        self.path = path
        self.procs = path / "cgroup.procs"
        self.limit_bytes = 0
        self._v2 = v2

    @classmethod
    def create(
        cls, session: str, limit_bytes: int, *, owner: str, max_pids: int
    ) -> MemoryLimit | None:
        """Make the group, or return None where this process cannot (not root, or no memory
        controller it may use). ``owner`` is as for :meth:`PidsLimit.create`. Under cgroup v2
        a process is in one group only, so this one carries the session's ``pids.max`` too."""
        if os.geteuid() != 0:
            return None
        found = _base("memory")
        if found is None:
            return None
        base, v2 = found
        path = base / f"errand-{session}-{owner}-{secrets.token_hex(4)}"
        try:
            path.mkdir(mode=0o755)
            if v2:
                (path / "memory.max").write_text(str(limit_bytes), encoding="utf-8")
                with contextlib.suppress(OSError):
                    (path / "memory.swap.max").write_text("0", encoding="utf-8")
                with contextlib.suppress(OSError):
                    (path / "pids.max").write_text(str(max_pids), encoding="utf-8")
            else:
                (path / "memory.limit_in_bytes").write_text(str(limit_bytes), encoding="utf-8")
                with contextlib.suppress(OSError):  # absent without swap accounting
                    (path / "memory.memsw.limit_in_bytes").write_text(
                        str(limit_bytes), encoding="utf-8"
                    )
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()
            return None
        limit = cls(path, v2=v2)
        limit.limit_bytes = limit_bytes
        return limit

    def peak_bytes(self) -> int | None:
        """The most memory the group has used (None where the kernel does not say)."""
        name = "memory.peak" if self._v2 else "memory.max_usage_in_bytes"
        try:
            return int((self.path / name).read_text(encoding="utf-8").split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def oom_kills(self) -> int:
        """How many of the group's processes the kernel killed for being over the cap."""
        name = "memory.events" if self._v2 else "memory.oom_control"
        try:
            lines = (self.path / name).read_text(encoding="utf-8").splitlines()
        except OSError:
            return 0
        for line in lines:
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return 0

    def remove(self) -> None:
        """Remove the group once its processes are gone."""
        with contextlib.suppress(OSError):
            self.path.rmdir()


def memory_base() -> Path | None:
    """The directory of this process's cgroup in a hierarchy with the memory controller."""
    found = _base("memory")
    return found[0] if found else None


def pids_base() -> Path | None:
    """The directory of this process's cgroup in a hierarchy with the pids controller."""
    found = _base("pids")
    return found[0] if found else None


def _base(controller: str) -> tuple[Path, bool] | None:
    """This process's cgroup directory for ``controller``, and whether it is cgroup v2."""
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
        if fstype == "cgroup" and controller in options.split(","):
            v1_mount = Path(mount_point)
        elif fstype == "cgroup2" and v2_mount is None:
            v2_mount = Path(mount_point)
    for line in groups:
        _id, controllers, rel = line.split(":", 2)
        if v1_mount is not None and controller in controllers.split(","):
            return v1_mount / rel.lstrip("/"), False
        if v1_mount is None and v2_mount is not None and controllers == "":
            base = v2_mount / rel.lstrip("/")
            try:
                if controller not in (base / "cgroup.controllers").read_text(encoding="utf-8"):
                    return None
                subtree = (base / "cgroup.subtree_control").read_text(encoding="utf-8")
                if controller not in subtree:
                    (base / "cgroup.subtree_control").write_text(f"+{controller}", encoding="utf-8")
            except OSError:
                return None
            return base, True
    return None
