"""The allowed folders: the host folders a task may be given, and nothing else.

The owner adds them on the computer (``errand folders add PATH``); phones and API clients
only ever name them (``[{"name": "notes", "mode": "ro"}]``) and ``errand.intake`` builds
their grants from the stored, resolved path (re-checked by ``errand.tasks.recheck_grants``
whenever the task runs again). A client can never name a host path, and never get more than
the folder's mode allows.

Folders are the worker's own: one added on a worker host carries that worker's label
(``worker``), its path is a path on that host, and tasks using it run only there (see
``errand.tasks.workers``). A folder without a label is on the gateway's computer. Names are
unique across all workers.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from errand.access.credentials import Clock, now_of
from errand.sandbox import MOUNT_NAME, FolderMode
from errand.store import AccessStore, AllowedFolderRecord, FolderNameTaken, Store
from errand.tasks import check_worker_name

_RANK = {FolderMode.READ_ONLY: 0, FolderMode.READ_WRITE: 1}


class FolderError(ValueError):
    """A folder request that cannot be met; ``code`` is the API's, the message one sentence.

    Codes: ``unknown_folder``, ``folder_mode_not_allowed``, ``invalid_folder``,
    ``folder_exists``, ``folder_unavailable``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class AllowedFolder:
    """An allowed folder: its public ``name``, the host ``path``, the most a task may get,
    and the ``worker`` whose host holds it (None: the gateway's computer)."""

    name: str
    path: Path
    mode: FolderMode
    worker: str | None = None


async def add_folder(
    store: Store,
    path: Path | str,
    *,
    name: str | None = None,
    mode: FolderMode | str = FolderMode.READ_ONLY,
    worker: str | None = None,
    clock: Clock = time.time,
) -> AllowedFolder:
    """Allow ``path`` (an existing directory on this host, stored resolved and absolute)
    under ``name``, as a folder of the worker ``worker`` (None: of the gateway's computer).

    ``name`` defaults to the folder's own name.

    Raises:
        FolderError: ``invalid_folder`` (missing path, not a directory, unusable name, mode
            or worker name) or ``folder_exists`` (the name is taken).
    """
    if worker is not None:
        try:
            check_worker_name(worker)
        except ValueError as exc:
            raise FolderError("invalid_folder", str(exc)) from None
    resolved = await asyncio.to_thread(_existing_dir, Path(path))
    chosen = name if name is not None else (resolved.name or "root")
    if chosen in (".", "..") or not MOUNT_NAME.match(chosen):
        raise FolderError(
            "invalid_folder",
            f"{chosen!r} cannot name a folder: use letters, digits, '.', '_', '-', '@', '+' "
            "or spaces (not first), at most 128 characters",
        )
    checked_mode = _mode(mode)
    try:
        await AccessStore(store).add_folder(
            chosen, str(resolved), checked_mode.value, now=now_of(clock), worker=worker
        )
    except FolderNameTaken as exc:
        raise FolderError(
            "folder_exists", f"a folder is already allowed as {chosen!r}; pick another --name"
        ) from exc
    return AllowedFolder(name=chosen, path=resolved, mode=checked_mode, worker=worker)


async def list_folders(store: Store) -> list[AllowedFolder]:
    """Every allowed folder, by name."""
    return [_folder(record) for record in await AccessStore(store).list_folders()]


async def remove_folder(store: Store, name: str) -> None:
    """Stop allowing the folder ``name``; older tasks lose it the next time they start, get
    a message or have a file served (``errand.tasks.recheck_grants``).

    Raises:
        FolderError: ``unknown_folder``.
    """
    if not await AccessStore(store).remove_folder(name):
        raise FolderError("unknown_folder", f"no allowed folder is named {name!r}")


def _existing_dir(path: Path) -> Path:
    resolved = path.expanduser().resolve()
    if not resolved.is_dir():
        raise FolderError("invalid_folder", f"{str(path)!r} is not an existing folder")
    return resolved


def _mode(mode: FolderMode | str) -> FolderMode:
    try:
        return FolderMode(mode)
    except ValueError:
        raise FolderError("invalid_folder", f"mode must be 'ro' or 'rw', not {mode!r}") from None


def _folder(record: AllowedFolderRecord) -> AllowedFolder:
    return AllowedFolder(
        name=record.name,
        path=Path(record.path),
        mode=FolderMode(record.mode),
        worker=record.worker,
    )
