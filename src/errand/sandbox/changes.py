"""The change layer: what a task's commands changed in a read-write folder, applied safely.

A read-write folder is shown to the sandbox as an overlay: the user's folder is the read-only
lower layer and the task's own *upper* directory (in the task's storage, never in the user's
folder) receives every write, whatever made it. While no command runs, Errand applies the
upper layer to the user's folder (:meth:`FolderLayer.apply`):

- each created or modified file is copied to a staging file and renamed over its target, so
  the folder holds the old or the new file, never a mix; deletions remove the target;
- the file it replaces is kept first (a hard link, or a renamed directory) as its
  *pre-image*, the basis of undo;
- protected paths (:mod:`errand.sandbox.protected`) are refused and reported, never applied;
- a file that changed in the user's folder since the task's command started (by the user or
  another task) is a *conflict*: it is reported and kept in the upper layer, not applied;
- with ``hold`` the changes are only reported, and stay in the upper layer (the task keeps
  seeing them) until applied or discarded.

Applying is journalled: the plan is written to ``journal.json`` before the folder is touched,
each step is idempotent, and :meth:`FolderLayer.recover` (run whenever a layer is opened)
finishes a plan that a crash interrupted. A kill -9 at any moment therefore leaves the folder
as applied changes left it, once the layer is next opened.

The overlay's own marks are read as the kernel writes them for an unprivileged mount
(``userxattr``): a character device 0/0 is a deletion, a directory with the
``user.overlay.opaque`` attribute replaced whatever was there. A rename shows as a deletion
and a creation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import shutil
import stat
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal, cast

from errand.sandbox.protected import PROTECTED_PATHS, is_protected, is_protected_parent

_OPAQUE = "user.overlay.opaque"
_CHUNK = 1 << 20
_DIR_OPEN = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class ChangeKind(StrEnum):
    CREATED = "created"
    MODIFIED = "modified"
    DELETED = "deleted"


ChangeStatus = Literal["applied", "held", "conflict", "refused"]
_STATUSES = ("applied", "held", "conflict", "refused")


@dataclass(frozen=True, slots=True)
class Change:
    """One path a task changed in one folder, and what became of it.

    ``path`` is relative to the folder's root; ``pre_image`` names the kept original (in the
    layer's storage) when there was one; ``reason`` says why a change was not applied.
    """

    folder: str
    path: str
    kind: ChangeKind
    is_dir: bool
    size_before: int | None
    size_after: int | None
    status: ChangeStatus
    pre_image: str | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, object]:
        """A JSON-ready view."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class LoggedChange:
    """A change as the layer's log holds it: ``stamp`` is the (size, mtime) the path had
    right after it was applied, to tell whether it changed since; ``undone`` whether a later
    undo reversed it."""

    key: str
    change: Change
    stamp: tuple[int, ...] | None
    undone: bool


def _change_from(record: dict[str, object]) -> Change:
    def num(name: str) -> int | None:
        value = record.get(name)
        return value if isinstance(value, int) else None

    status = str(record.get("status"))
    return Change(
        folder=str(record.get("folder")),
        path=str(record.get("path")),
        kind=ChangeKind(str(record.get("kind"))),
        is_dir=bool(record.get("is_dir")),
        size_before=num("size_before"),
        size_after=num("size_after"),
        status=cast(ChangeStatus, status if status in _STATUSES else "applied"),
        pre_image=str(record["pre_image"]) if record.get("pre_image") else None,
        reason=str(record["reason"]) if record.get("reason") else None,
    )


def _stamp(path: Path) -> list[int] | None:
    info = _lstat(path)
    if info is None or stat.S_ISDIR(info.st_mode):
        return None
    return [info.st_size, info.st_mtime_ns]


@dataclass(frozen=True, slots=True)
class _Entry:
    rel: str
    kind: ChangeKind
    is_dir: bool


class FolderLayer:
    """One read-write folder's layers for one task, kept in ``storage``.

    ``root`` is the user's folder (the overlay's lower layer); ``upper`` and ``work`` are the
    overlay's upper and work directories; ``pre`` keeps pre-images; ``name`` is the folder's
    grant name, used in reports.
    """

    def __init__(self, root: Path, storage: Path, name: str) -> None:
        self.root = root
        self.storage = storage
        self.name = name
        self.upper = storage / "upper"
        self.work = storage / "work"
        self.pre = storage / "pre"
        self.stage = storage / "stage"
        self._journal = storage / "journal.json"
        for path in (storage, self.upper, self.work, self.pre):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        about = storage / "folder.json"
        if not about.exists():
            about.write_text(json.dumps({"root": str(root), "name": name}), encoding="utf-8")
        self.recover()

    # -- reading the upper layer -----------------------------------------------------------

    def untouched(self) -> bool:
        """Whether the upper layer holds nothing at all (then :meth:`apply` has nothing to
        do but forget when held changes began, and costs a few system calls)."""
        return _empty(self.upper)

    def pending(self) -> list[_Entry]:
        """What the upper layer holds, parents before children."""
        found: list[_Entry] = []
        self._walk(self.upper, "", found)
        return found

    def _walk(self, directory: Path, prefix: str, found: list[_Entry]) -> None:
        with os.scandir(directory) as scan:
            items = sorted(scan, key=lambda item: item.name)
        for item in items:
            rel = f"{prefix}{item.name}"
            st = item.stat(follow_symlinks=False)
            lower = _lstat(self.root / rel)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                if lower is not None:
                    found.append(_Entry(rel, ChangeKind.DELETED, stat.S_ISDIR(lower.st_mode)))
                continue
            if stat.S_ISDIR(st.st_mode):
                lower_dir = lower is not None and stat.S_ISDIR(lower.st_mode)
                if lower is not None and (not lower_dir or _is_opaque(item.path)):
                    # Replaced: the old one goes (kept as a pre-image), a new directory comes.
                    found.append(_Entry(rel, ChangeKind.DELETED, lower_dir))
                    lower_dir = False
                if not lower_dir:
                    found.append(_Entry(rel, ChangeKind.CREATED, True))
                self._walk(Path(item.path), rel + "/", found)
                continue
            kind = ChangeKind.CREATED if lower is None else ChangeKind.MODIFIED
            if kind is ChangeKind.MODIFIED and _same_content(Path(item.path), self.root / rel):
                continue  # copied up without a change (opened for writing, touched)
            found.append(_Entry(rel, kind, False))

    def stage_file(self, rel: str, data: bytes) -> None:
        """Put new content for ``rel`` into the upper layer, as a command in the sandbox would
        have (a file tool's write); parent directories are created there as needed. The file
        keeps the permission bits of the one it replaces. Must only be called while the
        overlay is not mounted; :meth:`apply` then applies it like any other change."""
        parent, name = _split(rel)
        directory = self.upper
        for part in parent:
            directory = directory / part
            info = _lstat(directory)
            if info is not None and not stat.S_ISDIR(info.st_mode):
                directory.unlink()  # a whiteout: the task deleted it, and now writes in it
                info = None
            if info is None:
                directory.mkdir(mode=0o755)
        existing = _lstat(self.root / rel)
        mode = stat.S_IMODE(existing.st_mode) if existing is not None else 0o644
        target = directory / name
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISDIR(os.lstat(target).st_mode):
                target.unlink()
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(target, mode)

    # -- applying ----------------------------------------------------------------------------

    def apply(
        self,
        *,
        since_ns: int | None = None,
        hold: bool = False,
        paths: Collection[str] = (),
    ) -> list[Change]:
        """Apply (or, with ``hold``, only report) what the upper layer holds: everything, or
        only what is at or under ``paths`` (with the new directories those need); the rest
        stays held.

        ``since_ns`` is when the task's view of these paths was taken (the start of the
        command; by default, when the changes now held began to be held, else now): a target
        changed after it is a conflict. Must only be called while the overlay is not mounted.
        """
        held_since = self._held_since()
        since_ns = time.time_ns() if since_ns is None else since_ns
        if hold and held_since is None:
            (self.storage / "held-since").write_text(str(since_ns), encoding="utf-8")
        elif held_since is not None:
            since_ns = min(since_ns, held_since)
        entries = _selected(self.pending(), paths)
        changes: list[Change] = []
        plan: list[dict[str, object]] = []
        refused: list[Change] = []
        for number, entry in enumerate(entries):
            refusal = _refusal(entry.rel)
            before = _lstat(self.root / entry.rel)
            after = _lstat(self.upper / entry.rel)
            size_before = _size(before)
            size_after = None if entry.kind is ChangeKind.DELETED else _size(after)
            status: ChangeStatus = "held" if hold else "applied"
            reason = None
            if refusal is not None:
                if _placeholder(entry, after):
                    self._drop(entry.rel)  # a mount point bwrap made for a guard
                    continue
                status, reason = "refused", refusal
            elif not hold and _changed_since(entry, before, since_ns):
                status, reason = "conflict", "changed in the folder since the task read it"
            pre = None
            keeps = not entry.is_dir or entry.kind is ChangeKind.DELETED
            if status == "applied" and before is not None and keeps:
                pre = f"{time.time_ns()}-{number}"
            changes.append(
                Change(
                    self.name,
                    entry.rel,
                    entry.kind,
                    entry.is_dir,
                    size_before,
                    size_after,
                    status,
                    pre,
                    reason,
                )
            )
            if status == "applied":
                plan.append(
                    {
                        "rel": entry.rel,
                        "kind": entry.kind.value,
                        "pre": pre,
                        "drop": True,
                        "change": changes[-1].as_json(),
                    }
                )
            elif status == "refused":
                refused.append(changes[-1])
        for change in refused:  # reported once, never applied
            self._drop(change.path)
        if refused:
            self._log([{**c.as_json(), "stamp": None} for c in refused])
        if plan:
            self._write_journal(plan)
            self._run(plan)
        if not hold and _empty(self.upper):
            with contextlib.suppress(FileNotFoundError):
                (self.storage / "held-since").unlink()
        return changes

    def report(self) -> list[Change]:
        """What the upper layer holds now (held for review, or in conflict), as changes with
        status ``held``; nothing is applied."""
        out: list[Change] = []
        for entry in self.pending():
            if _refusal(entry.rel) is not None:
                continue
            before = _lstat(self.root / entry.rel)
            after = _lstat(self.upper / entry.rel)
            size_after = None if entry.kind is ChangeKind.DELETED else _size(after)
            out.append(
                Change(
                    self.name, entry.rel, entry.kind, entry.is_dir, _size(before), size_after,
                    "held",
                )
            )  # fmt: skip
        return out

    def discard_paths(self, paths: Collection[str] = ()) -> list[str]:
        """Drop held changes from the upper layer: those at or under ``paths``, or all;
        returns the paths dropped. The user's folder is not touched."""
        dropped = []
        for entry in reversed(self.pending()):
            if paths and not _under_any(entry.rel, paths):
                continue
            self._drop(entry.rel, only_applied=entry.is_dir)
            dropped.append(entry.rel)
        return dropped[::-1]

    def _held_since(self) -> int | None:
        try:
            return int((self.storage / "held-since").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def recover(self) -> None:
        """Finish an apply that was interrupted (by a crash), if any."""
        try:
            plan = json.loads(self._journal.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except ValueError:
            self._journal.unlink()  # torn before it was complete: nothing was touched yet
            return
        self._run(plan, recovering=True)

    def discard(self) -> None:
        """Drop everything the upper layer holds (the task's unapplied changes)."""
        shutil.rmtree(self.upper, ignore_errors=True)
        self.upper.mkdir(mode=0o700, exist_ok=True)

    def _write_journal(self, plan: list[dict[str, object]]) -> None:
        temp = self._journal.with_suffix(".new")
        temp.write_text(json.dumps(plan), encoding="utf-8")
        temp.replace(self._journal)

    def _run(self, plan: list[dict[str, object]], *, recovering: bool = False) -> None:
        """Carry out a journalled plan, then log what it did and drop the journal."""
        shutil.rmtree(self.stage, ignore_errors=True)
        self.stage.mkdir(mode=0o700)
        local = os.stat(self.stage).st_dev == os.stat(self.root).st_dev
        records: list[dict[str, object]] = []
        with _Directories(self.root) as dirs:
            stage_fd = os.open(self.stage, _DIR_OPEN) if local else -1
            try:
                for number, step in enumerate(plan):
                    rel, kind, pre = str(step["rel"]), ChangeKind(str(step["kind"])), step["pre"]
                    source = Path(str(step["source"])) if step.get("source") else self.upper / rel
                    self._apply_one(
                        dirs,
                        rel,
                        kind,
                        str(pre) if pre else None,
                        number,
                        stage_fd,
                        recovering,
                        source=source,
                        only_if_empty=bool(step.get("only_if_empty")),
                    )
                    change = step.get("change")
                    if isinstance(change, dict):
                        records.append({**change, "stamp": _stamp(self.root / rel)})
            finally:
                if stage_fd >= 0:
                    os.close(stage_fd)
        for step in reversed(plan):
            if step.get("drop"):
                self._drop(str(step["rel"]), only_applied=True)
        undone = [str(step["undoes"]) for step in plan if step.get("undoes")]
        self._log(records + ([{"undone": undone}] if undone else []))
        self._journal.unlink()

    def _log(self, records: list[dict[str, object]]) -> None:
        if records:
            with open(self.storage / "log.jsonl", "a", encoding="utf-8") as log:
                log.write("".join(json.dumps(r) + "\n" for r in records))

    def history(self) -> list[LoggedChange]:
        """Every change applied, refused or undone in this folder so far, oldest first (a
        change an interrupted apply logged twice appears once)."""
        found: dict[str, LoggedChange] = {}
        undone: set[str] = set()
        try:
            lines = (self.storage / "log.jsonl").read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line torn by a crash
            if "undone" in record:
                undone.update(record["undone"])
                continue
            change = _change_from(record)
            stamp = record.get("stamp")
            key = f"{change.path}@{change.pre_image}@{change.kind}@{stamp}"
            found[key] = LoggedChange(key, change, tuple(stamp) if stamp else None, False)
        return [dataclasses.replace(item, undone=item.key in undone) for item in found.values()]

    def undo(self, *, force: bool = False) -> list[Change]:
        """Put every path this task changed back as it was before (the newest changes
        first), remove what it created, and report a conflict (not overwriting) for each path
        changed since, unless ``force``; undoing again retries what is left. The undo is
        itself applied and logged like a change: once nothing of the task's own is left to
        undo, undoing reverses the last undo (a redo). Must only be called while the overlay
        is not mounted."""
        plan: list[dict[str, object]] = []
        reported: list[Change] = []
        batch = time.time_ns()
        live = [i for i in self.history() if not i.undone and i.change.status == "applied"]
        # The task's own changes first; once none is left, undoing reverses the last undo.
        todo = [i for i in live if i.change.reason != "undo"] or live
        for number, item in enumerate(reversed(todo)):
            change = item.change
            current = _lstat(self.root / change.path)
            stamp = _stamp(self.root / change.path)
            unchanged = (tuple(stamp) if stamp else None) == item.stamp
            if change.kind is ChangeKind.DELETED:
                step_kind = ChangeKind.CREATED if current is None else ChangeKind.MODIFIED
                clear = current is None
            else:
                step_kind = (
                    ChangeKind.DELETED if change.kind is ChangeKind.CREATED else ChangeKind.MODIFIED
                )
                clear = current is None or change.is_dir or unchanged
            if not (clear or force):
                reported.append(
                    dataclasses.replace(
                        change,
                        kind=step_kind,
                        status="conflict",
                        reason="changed in the folder since the task changed it",
                        pre_image=None,
                    )
                )
                continue
            pre = f"{batch}-{number}" if current is not None and not change.is_dir else None
            new = Change(
                change.folder,
                change.path,
                step_kind,
                change.is_dir,
                _size(current),
                change.size_before if step_kind is not ChangeKind.DELETED else None,
                "applied",
                pre,
                "undo",
            )
            if step_kind is ChangeKind.DELETED:
                if current is None:
                    plan.append({"rel": change.path, "kind": "deleted", "pre": None,
                                 "undoes": item.key})  # fmt: skip
                    continue
                plan.append(
                    {
                        "rel": change.path,
                        "kind": "deleted",
                        "pre": None if change.is_dir else pre,
                        "only_if_empty": change.is_dir,
                        "change": new.as_json(),
                        "undoes": item.key,
                    }
                )
            else:
                if change.pre_image is None:  # a directory the task removed when empty
                    source = self.storage / "empty-dir"
                    source.mkdir(mode=0o755, exist_ok=True)
                else:
                    source = self.pre / change.pre_image
                plan += self._restore_steps(change.path, source, new, pre, item.key)
            reported.append(new)
        if plan:
            self._write_journal(plan)
            self._run(plan)
        return reported

    def _restore_steps(
        self, rel: str, source: Path, change: Change, pre: str | None, undoes: str
    ) -> list[dict[str, object]]:
        """Steps that bring back ``rel`` from a pre-image (a whole tree for a directory)."""
        steps: list[dict[str, object]] = [
            {
                "rel": rel,
                "kind": change.kind.value,
                "pre": pre if not stat.S_ISDIR(os.lstat(source).st_mode) else None,
                "source": str(source),
                "change": change.as_json(),
                "undoes": undoes,
            }
        ]
        if stat.S_ISDIR(os.lstat(source).st_mode):
            for item in sorted(os.listdir(source)):
                child = dataclasses.replace(
                    change,
                    path=f"{rel}/{item}",
                    kind=ChangeKind.CREATED,
                    is_dir=os.path.isdir(source / item) and not os.path.islink(source / item),
                    size_before=None,
                    size_after=_size(os.lstat(source / item)),
                    pre_image=None,
                )
                steps += self._restore_steps(f"{rel}/{item}", source / item, child, None, undoes)
        return steps

    def _apply_one(
        self,
        dirs: _Directories,
        rel: str,
        kind: ChangeKind,
        pre: str | None,
        number: int,
        stage_fd: int,
        recovering: bool,
        *,
        source: Path,
        only_if_empty: bool = False,
    ) -> None:
        """Make ``root/rel`` what the upper layer says; idempotent, so that a plan cut short
        by a crash can be run again (``recovering``). A new file is staged in the layer's
        storage (``stage_fd``) when that is on the folder's file system, so a crash leaves
        nothing in the folder; else (``stage_fd`` -1) beside its target, under a name the
        next run removes."""
        if kind is not ChangeKind.DELETED and _lstat(source) is None:
            return  # applied and dropped from the upper layer before a crash
        parent, name = _split(rel)
        dir_fd = dirs.get(parent, create=kind is not ChangeKind.DELETED)
        if dir_fd is None:
            return  # the parent is gone or became a link: nothing of ours to apply there
        stage = f".errand-stage-{number}"
        if stage_fd < 0:  # staged beside the target; a crash may have left it there
            stage_fd = dir_fd
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stage, dir_fd=dir_fd)
        target = _lstat_at(dir_fd, name)
        if pre is not None and target is not None and not (self.pre / pre).exists():
            if stat.S_ISDIR(target.st_mode):
                dirs.forget(rel)
            self._keep(dir_fd, name, target, pre)
            target = _lstat_at(dir_fd, name)
        if kind is ChangeKind.DELETED:
            if target is not None:
                if only_if_empty:
                    with contextlib.suppress(OSError):  # others' files keep it
                        os.rmdir(name, dir_fd=dir_fd)
                    return
                dirs.forget(rel)
                _remove_at(dir_fd, name, target)
            return
        info = os.lstat(source)
        if stat.S_ISDIR(info.st_mode):
            if target is None:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, stat.S_IMODE(info.st_mode), dir_fd=dir_fd)
            return
        if recovering and target is not None and _same_entry(source, info, dir_fd, name, target):
            return  # applied before the crash
        try:
            if stat.S_ISLNK(info.st_mode):
                os.symlink(os.readlink(source), stage, dir_fd=stage_fd)
            elif stat.S_ISREG(info.st_mode) and source.is_relative_to(self.pre):
                # A pre-image comes back as itself (a link, no copy): same content, owner,
                # mode and times as before the task.
                try:
                    os.link(source, stage, dst_dir_fd=stage_fd, follow_symlinks=False)
                except OSError:
                    _copy_into(source, info, stage_fd, stage, target)
            elif stat.S_ISREG(info.st_mode):
                _copy_into(source, info, stage_fd, stage, target)
            else:
                return  # pipes and sockets are not applied
            if target is not None and stat.S_ISDIR(target.st_mode):
                dirs.forget(rel)
                _remove_at(dir_fd, name, target)
            os.rename(stage, name, src_dir_fd=stage_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stage, dir_fd=stage_fd)
            raise

    def _keep(self, dir_fd: int, name: str, target: os.stat_result, pre: str) -> None:
        """Keep the original of ``name`` as pre-image ``pre``."""
        if stat.S_ISDIR(target.st_mode):
            keep_fd = os.open(self.pre, _DIR_OPEN)
            try:
                os.rename(name, pre, src_dir_fd=dir_fd, dst_dir_fd=keep_fd)
            finally:
                os.close(keep_fd)
            return
        try:
            os.link(name, self.pre / pre, src_dir_fd=dir_fd, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
            if stat.S_ISLNK(target.st_mode):
                os.symlink(os.readlink(name, dir_fd=dir_fd), self.pre / pre)
            else:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
                with os.fdopen(fd, "rb") as src, open(self.pre / pre, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)

    def _drop(self, rel: str, *, only_applied: bool = False) -> None:
        """Remove ``rel`` from the upper layer (a directory only once it is empty)."""
        path = self.upper / rel
        info = _lstat(path)
        if info is None:
            return
        if stat.S_ISDIR(info.st_mode):
            if only_applied:
                with contextlib.suppress(OSError):
                    os.rmdir(path)  # still holds something not applied
                return
            shutil.rmtree(path, ignore_errors=True)
            return
        path.unlink()


def paths_in(layer: FolderLayer, paths: Collection[str]) -> list[str] | None:
    """Which of ``paths`` (``folder/path``, or a folder's name for all of it) fall in
    ``layer``, as paths within it; None when all of the layer is meant (no paths at all, or
    its name alone)."""
    if not paths or layer.name in paths:
        return None
    prefix = layer.name + "/"
    return [p.removeprefix(prefix).strip("/") for p in paths if p.startswith(prefix)]


def _under_any(rel: str, paths: Collection[str]) -> bool:
    return any(rel == p or rel.startswith(p.rstrip("/") + "/") for p in paths)


def _selected(entries: list[_Entry], paths: Collection[str]) -> list[_Entry]:
    """The entries at or under ``paths`` (all of them when there are none) and the new or
    replaced directories above them, which they need in the folder first."""
    if not paths:
        return entries
    chosen = {entry.rel for entry in entries if _under_any(entry.rel, paths)}
    for rel in list(chosen):
        parts = rel.split("/")
        chosen.update("/".join(parts[:depth]) for depth in range(1, len(parts)))
    return [entry for entry in entries if entry.rel in chosen]


def _refusal(rel: str) -> str | None:
    for candidate in dict.fromkeys((rel, rel.lower())):
        if is_protected(candidate) or is_protected_parent(candidate):
            return "a protected path (git, editor, CI, shell or Errand configuration)"
    return None


def _placeholder(entry: _Entry, after: os.stat_result | None) -> bool:
    """Whether an upper entry at a protected path is a mount point bwrap made for a guard
    (an empty file or directory), not something the task wrote (it cannot: guarded paths
    are read-only inside the sandbox)."""
    if entry.kind is ChangeKind.DELETED or after is None:
        return False
    if entry.rel not in PROTECTED_PATHS and not is_protected_parent(entry.rel):
        return False
    return (stat.S_ISREG(after.st_mode) and after.st_size == 0) or stat.S_ISDIR(after.st_mode)


def _changed_since(entry: _Entry, before: os.stat_result | None, since_ns: int) -> bool:
    if entry.kind is ChangeKind.CREATED:
        return before is not None and not entry.is_dir
    return before is not None and before.st_ctime_ns > since_ns and not entry.is_dir


def _same_content(a: Path, b: Path) -> bool:
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    if stat.S_IFMT(sa.st_mode) != stat.S_IFMT(sb.st_mode) or sa.st_mode != sb.st_mode:
        return False
    if stat.S_ISLNK(sa.st_mode):
        return os.readlink(a) == os.readlink(b)
    if not stat.S_ISREG(sa.st_mode) or sa.st_size != sb.st_size:
        return False
    return _digest(a) == _digest(b)


def _same_entry(
    source: Path, info: os.stat_result, dir_fd: int, name: str, target: os.stat_result
) -> bool:
    if stat.S_IFMT(info.st_mode) != stat.S_IFMT(target.st_mode) or info.st_size != target.st_size:
        return False
    if stat.S_ISLNK(info.st_mode):
        return os.readlink(source) == os.readlink(name, dir_fd=dir_fd)
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as fh:
        return _digest(source) == hashlib.sha256(fh.read()).hexdigest()


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_into(
    source: Path, info: os.stat_result, dir_fd: int, stage: str, target: os.stat_result | None
) -> None:
    src = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        dst = os.open(stage, flags, 0o600, dir_fd=dir_fd)
        try:
            remaining = info.st_size
            while remaining > 0:
                sent = os.copy_file_range(src, dst, min(remaining, 1 << 30))
                if sent == 0:
                    break
                remaining -= sent
            if target is not None and os.geteuid() == 0:
                os.fchown(dst, target.st_uid, target.st_gid)  # never take the user's file
            os.fchmod(dst, stat.S_IMODE(info.st_mode))
            os.utime(dst, ns=(info.st_atime_ns, info.st_mtime_ns))
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _remove_at(dir_fd: int, name: str, target: os.stat_result) -> None:
    if stat.S_ISDIR(target.st_mode):
        _clear_at(dir_fd, name, keep=set())
        os.rmdir(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def _clear_at(dir_fd: int, name: str, *, keep: set[str]) -> None:
    """Remove what directory ``name`` holds except ``keep``, never following a link."""
    fd = os.open(name, _DIR_OPEN, dir_fd=dir_fd)
    try:
        for child in os.listdir(fd):
            if child in keep:
                continue
            info = os.lstat(child, dir_fd=fd)
            _remove_at(fd, child, info)
    finally:
        os.close(fd)


class _Directories:
    """Directory fds under a folder's root, opened one name at a time without following a
    link, and kept for the length of one apply."""

    def __init__(self, root: Path) -> None:
        self._fds: dict[str, int] = {"": os.open(root, _DIR_OPEN)}

    def __enter__(self) -> _Directories:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def get(self, parts: list[str], *, create: bool) -> int | None:
        """The directory ``parts``; None when it is missing (and not created) or a link."""
        key = "/".join(parts)
        if key in self._fds:
            return self._fds[key]
        if not parts:
            return self._fds[""]
        parent = self.get(parts[:-1], create=create)
        if parent is None:
            return None
        name = parts[-1]
        try:
            fd = os.open(name, _DIR_OPEN, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                return None
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o755, dir_fd=parent)
            return self.get(parts, create=False)
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                return None
            raise
        self._fds[key] = fd
        return fd

    def forget(self, rel: str) -> None:
        """Close the fds of ``rel`` and everything under it (it is being moved or removed)."""
        for key in [k for k in self._fds if k == rel or k.startswith(rel + "/")]:
            os.close(self._fds.pop(key))


def _split(rel: str) -> tuple[list[str], str]:
    parts = rel.split("/")
    return parts[:-1], parts[-1]


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return None


def _size(info: os.stat_result | None) -> int | None:
    if info is None or stat.S_ISDIR(info.st_mode):
        return None
    return info.st_size


def _empty(directory: Path) -> bool:
    with os.scandir(directory) as scan:
        return next(scan, None) is None


def _is_opaque(path: str | Path) -> bool:
    try:
        return os.getxattr(path, _OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def task_changes_dir(data_dir: Path, task_id: str) -> Path:
    """Where a task keeps its change layers: one directory per read-write folder."""
    return data_dir / "changes" / task_id


def open_layers(changes_dir: Path) -> list[FolderLayer]:
    """The change layers a task left in ``changes_dir`` (interrupted applies finished)."""
    layers: list[FolderLayer] = []
    if not changes_dir.is_dir():
        return layers
    for storage in sorted(changes_dir.iterdir()):
        try:
            about = json.loads((storage / "folder.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        root = Path(str(about.get("root")))
        if root.is_dir():
            layers.append(FolderLayer(root, storage, str(about.get("name"))))
    return layers


def held_changes(layer: FolderLayer) -> list[Change]:
    """What a layer holds back (review mode, or conflicts), without applying anything."""
    return layer.report()


_TEXT_LIMIT = 256 * 1024


def text_diff(layer: FolderLayer, change: Change, *, max_lines: int = 400) -> str | None:
    """A unified diff of a change to a text file (None when either side is not text, is a
    directory, or is larger than 256 KiB); cut to ``max_lines`` lines."""
    import difflib

    if change.is_dir:
        return None
    before = _text(layer.pre / change.pre_image) if change.pre_image else ""
    if change.status in ("held", "conflict"):
        after_path = layer.upper / change.path
        if change.pre_image is None and change.kind is not ChangeKind.CREATED:
            before = _text(layer.root / change.path)
    else:
        after_path = layer.root / change.path
    after = "" if change.kind is ChangeKind.DELETED else _text(after_path)
    if before is None or after is None:
        return None
    lines = list(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{change.path}",
            tofile=f"b/{change.path}",
        )
    )
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], f"... {len(lines) - max_lines} more lines\n"]
    return "".join(lines)


def _text(path: Path) -> str | None:
    info = _lstat(path)
    if info is None:
        return ""
    if not stat.S_ISREG(info.st_mode) or info.st_size > _TEXT_LIMIT:
        return None
    data = path.read_bytes()
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
