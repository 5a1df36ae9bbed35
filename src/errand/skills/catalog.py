"""The skills a session can use, and the short text that tells the model about them.

The catalog holds front matter only. Its :meth:`SkillCatalog.prompt_section` lists names and
descriptions, nothing more, within a character budget: the model reads a skill's full
instructions only when it activates that skill.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from errand.skills.skill import MAX_DESCRIPTION_CHARS, Skill

ACTIVATE_TOOL = "activate_skill"
PROMPT_BUDGET_CHARS = 8000
"""About two thousand tokens: room for dozens of skills with full descriptions."""
MIN_PROMPT_DESCRIPTION_CHARS = 40

_HEADER = (
    "Skills you can use (when a task matches a skill's description, call the "
    f"`{ACTIVATE_TOOL}` tool with its name to load its instructions before you start):"
)


class SkippedSkill(NamedTuple):
    """A skill folder (or a whole skills folder) that discovery left out, and why."""

    path: Path
    reason: str


class SkillWarning(NamedTuple):
    """Something lenient parsing tolerated in a skill that was loaded."""

    path: Path
    message: str


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit].rstrip() + "…"


@dataclass(frozen=True)
class SkillCatalog:
    """Skills by unique name (sorted by name), plus what discovery skipped and why."""

    skills: tuple[Skill, ...] = ()
    skipped: tuple[SkippedSkill, ...] = ()
    _by_name: dict[str, Skill] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        by_name = {skill.name: skill for skill in self.skills}
        if len(by_name) != len(self.skills):
            raise ValueError("a catalog holds at most one skill per name")
        object.__setattr__(self, "_by_name", by_name)

    def get(self, name: str) -> Skill | None:
        """Return the skill called ``name``, or ``None`` when there is none."""
        return self._by_name.get(name)

    def __iter__(self) -> Iterator[Skill]:
        return iter(self.skills)

    def __len__(self) -> int:
        return len(self.skills)

    @property
    def warnings(self) -> tuple[SkillWarning, ...]:
        """Every warning of every loaded skill, for diagnostics."""
        return tuple(
            SkillWarning(skill.path, message) for skill in self.skills for message in skill.warnings
        )

    def prompt_section(self, max_chars: int = PROMPT_BUDGET_CHARS) -> str:
        """Return the system prompt's skills section: one instruction line, then names and
        descriptions. Empty when there are no skills.

        Fits in ``max_chars``: when full descriptions do not, each is cut to the same
        length; when even :data:`MIN_PROMPT_DESCRIPTION_CHARS` per skill does not fit, the
        last skills are left out and a final line says how many.
        """
        if not self.skills:
            return ""
        described = [(skill.name, _one_line(skill.description)) for skill in self.skills]

        def render(cap: int) -> str:
            lines = [_HEADER, *(f"- {name}: {_cut(text, cap)}" for name, text in described)]
            return "\n".join(lines)

        full = render(MAX_DESCRIPTION_CHARS)
        if len(full) <= max_chars:
            return full
        # The longest common cut that fits; at most ~10 rounds over 40..1024.
        low, high = MIN_PROMPT_DESCRIPTION_CHARS, MAX_DESCRIPTION_CHARS
        if len(render(low)) <= max_chars:
            while low < high:
                middle = (low + high + 1) // 2
                if len(render(middle)) <= max_chars:
                    low = middle
                else:
                    high = middle - 1
            return render(low)
        return self._first_that_fit(described, max_chars)

    @staticmethod
    def _first_that_fit(described: list[tuple[str, str]], max_chars: int) -> str:
        lines = [_HEADER]
        used = len(_HEADER)
        # Reserve room for the closing line, which names a count of at most six digits.
        closing_room = 60
        for shown, (name, text) in enumerate(described):
            line = f"- {name}: {_cut(text, MIN_PROMPT_DESCRIPTION_CHARS)}"
            if used + 1 + len(line) + closing_room > max_chars:
                lines.append(f"({len(described) - shown} more skills not listed)")
                break
            lines.append(line)
            used += 1 + len(line)
        return "\n".join(lines)
