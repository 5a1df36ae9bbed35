"""One ``errand serve`` per data directory.

The server holds an exclusive ``flock`` on ``serve.lock`` in the data directory for as long as
it runs; the kernel drops it when the process exits, even after kill -9, so a stale lock never
blocks a restart. Only the holder writes and removes ``server.json``, the file ``errand pair``
reads to find the running server.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

LOCK_FILE = "serve.lock"
SERVER_FILE = "server.json"


class AlreadyServing(Exception):
    """Another ``errand serve`` holds this data directory; the message says where it serves."""


class ServeLock:
    """The data directory's server lock; ``acquire`` once, ``release`` (or exit) to free it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting.

        Raises:
            AlreadyServing: another process holds it; the message names its address.
        """
        fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyServing(
                f"errand serve is already running for {self.data_dir} "
                f"({_address_of(self.data_dir)}); stop it first, or set ERRAND_HOME to "
                "another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Free the lock (idempotent). The lock file stays: removing it would race a new
        server that has just opened it."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _address_of(data_dir: Path) -> str:
    try:
        with (data_dir / SERVER_FILE).open(encoding="utf-8") as fh:
            server = json.load(fh)
        return f"at {server['url']}, pid {server['pid']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "still starting"
