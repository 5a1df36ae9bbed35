"""ask_user and activate_skill."""

from __future__ import annotations

from pathlib import Path

import pytest

from errand.sandbox import ExtraMount
from errand.skills import SkillCatalog, parse_skill
from errand.tools import Action, ActionKind, ActivateSkill
from tools.tool_harness import SESSION, Harness, MakeHarness

SKILL_MOUNT = f"/sessions/{SESSION}/skills/pdf-tools"


async def test_ask_user_returns_the_users_answer(harness: Harness) -> None:
    out = await harness.call("ask_user", question="Which colour?")
    assert out.content == "blue"
    assert harness.asked.questions == ["Which colour?"]
    harness.asked.answer = "  "
    assert (await harness.call("ask_user", question="More?")).content == (
        "(The user answered with nothing.)"
    )


async def test_ask_user_refuses_an_empty_question_without_asking(harness: Harness) -> None:
    out = await harness.call("ask_user", question=" \n")
    assert out.is_error
    assert harness.asked.questions == []


async def test_ask_user_describes_as_an_ask_action(harness: Harness) -> None:
    action = harness.builtin.describe(
        harness.call_of("ask_user", question="Deploy\nnow?"), harness.ctx
    )
    assert action == Action("ask_user", ActionKind.ASK, "Deploy now?")


@pytest.fixture
def catalog(tmp_path: Path) -> SkillCatalog:
    folder = tmp_path / "skills" / "pdf-tools"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        "---\nname: pdf-tools\ndescription: Work with PDF files.\n---\n"
        "Run scripts/extract.sh on the file.\n",
        encoding="utf-8",
    )
    (folder / "scripts" / "extract.sh").write_text("echo extracted\n", encoding="utf-8")
    return SkillCatalog((parse_skill(folder, strict=False),))


@pytest.fixture
async def skilled(make_harness: MakeHarness, catalog: SkillCatalog) -> Harness:
    return await make_harness(tools=[ActivateSkill(catalog)])


async def test_activating_a_skill_returns_its_instructions_and_mounts_it_once(
    skilled: Harness, catalog: SkillCatalog
) -> None:
    out = await skilled.call("activate_skill", name="pdf-tools")
    assert not out.is_error
    assert "Run scripts/extract.sh on the file." in out.content
    assert SKILL_MOUNT in out.content
    assert "- scripts/extract.sh" in out.content
    await skilled.call("activate_skill", name="pdf-tools")
    skill = catalog.get("pdf-tools")
    assert skill is not None
    assert skilled.ctx.extra_mounts == [ExtraMount(skill.path, SKILL_MOUNT)]


async def test_an_activated_skill_folder_is_readable_but_not_writable(
    skilled: Harness, catalog: SkillCatalog
) -> None:
    before = await skilled.call("run_shell", command=f"ls {SKILL_MOUNT}")
    assert before.content.startswith("exit code: 2")
    await skilled.call("activate_skill", name="pdf-tools")
    out = await skilled.call(
        "run_shell",
        command=f"bash {SKILL_MOUNT}/scripts/extract.sh; echo x > {SKILL_MOUNT}/scripts/extract.sh",
    )
    assert out.content.startswith("exit code: 1\n--- stdout ---\nextracted")
    assert "Read-only file system" in out.content
    skill = catalog.get("pdf-tools")
    assert skill is not None
    assert (skill.path / "scripts" / "extract.sh").read_text(encoding="utf-8") == (
        "echo extracted\n"
    )


async def test_an_unknown_skill_lists_the_available_ones(skilled: Harness) -> None:
    out = await skilled.call("activate_skill", name="excel")
    assert out.is_error
    assert out.content == "There is no skill 'excel'. Available skills: pdf-tools."
    assert skilled.ctx.extra_mounts == []


async def test_activate_skill_describes_as_a_skill_action(skilled: Harness) -> None:
    action = skilled.builtin.describe(
        skilled.call_of("activate_skill", name="pdf-tools"), skilled.ctx
    )
    assert isinstance(action, Action) and action.kind is ActionKind.SKILL
