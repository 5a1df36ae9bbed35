"""Errand's own files, which no sandboxed command may see, whatever folder is granted.

A task given ``~`` read-write would otherwise reach Errand's database (and mint itself a
device token), its ``errand.toml`` (approvals, network rules) and ``server.json`` (the admin
secret). So every directory Errand trusts is *hidden* inside the sandbox: an empty read-only
tmpfs covers it wherever it appears inside a granted folder. Appearances are found by device
and inode, not by path strings: the directory may be reached through a symlink in its own
path or through a bind mount that shows it at a second place.

Errand's code (the installed package) is trusted too, but hiding it would hide a user's
project virtualenv; it is covered read-only instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import errand
from errand.config import config_path, data_dir_path


@dataclass(frozen=True, slots=True)
class Cover:
    """One place inside a granted folder that the sandbox must not see (``hide``) or not
    change (``read_only``); ``rel`` is relative to the granted folder's root."""

    rel: str
    hide: bool


class GrantRefused(ValueError):
    """A folder that is, or lies inside, one of Errand's own directories."""


def hidden_dirs() -> tuple[Path, ...]:
    """Errand's data and config directories, symlinks resolved (existing ones only)."""
    found: list[Path] = []
    for path in (data_dir_path(), config_path().parent):
        real = Path(os.path.realpath(path))
        if real.is_dir() and real not in found:
            found.append(real)
    return tuple(found)


def read_only_dirs() -> tuple[Path, ...]:
    """Errand's installed code: its package directory."""
    return (Path(os.path.realpath(Path(errand.__file__).parent)),)


def covers_for(folder: Path) -> tuple[Cover, ...]:
    """What to cover inside a granted ``folder`` (real path) so that Errand's own directories
    stay hidden (and its code read-only) through every path that reaches them.

    Raises:
        GrantRefused: ``folder`` is one of Errand's hidden directories or lies inside one.
    """
    covers: list[Cover] = []
    folder_id = _identity(folder)
    mounts = _mounts()
    for hide, targets in ((True, hidden_dirs()), (False, read_only_dirs())):
        for target in targets:
            target_id = _identity(target)
            if target_id is None:
                continue
            for place in _places(target, mounts):
                rel = _relative(place, folder)
                if rel is None:
                    if hide and _relative(folder, place) is not None:
                        raise GrantRefused(f"{folder} is inside Errand's own directory {target}")
                    continue
                if _identity(folder / rel) != target_id:
                    continue  # the path string matched but it is another directory
                if rel == "":
                    if hide or folder_id == target_id:
                        raise GrantRefused(f"{folder} is Errand's own directory")
                    continue
                cover = Cover(rel, hide)
                if cover not in covers:
                    covers.append(cover)
    return tuple(covers)


def describe_hidden(folder: Path) -> list[str]:
    """Sentences naming what will be hidden (or kept read-only) inside ``folder``."""
    lines = []
    for cover in covers_for(Path(os.path.realpath(folder))):
        what = "hidden from tasks" if cover.hide else "read-only for tasks"
        lines.append(f"{folder / cover.rel} is Errand's own and stays {what}.")
    return lines


@dataclass(frozen=True, slots=True)
class _Mount:
    device: str  # "major:minor"
    root: str  # the directory of its file system shown at ``point``
    point: str


def _mounts() -> list[_Mount]:
    """This process's mounts, from ``/proc/self/mountinfo`` (escapes decoded)."""
    out: list[_Mount] = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) >= 5:
                    out.append(_Mount(fields[2], _unescape(fields[3]), _unescape(fields[4])))
    except OSError:
        pass
    return out


def _places(target: Path, mounts: list[_Mount]) -> list[Path]:
    """Every path at which ``target`` appears: itself, and through each mount that shows the
    part of its file system holding it."""
    places = [target]
    text = str(target)
    home = max(
        (m for m in mounts if text == m.point or text.startswith(m.point.rstrip("/") + "/")),
        key=lambda m: len(m.point),
        default=None,
    )
    if home is None:
        return places
    inner = os.path.join(home.root, os.path.relpath(text, home.point))
    for mount in mounts:
        if mount.device != home.device:
            continue
        rel = _relative(Path(os.path.normpath(inner)), Path(mount.root))
        if rel is None:
            continue
        place = Path(mount.point) / rel if rel else Path(mount.point)
        if place not in places:
            places.append(place)
    return places


def _relative(path: Path, base: Path) -> str | None:
    """``path`` relative to ``base`` ("" when equal), or None when it is not beneath it."""
    if path == base:
        return ""
    if path.is_relative_to(base):
        return str(path.relative_to(base))
    return None


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as three octal digits.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)
