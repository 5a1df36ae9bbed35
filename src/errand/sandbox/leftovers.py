"""What a sandbox leaves on the host while it runs, named for the process that owns it.

A session holds a runtime folder (``/tmp/errand-<session>-<owner>-XXXX``, its /etc and
sockets) and, as root, a pids cgroup (``errand-<session>-<owner>-XXXX``; a browser has a
memory cgroup named the same way). Both are removed
when the session closes; after a kill -9 nothing closes it. So ``<owner>`` is the owning
process's pid and start time (``<pid>.<start>``), and the next process to start a sandbox
removes the folders and groups whose owner is gone. A pid reused by a later process has
another start time, so a live owner's things are never touched; names without an owner (made
by something else) are never touched either.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
from pathlib import Path

from errand.sandbox.cgroup import memory_base, pids_base


def process_start_time(pid: int) -> str | None:
    """When a process started (clock ticks since boot), to tell it from a later one that
    reused its pid; None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            # The command name (field 2) may hold spaces; the fields after ")" are fixed.
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


_NAME = re.compile(r"^errand-.+-(?P<pid>\d+)\.(?P<started>\d+)-[A-Za-z0-9_]+$")
_swept = False
_lock = threading.Lock()


def owner_tag() -> str:
    """``<pid>.<start time>`` of this process, for the names of what its sessions create."""
    me = os.getpid()
    return f"{me}.{process_start_time(me) or 0}"


def owner_is_gone(name: str) -> bool:
    """Whether ``name`` carries an owner tag whose process no longer runs."""
    found = _NAME.match(name)
    if found is None:
        return False
    return process_start_time(int(found["pid"])) != found["started"]


def sweep_once() -> list[Path]:
    """Once per process: remove runtime folders and cgroups whose owner process is gone.

    Returns what was removed. Failures are skipped (a group whose processes still run stays,
    and is tried again by the next process).
    """
    global _swept
    with _lock:
        if _swept:
            return []
        _swept = True
    if os.geteuid() != 0:
        return sweep(Path(tempfile.gettempdir()), None)
    removed = sweep(Path(tempfile.gettempdir()), pids_base())
    memory = memory_base()
    if memory is not None and memory != pids_base():  # cgroup v1: a hierarchy of its own
        removed += sweep(None, memory)
    return removed


def sweep(runtime_parent: Path | None, cgroup_parent: Path | None) -> list[Path]:
    """Remove the dead owners' runtime folders under ``runtime_parent`` and pids groups
    under ``cgroup_parent``; returns what was removed."""
    removed: list[Path] = []
    for path in _dead_entries(runtime_parent) if runtime_parent is not None else []:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid():
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                removed.append(path)
    if cgroup_parent is not None:
        for path in _dead_entries(cgroup_parent):
            _kill_group(path)
            with contextlib.suppress(OSError):
                path.rmdir()
                removed.append(path)
    return removed


def _dead_entries(parent: Path) -> list[Path]:
    try:
        names = os.listdir(parent)
    except OSError:
        return []
    return [parent / name for name in names if owner_is_gone(name)]


def _kill_group(path: Path) -> None:
    """End what still runs in a dead owner's group (orphans of a killed sandbox)."""
    kill = path / "cgroup.kill"
    if kill.exists():  # cgroup v2 kills the whole group at once
        with contextlib.suppress(OSError):
            kill.write_text("1", encoding="utf-8")
        return
    with contextlib.suppress(OSError):
        for line in (path / "cgroup.procs").read_text(encoding="utf-8").split():
            with contextlib.suppress(OSError):
                os.kill(int(line), signal.SIGKILL)
