"""A task's attached documents as files its commands can read.

A webhook's payload (or any attached document) reaches the model as a marked message (see
:mod:`errand.agent.transcript`) and, for the commands that process it, as a read-only file in
the task's home: ``~/attachments/<name>``. The files live under the data directory, one
folder per task, and are written afresh at each run.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from errand.sandbox import ExtraMount, session_home
from errand.tasks import Attachment

FOLDER = "attachments"
"""The folder in the task's home (``~/attachments``) that holds its attached documents."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_names(attachments: Sequence[Attachment]) -> list[str]:
    """Each attachment's file name in ``~/attachments``: its own name made safe, numbered
    when it has none or when two would collide."""
    names: list[str] = []
    for number, attachment in enumerate(attachments, start=1):
        name = _UNSAFE.sub("_", attachment.name).strip("._")[:100] or f"document-{number}.txt"
        if name in names:
            name = f"{number}-{name}"
        names.append(name)
    return names


def task_attachments_dir(data: Path, task_id: str) -> Path:
    """Where the task's attached documents are kept as files, under the data directory."""
    return data / "attachments" / task_id


def attachment_mount(
    storage: Path, session: str, attachments: Sequence[Attachment]
) -> ExtraMount | None:
    """Write ``attachments`` into ``storage`` (replacing what it held) and return the
    read-only mount that shows them at ``~/attachments``; None when there are none."""
    if not attachments:
        return None
    shutil.rmtree(storage, ignore_errors=True)
    storage.mkdir(mode=0o755, parents=True)
    storage.chmod(0o755)  # readable by the sandbox's own user, inside an owner-only parent
    for name, attachment in zip(file_names(attachments), attachments, strict=True):
        path = storage / name
        path.write_text(attachment.text, encoding="utf-8")
        path.chmod(0o644)
    return ExtraMount(storage, f"{session_home(session)}/{FOLDER}")
