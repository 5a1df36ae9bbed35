"""Files the user sends from a phone into an allowed read-write folder.

The file lands at the top of the folder under a safe name (:func:`safe_file_name`): the last
part of what the phone called it, without control characters, leading dots or a path, at
most 255 bytes. Nothing already in the folder is ever replaced: the bytes are written to a
temporary file beside the target and flushed, then renamed to the first free name among
``photo.jpg``, ``photo (2).jpg``, ``photo (3).jpg``, ... with a rename that refuses to
replace (so two uploads of the same name at once both keep their bytes, and a reader never
sees half a file). Every step goes through :class:`~errand.sandbox.GrantedRoot`, so a
symlink planted in the folder cannot send the file elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from errand.access.folders import FolderError, list_folders
from errand.sandbox import FolderMode, GrantedRoot, PathRefused
from errand.store import Store
from errand.tasks import GATEWAY_WORKER, place_of

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
"""The largest file a phone may send (a photo straight from a phone camera fits)."""

_MAX_NAME_BYTES = 255
_MAX_TRIES = 1000


@dataclass(frozen=True, slots=True)
class SavedUpload:
    """Where an upload landed: the allowed ``folder``'s name, the file's ``name`` at the top
    of it, and its ``size`` in bytes."""

    folder: str
    name: str
    size: int


def safe_file_name(name: str) -> str:
    """The name an upload is saved under: only the last path part (``/`` or ``\\``), control
    and format characters removed, leading dots and spaces and trailing dots and spaces
    dropped, cut to 255 bytes keeping the suffix; ``upload`` when nothing is left."""
    last = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(
        c for c in unicodedata.normalize("NFC", last) if unicodedata.category(c)[0] != "C"
    )
    kept = kept.lstrip(". ").rstrip(". ")
    if not kept:
        return "upload"
    stem, suffix = _split(kept)
    while len(os.fsencode(stem + suffix)) > _MAX_NAME_BYTES and stem:
        stem = stem[:-1]
    return (stem + suffix)[:_MAX_NAME_BYTES] if stem else "upload" + suffix[-40:]


async def save_upload(
    store: Store,
    folder: str,
    file_name: str,
    data: bytes,
    *,
    here: Collection[str] = (GATEWAY_WORKER,),
) -> SavedUpload:
    """Save ``data`` at the top of the allowed folder ``folder`` under a safe, free name.

    ``here`` are the workers whose folders are on this computer: a folder of another worker
    is on its host (the same path here is another folder), so nothing is written.

    Raises:
        FolderError: ``unknown_folder`` (not an allowed folder), ``folder_mode_not_allowed``
            (allowed read-only), ``folder_unavailable`` (missing on disk, refused, or on
            another worker's host), or ``file_too_large`` (over :data:`MAX_UPLOAD_BYTES`);
            nothing is written then.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise FolderError("file_too_large", too_large_sentence(MAX_UPLOAD_BYTES))
    allowed = {f.name: f for f in await list_folders(store)}
    chosen = allowed.get(folder)
    if chosen is None:
        raise FolderError("unknown_folder", f"no allowed folder is named {folder!r}")
    if chosen.mode is not FolderMode.READ_WRITE:
        raise FolderError(
            "folder_mode_not_allowed", f"{folder} is shared read-only, so files cannot be added"
        )
    if place_of(chosen.worker) not in here:
        raise FolderError(
            "folder_unavailable",
            f"the folder {folder!r} is on the worker {chosen.worker!r}, not on this computer, "
            "so files cannot be added to it from here",
        )
    try:
        name = await asyncio.to_thread(_write, chosen.path, safe_file_name(file_name), data)
    except (OSError, PathRefused) as exc:
        raise FolderError(
            "folder_unavailable", f"the file could not be saved in {folder} ({_why(exc)})"
        ) from exc
    return SavedUpload(folder=folder, name=name, size=len(data))


def too_large_sentence(limit: int) -> str:
    """The one sentence for a file over ``limit`` bytes."""
    return (
        f"The file is larger than {limit // (1024 * 1024)} MB, the most Errand takes from a "
        "phone; copy it into the folder on the computer instead."
    )


def _write(folder: Path, name: str, data: bytes) -> str:
    temp = f".upload-{secrets.token_hex(8)}.part"
    with GrantedRoot(folder, writable=True) as root:
        root.write_bytes(temp, data, make_parents=False)
        try:
            stem, suffix = _split(name)
            for number in range(1, _MAX_TRIES + 1):
                candidate = name if number == 1 else _numbered(stem, suffix, number)
                try:
                    root.rename(temp, candidate)
                except FileExistsError:
                    continue
                return candidate
            raise FileExistsError(f"{name} and {_MAX_TRIES - 1} numbered copies exist already")
        except BaseException:
            with contextlib.suppress(OSError):
                root.remove(temp)
            raise


def _split(name: str) -> tuple[str, str]:
    """``photo.jpg`` → (``photo``, ``.jpg``); a name without a dot has no suffix."""
    stem, dot, suffix = name.rpartition(".")
    return (stem, dot + suffix) if dot and stem else (name, "")


def _numbered(stem: str, suffix: str, number: int) -> str:
    mark = f" ({number})"
    while len(os.fsencode(stem + mark + suffix)) > _MAX_NAME_BYTES and stem:
        stem = stem[:-1]
    return stem + mark + suffix


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
