"""``activate_skill``: load a skill's instructions and make its folder visible to commands.

The skill's folder is mounted read-only at ``/sessions/<session>/skills/<name>`` for every
later command of the task (through ``ToolContext.extra_mounts``), so its scripts run inside
the sandbox and cannot be changed from there.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from errand.sandbox import ExtraMount
from errand.skills import SkillCatalog, SkillError, activation_text
from errand.tools.base import Action, ActionKind, ToolContext, ToolOutput
from errand.tools.errors import ToolError


class ActivateSkillArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Skill name from the list of skills.")


def skill_mount_point(ctx: ToolContext, name: str) -> str:
    """Where an activated skill's folder appears inside the sandbox."""
    return f"{ctx.policy.home}/skills/{name}"


class ActivateSkill:
    """Activate one of the catalog's skills."""

    name: ClassVar[str] = "activate_skill"
    description: ClassVar[str] = (
        "Load a skill's instructions and files before doing its kind of task."
    )
    Args: ClassVar[type[BaseModel]] = ActivateSkillArgs

    def __init__(self, catalog: SkillCatalog) -> None:
        self.catalog = catalog

    def describe(self, args: BaseModel, ctx: ToolContext) -> Action:
        assert isinstance(args, ActivateSkillArgs)
        return Action(self.name, ActionKind.SKILL, f"activate skill {args.name!r}")

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolOutput:
        assert isinstance(args, ActivateSkillArgs)
        skill = self.catalog.get(args.name)
        if skill is None:
            names = ", ".join(s.name for s in self.catalog) or "none"
            raise ToolError(f"There is no skill {args.name!r}. Available skills: {names}.")
        mount = skill_mount_point(ctx, skill.name)
        try:
            text = activation_text(skill, mount)
        except SkillError as exc:
            problems = "; ".join(exc.problems)
            raise ToolError(f"The skill {skill.name!r} cannot be loaded: {problems}.") from None
        if not any(m.sandbox_path == mount for m in ctx.extra_mounts):
            ctx.extra_mounts.append(ExtraMount(skill.path, mount))
        return ToolOutput(text)
