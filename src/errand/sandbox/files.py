"""Host-side file access confined to one granted folder, safe against symlinks and races.

The agent's file tools (read, write, edit, list, glob) run in the Errand process, next to a
sandbox that may be rewriting the same folder at the same moment. So no path is ever resolved
and then opened: every path is opened relative to a directory fd of the granted root with
``openat2(2)`` and ``RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS``; the kernel refuses any step
(``..``, an absolute symlink, a symlink leading out) that would leave the root, atomically with
the open. Anything that writes also passes ``RESOLVE_NO_SYMLINKS``, and the last component is
never followed. Writes go to a temporary file in the target's directory and are renamed over
the target, so a hardlink to an outside file is replaced, never modified.

The protected paths of :mod:`errand.sandbox.protected` can be read but not written, created,
renamed or removed, and their parents (``.git``, ``.github``) cannot be replaced, renamed or
removed. The check is on the path as given (and its lowercase form, for case-insensitive
file systems); it relies on the sandbox's mounts to keep a protected directory from being
renamed into place under the caller.

Without ``openat2`` (Linux before 5.6) nothing here works: :class:`GrantedRoot` refuses to
open rather than fall back to path resolution in user space.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fnmatch
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, Self

from errand.sandbox.errors import PathRefused, SandboxUnavailable
from errand.sandbox.protected import is_protected, is_protected_parent
from errand.sandbox.trusted import GrantRefused, covers_for

EntryKind = Literal["file", "dir", "symlink", "other"]

_SYS_OPENAT2: Final = 437  # the same number on every architecture
_RESOLVE_NO_MAGICLINKS: Final = 0x02
_RESOLVE_NO_SYMLINKS: Final = 0x04
_RESOLVE_BENEATH: Final = 0x08
_READ_RESOLVE: Final = _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS
_WRITE_RESOLVE: Final = _READ_RESOLVE | _RESOLVE_NO_SYMLINKS
_RENAME_NOREPLACE: Final = 1
# No O_NOFOLLOW: a symlink must fail the walk (ELOOP from RESOLVE_NO_SYMLINKS), not be opened.
_DIR_PATH: Final = os.O_PATH | os.O_DIRECTORY
# The kernel answers EAGAIN when a rename elsewhere races a lookup under RESOLVE_BENEATH.
_RACE_RETRIES: Final = 32
_READ_CHUNK: Final = 1 << 20
_MAX_NAME_BYTES: Final = 255
_GLOB_VISIT_BUDGET: Final = 200_000


@dataclass(frozen=True)
class Entry:
    """What a directory listing or stat reports about one path (symlinks are not followed)."""

    name: str
    kind: EntryKind
    size: int
    mtime: float


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.renameat2.argtypes = (
    ctypes.c_int,
    ctypes.c_char_p,
    ctypes.c_int,
    ctypes.c_char_p,
    ctypes.c_uint,
)
_libc.renameat2.restype = ctypes.c_int


def _openat2(dir_fd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2) with close-on-exec; raises OSError with the errno, retrying EAGAIN races."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    encoded = os.fsencode(path)
    for _ in range(_RACE_RETRIES):
        fd = _libc.syscall(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(dir_fd),
            ctypes.c_char_p(encoded),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return int(fd)
        code = ctypes.get_errno()
        if code != errno.EAGAIN:
            raise OSError(code, os.strerror(code), path)
    raise OSError(errno.EAGAIN, "the folder kept changing during the lookup", path)


class GrantedRoot:
    """One granted folder, opened once; every operation stays beneath it.

    Paths are relative to the root, ``/``-separated, without ``..``; the tool layer maps
    sandbox paths (``/sessions/<s>/mnt/<name>/...``) to these before calling. Errors:
    :class:`PathRefused` (a :class:`PermissionError`) for paths outside the grant, through a
    symlink, protected, or writes to a read-only grant; otherwise the usual
    :class:`FileNotFoundError`, :class:`IsADirectoryError`, :class:`NotADirectoryError`.
    Close it (or use it as a context manager) to release the directory fd.
    """

    def __init__(self, path: Path, *, writable: bool, errand_own: bool = False) -> None:
        """Open the root directory.

        ``errand_own`` says the root is a directory Errand keeps itself (a task's saved
        artifacts, served by the gateway, never granted to a task): it may lie inside Errand's
        data directory. Every other root refuses Errand's own directories.

        Raises:
            SandboxUnavailable: the kernel has no ``openat2`` (Linux 5.6 or newer is needed).
            OSError: the folder cannot be opened.
        """
        self.path = path
        self.writable = writable
        real = Path(os.path.realpath(path))
        if errand_own:
            self._hidden: tuple[Path, ...] = ()
        else:
            try:
                self._hidden = tuple(real / c.rel for c in covers_for(real) if c.hide)
            except GrantRefused as exc:
                raise PathRefused(f"{exc}; file tools cannot use it") from None
        self._fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.close(_openat2(self._fd, ".", os.O_PATH | os.O_DIRECTORY, _READ_RESOLVE))
        except OSError as exc:
            os.close(self._fd)
            if exc.errno in (errno.ENOSYS, errno.EPERM, errno.E2BIG, errno.EINVAL):
                raise SandboxUnavailable(
                    "this kernel cannot confine file access to a folder (openat2 is missing)",
                    "run Errand on Linux 5.6 or newer; file tools refuse to work without it",
                ) from exc
            raise

    def close(self) -> None:
        """Release the directory fd; later calls fail."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------

    def read_bytes(self, rel: str, *, max_bytes: int) -> tuple[bytes, bool]:
        """Read a regular file: at most ``max_bytes`` bytes, and whether there was more.

        Symlinks inside the grant are followed in the middle of the path, never at its end.
        """
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        parts = _parts(rel)
        fd = self._open_regular(rel, parts, os.O_RDONLY, _READ_RESOLVE)
        try:
            chunks: list[bytes] = []
            wanted = max_bytes + 1  # one byte past the limit tells whether there is more
            while wanted > 0:
                chunk = os.read(fd, min(wanted, _READ_CHUNK))
                if not chunk:
                    break
                chunks.append(chunk)
                wanted -= len(chunk)
        finally:
            os.close(fd)
        data = b"".join(chunks)
        return data[:max_bytes], len(data) > max_bytes

    def stat(self, rel: str) -> Entry:
        """Describe a path without following a symlink at its end."""
        parts = _parts(rel)
        fd = self._open(rel, "/".join(parts) or ".", os.O_PATH | os.O_NOFOLLOW, _READ_RESOLVE)
        try:
            return _entry(parts[-1] if parts else ".", os.fstat(fd))
        finally:
            os.close(fd)

    def list_dir(self, rel: str = ".", *, limit: int = 10_000) -> tuple[list[Entry], bool]:
        """The entries of a directory sorted by name: at most ``limit``, and whether there
        were more."""
        parts = _parts(rel)
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
        try:
            fd = self._open(rel, "/".join(parts) or ".", flags, _READ_RESOLVE)
        except NotADirectoryError:
            if self.stat(rel).kind == "symlink":
                raise PathRefused(f"{rel!r} is a symlink; file tools do not follow links") from None
            raise
        try:
            entries: list[Entry] = []
            truncated = False
            with os.scandir(fd) as scan:
                for item in scan:
                    if len(entries) >= limit:
                        truncated = True
                        break
                    try:
                        entries.append(_entry(item.name, item.stat(follow_symlinks=False)))
                    except FileNotFoundError:
                        continue  # removed while we listed
        finally:
            os.close(fd)
        return sorted(entries, key=lambda e: e.name), truncated

    def glob(self, pattern: str, *, limit: int) -> tuple[list[str], bool]:
        """Relative paths that match ``pattern``, sorted, at most ``limit``; and whether the
        result was cut short (by ``limit`` or by the walk's own bound).

        ``*``, ``?`` and ``[...]`` match within one name; ``**`` as a whole component matches
        any number of directories. Symlinked directories are listed but not entered.
        """
        parts = _parts(pattern)
        if not parts:
            raise ValueError("the glob pattern is empty")
        fixed: list[str] = []
        for part in parts[:-1]:
            if _has_magic(part):
                break
            fixed.append(part)
        unbounded = "**" in parts
        max_depth = len(parts) - len(fixed)
        found: list[str] = []
        visits = 0
        stack: list[tuple[str, int]] = [("/".join(fixed), 0)]
        while stack:
            directory, depth = stack.pop()
            for name, is_dir in self._names(directory):
                visits += 1
                if visits > _GLOB_VISIT_BUDGET:
                    return sorted(found), True
                rel = f"{directory}/{name}" if directory else name
                if _glob_match(parts, rel.split("/")):
                    if len(found) >= limit:
                        return sorted(found), True
                    found.append(rel)
                if is_dir and (unbounded or depth + 1 < max_depth):
                    stack.append((rel, depth + 1))
        return sorted(found), False

    # -- writing ---------------------------------------------------------------------------

    def write_bytes(self, rel: str, data: bytes, *, make_parents: bool = True) -> None:
        """Replace (or create) a file atomically with ``data``.

        The new content is written to a temporary file in the same directory, flushed to
        disk and renamed over the target: readers see the old or the new file, never a mix,
        and a hardlinked target is replaced rather than modified. An existing file keeps its
        permission bits.
        """
        parts = self._writable_parts(rel)
        dir_fd = self._directory(rel, parts[:-1], create=make_parents)
        try:
            self._replace(rel, dir_fd, parts[-1], data)
        finally:
            os.close(dir_fd)

    def check_write(self, rel: str) -> None:
        """Refuse a write to ``rel`` as :meth:`write_bytes` would (read-only grant, protected
        path, a link on the way, a directory at ``rel``) without writing anything; for
        writes that another layer carries out (the sandbox's change layer)."""
        parts = self._writable_parts(rel)
        try:
            dir_fd = self._directory(rel, parts[:-1], create=False)
        except FileNotFoundError:
            return  # missing parents are created by the write
        try:
            existing = self._open(rel, parts[-1], os.O_PATH | os.O_NOFOLLOW, _WRITE_RESOLVE, dir_fd)
        except FileNotFoundError:
            return
        finally:
            os.close(dir_fd)
        try:
            _require_regular(rel, os.fstat(existing))
        finally:
            os.close(existing)

    def replace_text(self, rel: str, old: str, new: str, *, encoding: str = "utf-8") -> int:
        """Replace the one occurrence of ``old`` in a text file with ``new``; returns 1.

        Raises:
            ValueError: ``old`` is empty, missing, or occurs more than once.
        """
        parts = self._writable_parts(rel)
        if not old:
            raise ValueError("the text to replace is empty; give the exact text to change")
        dir_fd = self._directory(rel, parts[:-1], create=False)
        try:
            fd = self._open_regular(rel, [parts[-1]], os.O_RDONLY, _WRITE_RESOLVE, dir_fd)
            with os.fdopen(fd, "r", encoding=encoding, newline="") as file:
                text = file.read()
            count = text.count(old)
            if count == 0:
                raise ValueError(f"the text to replace was not found in {rel!r}")
            if count > 1:
                raise ValueError(
                    f"the text to replace occurs {count} times in {rel!r}; include more of "
                    "the surrounding text so that it matches exactly once"
                )
            self._replace(rel, dir_fd, parts[-1], text.replace(old, new, 1).encode(encoding))
        finally:
            os.close(dir_fd)
        return 1

    def mkdir(self, rel: str, *, parents: bool = True, exist_ok: bool = True) -> None:
        """Create a directory (and, with ``parents``, the missing ones above it)."""
        parts = self._writable_parts(rel)
        dir_fd = self._directory(rel, parts[:-1], create=parents)
        try:
            os.mkdir(parts[-1], 0o777, dir_fd=dir_fd)
        except FileExistsError:
            if not exist_ok:
                raise
            os.close(self._open(rel, parts[-1], _DIR_PATH, _WRITE_RESOLVE, dir_fd))
        finally:
            os.close(dir_fd)

    def remove(self, rel: str) -> None:
        """Remove a file, a symlink (not its target) or an empty directory."""
        parts = self._writable_parts(rel)
        dir_fd = self._directory(rel, parts[:-1], create=False)
        try:
            try:
                os.unlink(parts[-1], dir_fd=dir_fd)
            except IsADirectoryError:
                os.rmdir(parts[-1], dir_fd=dir_fd)
        finally:
            os.close(dir_fd)

    def rename(self, src: str, dst: str, *, overwrite: bool = False) -> None:
        """Move a path within the grant; without ``overwrite`` an existing ``dst`` is kept.

        Raises:
            FileExistsError: ``dst`` exists and ``overwrite`` is false.
        """
        src_parts = self._writable_parts(src)
        dst_parts = self._writable_parts(dst)
        src_dir = self._directory(src, src_parts[:-1], create=False)
        try:
            dst_dir = self._directory(dst, dst_parts[:-1], create=False)
            try:
                rc = _libc.renameat2(
                    src_dir,
                    os.fsencode(src_parts[-1]),
                    dst_dir,
                    os.fsencode(dst_parts[-1]),
                    0 if overwrite else _RENAME_NOREPLACE,
                )
                if rc != 0:
                    code = ctypes.get_errno()
                    raise OSError(code, os.strerror(code), src, dst)
            finally:
                os.close(dst_dir)
        finally:
            os.close(src_dir)

    # -- internals -------------------------------------------------------------------------

    def _writable_parts(self, rel: str) -> list[str]:
        parts = _parts(rel)
        if not self.writable:
            raise PathRefused(f"{rel!r} is in a folder granted read-only; nothing was changed")
        if not parts:
            raise PathRefused("the granted folder itself cannot be replaced, moved or removed")
        joined = "/".join(parts)
        for candidate in dict.fromkeys((joined, joined.lower())):
            if is_protected(candidate) or is_protected_parent(candidate):
                raise PathRefused(
                    f"{rel!r} is a protected path (git, editor, CI, shell and Errand "
                    "configuration); it can be read but not changed"
                )
        for name in parts:
            if len(os.fsencode(name)) > _MAX_NAME_BYTES:
                raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), rel)
        return parts

    def _directory(self, rel: str, parts: list[str], *, create: bool) -> int:
        """An O_PATH fd of the directory ``parts``, walked one name at a time, creating
        missing ones when asked; no component may be a symlink."""
        fd = os.dup(self._fd)
        try:
            for depth, name in enumerate(parts):
                try:
                    child = self._open(rel, name, _DIR_PATH, _WRITE_RESOLVE, fd)
                except FileNotFoundError:
                    created = "/".join(parts[: depth + 1])
                    if not create:
                        raise
                    if is_protected_parent(created) or is_protected_parent(created.lower()):
                        raise PathRefused(
                            f"{rel!r} would create {created!r}, which only git may create"
                        ) from None
                    # Created meanwhile? The open below decides what it is.
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, 0o777, dir_fd=fd)
                    child = self._open(rel, name, _DIR_PATH, _WRITE_RESOLVE, fd)
                os.close(fd)
                fd = child
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _replace(self, rel: str, dir_fd: int, name: str, data: bytes) -> None:
        mode = 0o666 & ~_umask()
        owner: tuple[int, int] | None = None
        try:
            existing = self._open(rel, name, os.O_PATH | os.O_NOFOLLOW, _WRITE_RESOLVE, dir_fd)
        except FileNotFoundError:
            pass
        else:
            try:
                info = os.fstat(existing)
            finally:
                os.close(existing)
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), rel)
            if stat.S_ISLNK(info.st_mode):
                raise PathRefused(f"{rel!r} is a symlink; file tools do not write through links")
            if not stat.S_ISREG(info.st_mode):
                raise PathRefused(f"{rel!r} is not a regular file")
            mode = stat.S_IMODE(info.st_mode) & 0o777
            owner = (info.st_uid, info.st_gid)
        temp = f".{name[:40]}.{secrets.token_hex(6)}.errand-tmp"  # stays under NAME_MAX
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = self._open(rel, temp, flags, _WRITE_RESOLVE, dir_fd, mode=0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if owner is not None and os.geteuid() == 0:
                    os.fchown(fd, *owner)  # Errand as root must not take the user's file
                os.fchmod(fd, mode)
                os.fsync(fd)
            finally:
                os.close(fd)
            # Renaming never follows a link: whatever sits at ``name`` now is replaced.
            os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=dir_fd)
            raise

    def _names(self, directory: str) -> Iterator[tuple[str, bool]]:
        """(name, is a real directory) for each entry; missing or unreadable dirs are empty."""
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
        try:
            fd = self._open(directory, directory or ".", flags, _WRITE_RESOLVE)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return
        try:
            with os.scandir(fd) as scan:
                for item in scan:
                    try:
                        is_dir = item.is_dir(follow_symlinks=False)
                    except OSError:
                        continue
                    yield item.name, is_dir
        finally:
            os.close(fd)

    def _open_regular(
        self, rel: str, parts: list[str], flags: int, resolve: int, dir_fd: int | None = None
    ) -> int:
        """Open a regular file, checked before the real open so that a device or FIFO is
        never opened, and checked again after it in case one was swapped in."""
        path = "/".join(parts) or "."
        probe = self._open(rel, path, os.O_PATH | os.O_NOFOLLOW, resolve, dir_fd)
        try:
            before = os.fstat(probe)
        finally:
            os.close(probe)
        _require_regular(rel, before)
        fd = self._open(rel, path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, resolve, dir_fd)
        after = os.fstat(fd)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            os.close(fd)
            raise PathRefused(f"{rel!r} changed while it was being opened; try again")
        return fd

    def _open(
        self,
        rel: str,
        path: str,
        flags: int,
        resolve: int,
        dir_fd: int | None = None,
        *,
        mode: int = 0,
    ) -> int:
        if self._fd < 0:
            raise ValueError("the granted folder was closed")
        try:
            fd = _openat2(self._fd if dir_fd is None else dir_fd, path, flags, resolve, mode)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                raise PathRefused(f"{rel!r} leads outside the granted folder") from None
            if exc.errno == errno.ELOOP:
                raise PathRefused(
                    f"{rel!r} goes through a symlink; name the file itself, inside the folder"
                ) from None
            if exc.errno == errno.ENOSYS:
                raise PathRefused(f"{rel!r}: this kernel cannot open files safely") from None
            raise OSError(exc.errno, exc.strerror, rel) from None
        if self._hidden and self._is_hidden(fd):
            os.close(fd)
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), rel)
        return fd

    def _is_hidden(self, fd: int) -> bool:
        """Whether an open file lies in one of Errand's own directories (as the sandbox
        hides them); judged on the path the kernel reports for the open file, so symlinks
        inside the grant cannot reach them either."""
        try:
            where = Path(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            return True
        return any(where == h or where.is_relative_to(h) for h in self._hidden)


def _parts(rel: str) -> list[str]:
    """The names of a relative path; refuses absolute paths, ``..`` and NUL bytes."""
    if "\x00" in rel:
        raise PathRefused(f"{rel!r} contains a NUL byte")
    if rel.startswith("/"):
        raise PathRefused(f"{rel!r} is absolute; give a path relative to the granted folder")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PathRefused(f"{rel!r} contains '..'; name paths inside the folder without it")
    return parts


def _require_regular(rel: str, info: os.stat_result) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), rel)
    if stat.S_ISLNK(info.st_mode):
        raise PathRefused(f"{rel!r} is a symlink; file tools do not follow links")
    if not stat.S_ISREG(info.st_mode):
        raise PathRefused(f"{rel!r} is not a regular file (a device, socket or pipe)")


def _entry(name: str, info: os.stat_result) -> Entry:
    kind: EntryKind
    if stat.S_ISREG(info.st_mode):
        kind = "file"
    elif stat.S_ISDIR(info.st_mode):
        kind = "dir"
    elif stat.S_ISLNK(info.st_mode):
        kind = "symlink"
    else:
        kind = "other"
    return Entry(name=name, kind=kind, size=info.st_size, mtime=info.st_mtime)


def _umask() -> int:
    # Reading the umask means setting it; Linux 4.7+ reports it in /proc without a race.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _has_magic(part: str) -> bool:
    return any(c in part for c in "*?[")


def _glob_match(pattern: list[str], names: list[str]) -> bool:
    """Whether ``names`` match ``pattern`` component by component; ``**`` spans any number
    of names. A set of pattern positions is advanced per name, so the cost stays linear."""

    def closure(positions: set[int]) -> set[int]:
        out = set(positions)
        for position in sorted(positions):
            while position < len(pattern) and pattern[position] == "**":
                position += 1
                out.add(position)
        return out

    states = closure({0})
    for name in names:
        following: set[int] = set()
        for position in states:
            if position == len(pattern):
                continue
            if pattern[position] == "**":
                following.add(position)
            elif fnmatch.fnmatchcase(name, pattern[position]):
                following.add(position + 1)
        states = closure(following)
        if not states:
            return False
    return len(pattern) in states
