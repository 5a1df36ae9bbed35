"""Reading ``SKILL.md``: its YAML front matter at discovery, its body on activation.

A ``SKILL.md`` starts with a line ``---``, then YAML, then another ``---`` line; everything
after that is the body. Discovery reads only up to the closing line, so a catalog of many
skills costs little and a body is read fresh when the model activates the skill.

Every read is bounded (:data:`MAX_SKILL_MD_BYTES`, :data:`MAX_FRONT_MATTER_BYTES`) and opens
``SKILL.md`` without following a symbolic link, so a skill cannot make Errand read a host
file outside its folder into the model's context.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

import yaml

from errand.skills.errors import SkillError

SKILL_FILE = "SKILL.md"
MAX_SKILL_MD_BYTES = 256 * 1024
"""A larger ``SKILL.md`` is refused: instructions that long belong in ``references/``."""
MAX_FRONT_MATTER_BYTES = 32 * 1024
"""Name, description and metadata fit easily; a bound keeps the YAML parser's work small."""

_DELIMITER = b"---"
_BOM = b"\xef\xbb\xbf"


def _open_skill_file(folder: Path) -> BinaryIO:
    """Open ``folder/SKILL.md`` for reading, refusing links, non-files and oversized files.

    Raises:
        SkillError: the file is missing, a symbolic link, not a regular file, or too large.
    """
    path = folder / SKILL_FILE
    # O_NONBLOCK: a FIFO named SKILL.md must not hang discovery; it is refused below.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise SkillError(folder, [f"{SKILL_FILE} is missing"]) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            reason = f"{SKILL_FILE} is a symbolic link; Errand reads only a regular file"
        else:
            reason = f"{SKILL_FILE} cannot be read: {exc.strerror}"
        raise SkillError(folder, [reason]) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SkillError(folder, [f"{SKILL_FILE} is not a regular file"])
        if info.st_size > MAX_SKILL_MD_BYTES:
            raise SkillError(
                folder,
                [
                    f"{SKILL_FILE} is {info.st_size} bytes, more than the "
                    f"{MAX_SKILL_MD_BYTES} allowed; move long material into references/"
                ],
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _is_delimiter(line: bytes) -> bool:
    return line.rstrip(b" \t\r\n") == _DELIMITER


def _decode(folder: Path, data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SkillError(folder, [f"the {what} of {SKILL_FILE} is not valid UTF-8"]) from None


def _read_front_matter_bytes(folder: Path, fh: BinaryIO) -> bytes:
    """Return the bytes between the two delimiter lines, leaving ``fh`` just after the second."""
    first = fh.readline(MAX_FRONT_MATTER_BYTES)
    first = first.removeprefix(_BOM)
    if not _is_delimiter(first):
        raise SkillError(
            folder,
            [f"{SKILL_FILE} must start with a '---' line opening its YAML front matter"],
        )
    collected: list[bytes] = []
    size = 0
    # Bounded by MAX_FRONT_MATTER_BYTES: each pass consumes at least one byte or ends.
    while True:
        line = fh.readline(MAX_FRONT_MATTER_BYTES - size + 1)
        if not line:
            raise SkillError(folder, [f"the front matter of {SKILL_FILE} has no closing '---'"])
        if _is_delimiter(line):
            return b"".join(collected)
        size += len(line)
        if size > MAX_FRONT_MATTER_BYTES:
            raise SkillError(
                folder,
                [f"the front matter of {SKILL_FILE} is longer than {MAX_FRONT_MATTER_BYTES} bytes"],
            )
        collected.append(line)


def read_front_matter(folder: Path) -> object:
    """Parse the YAML front matter of ``folder/SKILL.md`` without reading the body.

    Returns whatever ``yaml.safe_load`` built (the caller checks it is a mapping);
    ``None`` for empty front matter.

    Raises:
        SkillError: the file cannot be read safely, has no front matter, or the YAML is invalid.
    """
    with _open_skill_file(folder) as fh:
        raw = _read_front_matter_bytes(folder, fh)
    text = _decode(folder, raw, "front matter")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # The problem mark says where; the message never echoes the document itself.
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 2}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SkillError(
            folder, [f"the front matter of {SKILL_FILE} is not valid YAML{where}: {problem}"]
        ) from None


def read_body(folder: Path) -> str:
    """Return the current Markdown body of ``folder/SKILL.md`` (after the front matter).

    Raises:
        SkillError: the file is gone, unsafe to read, or no longer has front matter.
    """
    with _open_skill_file(folder) as fh:
        _read_front_matter_bytes(folder, fh)
        # The file was at most MAX_SKILL_MD_BYTES when opened; +1 notices growth since.
        rest = fh.read(MAX_SKILL_MD_BYTES + 1)
    if len(rest) > MAX_SKILL_MD_BYTES:
        raise SkillError(folder, [f"{SKILL_FILE} grew past {MAX_SKILL_MD_BYTES} bytes"])
    return _decode(folder, rest, "body").replace("\r\n", "\n").strip("\n")
