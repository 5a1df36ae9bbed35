"""The one exception the skills package raises."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class SkillError(ValueError):
    """A skill folder that cannot be used; ``problems`` lists every reason, one sentence each.

    ``str(error)`` names the folder and lists the problems, so it can be shown as it is.
    """

    def __init__(self, folder: Path, problems: Sequence[str]) -> None:
        self.folder = folder
        self.problems: tuple[str, ...] = tuple(problems)
        lines = "\n".join(f"- {problem}" for problem in self.problems)
        super().__init__(f"skill at {folder} is not usable:\n{lines}")
