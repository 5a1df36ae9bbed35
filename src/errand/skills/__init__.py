"""Agent Skills: folders of instructions (``SKILL.md``) and files the agent can activate.

Public surface: :func:`discover_skills` builds a :class:`SkillCatalog` from
:class:`SkillSource` s (the user's skills folder and trusted granted folders);
:meth:`SkillCatalog.prompt_section` is the system prompt's list of skills;
:func:`activation_text` is what the ``activate_skill`` tool returns;
:func:`parse_skill` and :func:`validate_skill` check one skill folder.
"""

from errand.skills.activation import activation_text, resource_files
from errand.skills.catalog import ACTIVATE_TOOL, SkillCatalog, SkillWarning, SkippedSkill
from errand.skills.discovery import SkillSource, SourceKind, discover_skills
from errand.skills.errors import SkillError
from errand.skills.skill import Skill, parse_skill, validate_skill

__all__ = [
    "ACTIVATE_TOOL",
    "Skill",
    "SkillCatalog",
    "SkillError",
    "SkillSource",
    "SkillWarning",
    "SkippedSkill",
    "SourceKind",
    "activation_text",
    "discover_skills",
    "parse_skill",
    "resource_files",
    "validate_skill",
]
