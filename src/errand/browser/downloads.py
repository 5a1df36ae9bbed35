"""Saving what the browser downloaded into a granted read-write folder.

Downloads land in the browser's scratch space (inside its sandbox). ``browser_save_download``
copies one into a folder the model names, and only into a folder the task holds read-write:
the path is mapped and checked as the file tools map it (:func:`errand.tools.resolve_path`),
the name is made safe (one plain file name, never a path), and an existing file is never
replaced (a free name ``report (2).pdf`` is taken instead). The copy itself is made by the
sandboxed driver at the folder's place in the sandbox, so it goes through the folder's change
layer like any command's write: recorded, held for review when the folder is, undoable, and
applied to the user's folder once the browser has closed (the browser keeps the layer mounted
while it runs).
"""

from __future__ import annotations

import asyncio
import posixpath
import re
import unicodedata

from playwright.async_api import Download
from playwright.async_api import Error as PlaywrightError

from errand.sandbox import FolderMode, GrantedRoot, PathRefused
from errand.tools import (
    Action,
    ActionKind,
    GrantPath,
    ToolContext,
    ToolError,
    resolve_path,
    show_path,
)

_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")
_NAME_BYTES = 200
_COPIES = 100


def safe_name(name: str) -> str:
    """``name`` as one plain file name: no directories, no control or reserved characters,
    no leading dots (nothing hidden, never ``..``), at most 200 bytes; ``download`` when
    nothing usable is left."""
    base = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip().lstrip(".").strip()
    stem, dot, ext = cleaned.rpartition(".")
    if not dot:
        stem, ext = cleaned, ""
    while len(cleaned.encode("utf-8")) > _NAME_BYTES and stem:
        stem = stem[:-1]
        cleaned = f"{stem}.{ext}" if ext else stem
    return cleaned or "download"


def target_folder(ctx: ToolContext, folder: str) -> GrantPath:
    """The granted read-write folder ``folder`` names.

    Raises:
        ToolError: outside every granted folder, granted read-only, or read-only for this
            task because its changes cannot be layered.
    """
    found = resolve_path(ctx.policy, folder, writing=True)
    if found.grant.mode is FolderMode.READ_WRITE and not ctx.sandbox.layered(found.grant.path):
        raise ToolError(
            f"The folder {found.grant.name!r} is read-only for this task (its changes cannot "
            "be tracked here); nothing was saved."
        )
    return found


def describe_save(tool: str, ctx: ToolContext, download: str, folder: str) -> Action:
    """The approval view of saving ``download`` into ``folder``.

    Raises:
        ToolError: as :func:`target_folder`.
    """
    found = target_folder(ctx, folder)
    return Action(
        tool,
        ActionKind.WRITE,
        f"save the browser download {safe_name(download)} in {found.shown}",
        folder=found.grant.name,
    )


def find_download(downloads: list[Download], name: str) -> Download:
    """The latest download called ``name`` (as listed to the model).

    Raises:
        ToolError: no such download, with the names there are.
    """
    for download in reversed(downloads):
        if download.suggested_filename == name:
            return download
    listed = ", ".join(d.suggested_filename for d in downloads) or "none yet"
    raise ToolError(
        f"The browser has no download called {name!r} (downloads so far: {listed}); a "
        "download must finish in this browser before it can be saved."
    )


async def save_download(
    ctx: ToolContext, download: Download, folder: str, filename: str | None
) -> tuple[str, str]:
    """Copy ``download`` into ``folder`` under a safe, free name; returns how tool output
    names the saved file, and where the sandbox sees it.

    Raises:
        ToolError: the folder is refused (see :func:`target_folder`), the name is refused
            there (a protected path, a link), or the download failed or cannot be copied.
    """
    found = target_folder(ctx, folder)
    root = ctx.roots.get(found.grant.name)
    if root is None:
        raise ToolError(f"The folder {found.grant.name!r} is not open for file tools.")
    name = safe_name(filename or download.suggested_filename)
    rel = await asyncio.to_thread(_free_name, root, found.rel, name)
    try:
        await asyncio.to_thread(root.check_write, rel)
    except PathRefused as exc:
        raise ToolError(f"{exc}; nothing was saved.") from None
    failure = await download.failure()
    if failure is not None:
        raise ToolError(f"The download {download.suggested_filename!r} failed: {failure}.")
    inside = f"{ctx.policy.mount_point(found.grant)}/{rel}"
    try:
        await download.save_as(inside)
    except PlaywrightError as exc:
        first = (exc.message or str(exc)).strip().splitlines()
        raise ToolError(
            f"The download could not be saved in {found.shown}: {first[0] if first else exc}."
        ) from None
    return show_path(ctx.policy, found.grant, rel), inside


def _free_name(root: GrantedRoot, folder_rel: str, name: str) -> str:
    """``folder_rel/name``, or ``name (2)``, ``name (3)``... when that is taken."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, dot, ext = name, "", ""
    for copy in range(1, _COPIES + 1):
        candidate = name if copy == 1 else f"{stem} ({copy}){dot}{ext}"
        rel = posixpath.join(folder_rel, candidate) if folder_rel else candidate
        try:
            root.stat(rel)
        except FileNotFoundError:
            return rel
        except OSError:
            return rel  # check_write says what is wrong with it
    raise ToolError(f"There are already {_COPIES} files called like {name!r}; pick a filename.")
