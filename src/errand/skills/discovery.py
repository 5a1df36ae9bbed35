"""Finding skills: the user's own skills folder and each trusted granted folder's skills.

Where skills come from (a *skill source*):

* the user's skills folder, ``<data dir>/skills`` — always trusted, it is the user's own;
* ``<granted folder>/.agents/skills`` — only when the user trusts that folder, because a
  skill's instructions steer the model and a folder's contents may come from anyone.

Each subfolder of a source that holds a ``SKILL.md`` is a candidate. Discovery is lenient and
never fails as a whole: a candidate that cannot be used is recorded in
:attr:`SkillCatalog.skipped` with the reason.

Precedence when two skills share a name: the user's skills folder wins over any granted
folder (a folder cannot shadow a skill the user installed); between granted folders, the one
granted first wins. The loser is recorded as skipped, naming the winner.

Bounds: at most :data:`MAX_SKILLS_PER_SOURCE` skills and :data:`MAX_ENTRIES_PER_SOURCE`
folder entries per source; symbolic links that lead outside the source's root are not
followed (nor a skills folder that leads outside its granted folder).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from errand.config import data_dir
from errand.skills.catalog import SkillCatalog, SkippedSkill
from errand.skills.errors import SkillError
from errand.skills.frontmatter import SKILL_FILE
from errand.skills.skill import Skill, parse_skill

USER_SKILLS_DIR = "skills"
FOLDER_SKILLS_DIR = Path(".agents", "skills")
MAX_SKILLS_PER_SOURCE = 200
MAX_ENTRIES_PER_SOURCE = 2000


class SourceKind(StrEnum):
    USER = "user"
    FOLDER = "folder"


@dataclass(frozen=True)
class SkillSource:
    """One folder holding skills (one subfolder each), with whether its skills may load.

    ``boundary`` is the folder that symbolic links must not lead out of: the root itself for
    the user's folder, the granted folder for ``.agents/skills``. Build sources with
    :meth:`user` and :meth:`granted_folder`.
    """

    kind: SourceKind
    root: Path
    boundary: Path
    trusted: bool
    grant_name: str = ""

    @property
    def label(self) -> str:
        """``"user"`` or ``"folder:<grant name>"``: the :attr:`Skill.source` of its skills."""
        if self.kind is SourceKind.USER:
            return "user"
        return f"folder:{self.grant_name}"

    @classmethod
    def user(cls, base: Path | None = None) -> SkillSource:
        """The user's own skills folder, ``<base>/skills`` (``base`` defaults to the data dir)."""
        root = (base if base is not None else data_dir()) / USER_SKILLS_DIR
        return cls(kind=SourceKind.USER, root=root, boundary=root, trusted=True)

    @classmethod
    def granted_folder(cls, grant_name: str, folder: Path, *, trusted: bool) -> SkillSource:
        """``<folder>/.agents/skills`` of the granted folder called ``grant_name``."""
        return cls(
            kind=SourceKind.FOLDER,
            root=folder / FOLDER_SKILLS_DIR,
            boundary=folder,
            trusted=trusted,
            grant_name=grant_name,
        )


def _candidate_folders(source: SkillSource, skipped: list[SkippedSkill]) -> Iterator[Path]:
    """Yield the resolved subfolders of ``source.root`` that hold a ``SKILL.md``, in name order."""
    if not os.path.lexists(source.root):
        return
    try:
        root = source.root.resolve(strict=True)
        boundary = source.boundary.resolve(strict=True)
    except (OSError, RuntimeError):
        skipped.append(SkippedSkill(source.root, "the skills folder is a broken link"))
        return
    if not root.is_relative_to(boundary):
        skipped.append(
            SkippedSkill(source.root, f"the skills folder leads outside {boundary}; not followed")
        )
        return
    if not root.is_dir():
        skipped.append(SkippedSkill(source.root, "expected a folder of skills, found a file"))
        return
    try:
        with os.scandir(root) as entries:
            names = [entry.name for entry in itertools.islice(entries, MAX_ENTRIES_PER_SOURCE + 1)]
    except OSError as exc:
        skipped.append(SkippedSkill(source.root, f"the skills folder cannot be read: {exc}"))
        return
    if len(names) > MAX_ENTRIES_PER_SOURCE:
        names = names[:MAX_ENTRIES_PER_SOURCE]
        skipped.append(
            SkippedSkill(
                source.root,
                f"more than {MAX_ENTRIES_PER_SOURCE} entries; the rest were not looked at",
            )
        )
    found = 0
    for name in sorted(names):
        if name.startswith("."):
            continue
        candidate = root / name
        try:
            real = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            continue  # a broken link holds no skill
        if not real.is_dir() or real == root:
            continue
        if not real.is_relative_to(root):
            skipped.append(SkippedSkill(candidate, f"a link leading outside {root}; not followed"))
            continue
        if not os.path.lexists(real / SKILL_FILE):
            continue
        found += 1
        if found > MAX_SKILLS_PER_SOURCE:
            skipped.append(
                SkippedSkill(
                    source.root,
                    f"holds more than {MAX_SKILLS_PER_SOURCE} skills; the rest were not loaded",
                )
            )
            return
        yield real


def discover_skills(sources: Sequence[SkillSource]) -> SkillCatalog:
    """Load every usable skill from ``sources`` (leniently) into one catalog.

    User sources take precedence over granted folders; granted folders keep the order given,
    which should be the order they were granted. Untrusted sources load nothing (noted in
    ``skipped`` when they hold a skills folder). Never raises for a bad skill.
    """
    ordered = sorted(sources, key=lambda source: source.kind is not SourceKind.USER)
    winners: dict[str, Skill] = {}
    skipped: list[SkippedSkill] = []
    # A link to a sibling folder is the same skill, not a rival; load each real folder once.
    seen: set[Path] = set()
    for source in ordered:
        if not source.trusted:
            if source.root.is_dir():
                skipped.append(
                    SkippedSkill(
                        source.root,
                        f"granted folder {source.grant_name!r} is not trusted, so its skills "
                        "were not loaded; trust the folder to use them",
                    )
                )
            continue
        for folder in _candidate_folders(source, skipped):
            if folder in seen:
                continue
            seen.add(folder)
            try:
                skill = parse_skill(folder, strict=False, source=source.label)
            except SkillError as exc:
                skipped.append(SkippedSkill(folder, "; ".join(exc.problems)))
                continue
            winner = winners.get(skill.name)
            if winner is not None:
                skipped.append(
                    SkippedSkill(
                        folder,
                        f"shadowed by the skill {skill.name!r} from {winner.source} "
                        f"at {winner.path}",
                    )
                )
                continue
            winners[skill.name] = skill
    skills = tuple(sorted(winners.values(), key=lambda skill: skill.name))
    return SkillCatalog(skills=skills, skipped=tuple(skipped))
