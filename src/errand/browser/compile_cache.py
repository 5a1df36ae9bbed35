"""Node.js's compile cache for the sandboxed Playwright driver: made by Errand, read-only to tasks.

A good part of the driver's start is V8 compiling Playwright's JavaScript bundles (about 7 MB).
Node.js can keep that compiled code on disk (its module compile cache, ``NODE_COMPILE_CACHE``):
each entry is named after the module's path and checked against the module's source when it
is read, so a stale entry is only recompiled. Entries are found by the paths and user the
driver has *inside* the sandbox, so the cache is made there too:

- Errand makes it once per data directory and Playwright version, before the first browser
  start that finds it missing, in a sandbox session of its own that no task shares (no
  folders, no network). That sandbox runs the driver's own ``--version`` (which loads the same
  modules a driver does), writes the cache in its scratch space and hands it out as a tar
  stream; Errand accepts only the cache's own layout (one directory of regular files, sizes
  bounded) and moves it into place at once, under ``<data dir>/browser/node-cache/``.
- Every task's driver gets it mounted read-only. No task can change it: it is never mounted
  writable into a sandbox, and Errand's data directory is hidden from every granted folder,
  so nothing one task does reaches what a later task's driver runs.

A cache that cannot be made (no ``tar``, a sandbox problem, another Errand making it at the
same moment) is not an error: the driver then compiles as it would without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO

from playwright._repo_version import version as playwright_version

from errand.browser.driver import ADDRESS_SPACE, SANDBOX_CLI, SANDBOX_NODE, driver_mounts
from errand.config import EnvironmentProblem, data_dir
from errand.sandbox import Sandbox, SandboxPolicy, SandboxUnavailable

MAX_BYTES = 32 << 20
"""The most a cache may hold (Playwright 1.65's is about 1.3 MB)."""
_MAX_FILES = 64
_MAKE_SECONDS = 60.0
_MAKE_DIR = "/tmp/node-cache"
# Node's layout: one directory per Node version, architecture, V8 and user, holding one file
# per module, named by a hash.
_ENTRY = re.compile(r"^\./v[0-9A-Za-z.]+-[0-9a-z_]+-[0-9a-f]+-[0-9]+(/[0-9a-f]{1,16})?$")
_MAKER = 'NODE_COMPILE_CACHE="$2" "$0" "$1" --version >/dev/null && cd "$2" && exec tar -c .'


def cache_path() -> Path:
    """Where this Playwright version's cache is, or will be, on the host."""
    return data_dir() / "browser" / "node-cache" / playwright_version


async def ensure_compile_cache() -> Path | None:
    """The cache's directory on the host, made first if it is missing; None when it could not
    be made (the driver then starts without it)."""
    try:
        target = cache_path()
    except EnvironmentProblem:  # no data directory: the browser reports nothing about it
        return None
    if _ready(target):
        return target
    with contextlib.suppress(OSError, SandboxUnavailable, ValueError, TimeoutError):
        claim = _claim(target.parent)
        if claim is None:
            return None  # another browser start is making it: start without it this once
        with claim:
            if not _ready(target):
                _install(await _made_in_sandbox(), target)
        return target
    return None


def _ready(target: Path) -> bool:
    return target.is_dir()


def _claim(parent: Path) -> BinaryIO | None:
    """The lock on making caches under ``parent``, or None while another start holds it (in
    this process or another: each claim opens the lock file anew, and ``flock`` locks belong
    to an open file, so two claims in one process exclude each other too)."""
    parent.mkdir(parents=True, exist_ok=True)
    lock = open(parent / ".lock", "a+b")  # noqa: SIM115 (closed by the caller)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


def _install(stream: bytes, target: Path) -> None:
    """Unpack ``stream`` beside ``target`` and move it there in one step; drop the caches of
    other Playwright versions."""
    staging = Path(tempfile.mkdtemp(prefix=".new-", dir=target.parent))
    try:
        unpack(stream, staging)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for old in target.parent.iterdir():
        if old.is_dir() and old != target and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)


async def _made_in_sandbox() -> bytes:
    policy = SandboxPolicy.build(session=f"node-cache-{os.getpid()}")
    async with Sandbox(policy) as sandbox, asyncio.timeout(_MAKE_SECONDS):
        process = await sandbox.spawn(
            ["/bin/sh", "-c", _MAKER, SANDBOX_NODE, SANDBOX_CLI, _MAKE_DIR],
            extra_mounts=driver_mounts(None)[0],
            address_space=ADDRESS_SPACE,
        )
        try:
            stream = bytearray()
            while len(stream) <= MAX_BYTES and (chunk := await process.stdout.read(1 << 16)):
                stream += chunk
            code = await process.wait() if len(stream) <= MAX_BYTES else -1
        finally:
            await process.aclose()
    if code != 0 or not stream:
        raise ValueError(f"making the compile cache failed (status {code})")
    return bytes(stream)


def unpack(stream: bytes, into: Path) -> None:
    """Unpack a cache's tar ``stream`` into the empty directory ``into``.

    Raises:
        ValueError: the stream is not a compile cache (other names or kinds of entry, too many
            or too large files); nothing of it is kept then.
    """
    try:
        with tarfile.open(fileobj=io.BytesIO(stream), mode="r:") as archive:
            members = archive.getmembers()
            kept = [m for m in members if m.name not in (".", "./")]
            if len(kept) > _MAX_FILES or not kept:
                raise ValueError("not a compile cache: no entries, or too many")
            for member in kept:
                if not _ENTRY.match(member.name) or not (member.isfile() or member.isdir()):
                    raise ValueError(f"not a compile cache: unexpected entry {member.name!r}")
                if member.isdir() != (member.name.count("/") == 1):
                    raise ValueError(f"not a compile cache: unexpected entry {member.name!r}")
            if sum(m.size for m in kept) > MAX_BYTES:
                raise ValueError("not a compile cache: too large")
            archive.extractall(into, members=kept, filter="data")
    except tarfile.TarError as exc:
        raise ValueError(f"not a compile cache: {exc}") from exc
