"""Empty files that stand in for absent protected paths while commands run.

A protected path that does not exist (``.envrc``, ``.git`` in a fresh folder) is blocked by
mounting ``/dev/null`` over an empty placeholder file in the user's folder, which needs that
file to exist for as long as a command runs. All sessions of a process share the placeholders:
two commands on the same folder share one, and the last to finish removes it, so the folder is
left as it was found.

If Errand is killed mid-command its placeholders would stay behind (an empty ``.git`` file
breaks git). So each process journals the placeholders it holds, and the next process to start
a sandbox removes those of processes that are gone.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path


def process_start_time(pid: int) -> str | None:
    """When a process started (clock ticks since boot), to tell it from a later one that
    reused its pid; None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            # The command name (field 2) may hold spaces; the fields after ")" are fixed.
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _default_journal() -> Path:
    return Path(tempfile.gettempdir()) / f"errand-placeholders-{os.geteuid()}"


class PlaceholderRegistry:
    """The placeholders this process holds, counted, and journalled in ``journal_dir``."""

    def __init__(self, journal_dir: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._counts: dict[Path, int] = {}
        self._dir = journal_dir or _default_journal()
        self._swept = False

    @property
    def _journal(self) -> Path:
        me = os.getpid()
        return self._dir / f"{me}-{process_start_time(me)}"

    def acquire(self, root: Path, rels: Sequence[str]) -> list[Path]:
        """Create (or share) a placeholder at each ``root/rel``; returns those now held."""
        taken: list[Path] = []
        with self._lock:
            created = False
            for rel in rels:
                path = root / rel
                if path not in self._counts:
                    try:
                        fd = os.open(
                            path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o444
                        )
                    except FileExistsError:
                        continue  # someone else's file now: it is covered as it stands
                    os.close(fd)
                    self._counts[path] = 0
                    created = True
                self._counts[path] += 1
                taken.append(path)
            if created:
                self._write_journal()
        return taken

    def release(self, paths: Sequence[Path]) -> None:
        """Give placeholders back; the last holder removes each one."""
        with self._lock:
            removed = False
            for path in paths:
                self._counts[path] -= 1
                if self._counts[path] == 0:
                    del self._counts[path]
                    _remove_if_placeholder(path)
                    removed = True
            if removed:
                self._write_journal()

    def sweep(self) -> list[Path]:
        """Once per process: remove placeholders left by processes that are gone."""
        with self._lock:
            if self._swept:
                return []
            self._swept = True
        if not _private_dir(self._dir):
            return []
        removed: list[Path] = []
        for journal in self._dir.iterdir():
            pid, _, started = journal.name.partition("-")
            if not pid.isdigit() or process_start_time(int(pid)) == started:
                continue
            with contextlib.suppress(OSError):
                for line in journal.read_text(encoding="utf-8").splitlines():
                    if line and _remove_if_placeholder(Path(line)):
                        removed.append(Path(line))
                journal.unlink()
        return removed

    def _write_journal(self) -> None:
        if not _private_dir(self._dir, create=True):
            return
        journal = self._journal
        if not self._counts:
            with contextlib.suppress(FileNotFoundError):
                journal.unlink()
            return
        temp = journal.with_name(journal.name + ".new")
        temp.write_text("".join(f"{path}\n" for path in self._counts), encoding="utf-8")
        temp.replace(journal)


def _remove_if_placeholder(path: Path) -> bool:
    """Remove ``path`` if it is still an empty regular file (never a symlink)."""
    with contextlib.suppress(OSError):
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode) and st.st_size == 0:
            os.unlink(path)
            return True
    return False


def _private_dir(path: Path, *, create: bool = False) -> bool:
    """Whether ``path`` is a directory only this user can write (made so when asked)."""
    if create:
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022
