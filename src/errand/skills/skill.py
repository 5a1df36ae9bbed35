"""One skill: its front matter checked against the Agent Skills format, its body read lazily.

Two ways to parse, one set of rules:

* **strict** (``errand skills validate``): every departure from the format is a problem.
* **lenient** (discovery): departures that cannot mislead anyone become warnings on the
  skill (unknown keys, a name that differs from its folder, malformed optional fields, which
  are then dropped). A skill still needs a valid ``name`` and a ``description``: the name
  becomes a tool argument and a path component inside the sandbox, the description is how
  the model decides to use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from errand.skills.errors import SkillError
from errand.skills.frontmatter import SKILL_FILE, read_body, read_front_matter

MAX_NAME_CHARS = 64
MAX_DESCRIPTION_CHARS = 1024
MAX_COMPATIBILITY_CHARS = 500
KNOWN_KEYS = frozenset(
    {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}
)

_NAME_CHARS = re.compile(r"[a-z0-9-]+")
_SHOWN_CHARS = 60


@dataclass(frozen=True)
class Skill:
    """A skill as discovered: its front matter, where it lives, and where it came from.

    ``path`` is the resolved skill folder. ``source`` is ``"user"`` for the user's own skills
    folder or ``"folder:<grant name>"`` for a granted folder's ``.agents/skills``.
    ``warnings`` lists what lenient parsing tolerated. The body is not held: :meth:`body`
    reads it when the model activates the skill.
    """

    name: str
    description: str
    path: Path
    source: str
    license: str | None = None
    compatibility: str | None = None
    # Not hashed: a mapping is not hashable, and name + path already identify a skill.
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)
    allowed_tools: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def body(self) -> str:
        """Read and return the current instructions (the Markdown after the front matter).

        Raises:
            SkillError: the folder was replaced by a link since discovery, or ``SKILL.md``
                is gone, unsafe to read, or no longer has front matter.
        """
        # A folder swapped for a symbolic link after discovery must not redirect the read.
        if self.path.resolve() != self.path:
            raise SkillError(self.path, ["the skill folder moved or became a symbolic link"])
        return read_body(self.path)


def _shown(value: str) -> str:
    """Quote user text for a message, cut short so a message stays one readable line."""
    if len(value) > _SHOWN_CHARS:
        value = value[:_SHOWN_CHARS] + "…"
    return repr(value)


def name_problems(name: str) -> list[str]:
    """Return every way ``name`` breaks the skill name rules (empty when it is valid)."""
    problems: list[str] = []
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        problems.append(f"name must be 1 to {MAX_NAME_CHARS} characters, not {len(name)}")
    if name and not _NAME_CHARS.fullmatch(name):
        problems.append(f"name {_shown(name)} may use only lowercase letters, digits and hyphens")
    if name.startswith("-") or name.endswith("-"):
        problems.append(f"name {_shown(name)} must not start or end with a hyphen")
    if "--" in name:
        problems.append(f"name {_shown(name)} must not contain consecutive hyphens")
    return problems


class _Findings:
    """Problems that always reject a skill, and ones that lenient parsing only warns about."""

    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self.fatal: list[str] = []
        self.minor: list[str] = []

    def tolerable(self, problem: str) -> None:
        (self.fatal if self.strict else self.minor).append(problem)


def _required_text(front: Mapping[object, object], key: str, found: _Findings) -> str:
    value = front.get(key)
    if value is None:
        found.fatal.append(f"front matter must have a '{key}'")
        return ""
    if not isinstance(value, str):
        found.fatal.append(f"'{key}' must be text, not {type(value).__name__}")
        return ""
    return value


def _optional_text(
    front: Mapping[object, object], key: str, found: _Findings, limit: int | None = None
) -> str | None:
    value = front.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        found.tolerable(f"'{key}' must be text, not {type(value).__name__}")
        return None
    if limit is not None and len(value) > limit:
        found.tolerable(f"'{key}' must be at most {limit} characters, not {len(value)}")
        return None
    return value


def _metadata(front: Mapping[object, object], found: _Findings) -> dict[str, str]:
    value = front.get("metadata")
    if value is None:
        return {}
    if not isinstance(value, dict):
        found.tolerable(f"'metadata' must be a mapping of text to text, not {type(value).__name__}")
        return {}
    kept: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(key, str) and isinstance(item, str):
            kept[key] = item
        else:
            found.tolerable(
                f"'metadata' entry {_shown(str(key))} must map text to text "
                f"(quote the value in YAML)"
            )
    return kept


def _check_front_matter(
    folder: Path, front: object, *, strict: bool, source: str
) -> tuple[Skill | None, _Findings]:
    found = _Findings(strict=strict)
    if not isinstance(front, dict):
        kind = "empty" if front is None else f"a {type(front).__name__}"
        found.fatal.append(f"the front matter of {SKILL_FILE} must be a YAML mapping, not {kind}")
        return None, found

    name = _required_text(front, "name", found)
    if isinstance(front.get("name"), str):
        found.fatal.extend(name_problems(name))
        if name != folder.name:
            found.tolerable(
                f"name {_shown(name)} must equal the folder's name {_shown(folder.name)}"
            )

    description = _required_text(front, "description", found)
    if isinstance(front.get("description"), str):
        if not description.strip():
            found.fatal.append("'description' must not be empty")
        elif len(description) > MAX_DESCRIPTION_CHARS:
            found.fatal.append(
                f"'description' must be at most {MAX_DESCRIPTION_CHARS} characters, "
                f"not {len(description)}"
            )

    license_text = _optional_text(front, "license", found)
    compatibility = _optional_text(front, "compatibility", found, MAX_COMPATIBILITY_CHARS)
    metadata = _metadata(front, found)
    tools_text = _optional_text(front, "allowed-tools", found)

    unknown = sorted(str(key) for key in front if key not in KNOWN_KEYS)
    for key in unknown:
        found.tolerable(f"unknown front matter key {_shown(key)}")

    if found.fatal:
        return None, found
    skill = Skill(
        name=name,
        description=description.strip(),
        path=folder,
        source=source,
        license=license_text,
        compatibility=compatibility,
        metadata=MappingProxyType(metadata),
        allowed_tools=tuple(tools_text.split()) if tools_text else (),
        warnings=tuple(found.minor),
    )
    return skill, found


def parse_skill(folder: Path, *, strict: bool, source: str = "user") -> Skill:
    """Parse the skill in ``folder`` from its front matter (the body is not read).

    ``source`` labels where the folder was found (see :class:`Skill`).

    Raises:
        SkillError: with every problem found; in lenient mode only the problems that make
            the skill unusable (see the module docstring).
    """
    folder = folder.resolve()
    if not folder.is_dir():
        raise SkillError(folder, ["the skill folder does not exist or is not a folder"])
    front = read_front_matter(folder)
    skill, found = _check_front_matter(folder, front, strict=strict, source=source)
    if skill is None:
        raise SkillError(folder, found.fatal)
    return skill


def validate_skill(folder: Path) -> list[str]:
    """Check ``folder`` strictly against the format; return every problem, empty when valid."""
    try:
        parse_skill(folder, strict=True)
    except SkillError as exc:
        return list(exc.problems)
    return []
