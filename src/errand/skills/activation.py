"""What the ``activate_skill`` tool returns: a skill's instructions and a map of its files.

The skill's scripts run inside the sandbox, where the integrator mounts ``skill.path``
read-only at a path it chooses (for example ``/sessions/<session>/skills/<name>``); this
module only tells the model where that is and which files it holds.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from errand.skills.skill import Skill

RESOURCE_DIRS = ("scripts", "references", "assets")
MAX_LISTED_FILES = 100
MAX_SCANNED_ENTRIES = 5000
"""Bounds the walk of a skill folder that holds far more than it should."""


def resource_files(skill: Skill) -> tuple[list[str], int]:
    """List regular files under the skill's ``scripts/``, ``references/`` and ``assets/``.

    Returns up to :data:`MAX_LISTED_FILES` paths relative to the skill folder (POSIX
    separators, sorted within each folder) and how many more files were seen but not listed.
    Symbolic links are neither listed nor followed.
    """
    listed: list[str] = []
    more = 0
    scanned = 0
    # Depth-first, with subfolders pushed in reverse so the walk visits them in name order.
    stack: list[Path] = [skill.path / name for name in reversed(RESOURCE_DIRS)]
    while stack and scanned < MAX_SCANNED_ENTRIES:
        folder = stack.pop()
        if folder.is_symlink() or not folder.is_dir():
            continue
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda entry: entry.name)
        except OSError:
            continue
        subfolders: list[Path] = []
        for entry in entries:
            scanned += 1
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                if len(listed) < MAX_LISTED_FILES:
                    relative = Path(entry.path).relative_to(skill.path)
                    listed.append(relative.as_posix())
                else:
                    more += 1
        stack.extend(reversed(subfolders))
    return listed, more


def activation_text(skill: Skill, mount_path: str | PurePosixPath) -> str:
    """Return the text the model receives when it activates ``skill``.

    ``mount_path`` is where the skill folder is visible (read-only) inside the sandbox.
    The body is read now, so edits made since discovery are seen.

    Raises:
        ValueError: ``mount_path`` is not an absolute POSIX path.
        SkillError: the body can no longer be read (see :meth:`Skill.body`).
    """
    mount = PurePosixPath(mount_path)
    if not mount.is_absolute():
        raise ValueError(f"mount path {str(mount_path)!r} must be absolute")
    body = skill.body()
    files, more = resource_files(skill)
    parts = [
        f'Skill "{skill.name}" is active. Follow its instructions below.',
        f"Its folder is in the sandbox, read-only, at {mount}; run its scripts and read its "
        "files from there (the paths listed below are relative to that folder).",
        "",
        "# Instructions",
        "",
        body or "(This skill has no instructions beyond its description.)",
        "",
    ]
    if files:
        parts.append("# Files")
        parts.append("")
        parts.extend(f"- {path}" for path in files)
        if more:
            parts.append(f"- … and {more} more not listed")
    else:
        parts.append("The skill has no files under scripts/, references/ or assets/.")
    return "\n".join(parts)
