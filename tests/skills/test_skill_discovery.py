"""Discovering skills across the user's folder and granted folders: precedence, trust, bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from errand.skills import SkillCatalog, SkillSource, discover_skills
from errand.skills import discovery as discovery_module


def write_skill(root: Path, folder: str, front: str, body: str = "Use the tool.\n") -> Path:
    """Write ``root/folder/SKILL.md`` with YAML ``front`` (ending in a newline) and ``body``."""
    path = root / folder
    path.mkdir(parents=True, exist_ok=True)
    (path / "SKILL.md").write_text(f"---\n{front}---\n{body}", encoding="utf-8")
    return path


def simple(root: Path, name: str, description: str = "d") -> Path:
    return write_skill(root, name, f"name: {name}\ndescription: {description}\n")


def description_of(catalog: SkillCatalog, name: str) -> str:
    skill = catalog.get(name)
    assert skill is not None
    return skill.description


@pytest.fixture
def user_source(tmp_path: Path) -> SkillSource:
    return SkillSource.user(tmp_path / "data")


def granted(tmp_path: Path, name: str, *, trusted: bool = True) -> SkillSource:
    folder = tmp_path / "grants" / name
    folder.mkdir(parents=True, exist_ok=True)
    return SkillSource.granted_folder(name, folder, trusted=trusted)


def test_user_source_lives_in_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    source = SkillSource.user()
    assert source.root == tmp_path / "home" / "skills"
    assert source.label == "user"
    assert source.trusted


def test_skills_from_every_source_are_found_with_their_origin(
    tmp_path: Path, user_source: SkillSource
) -> None:
    simple(user_source.root, "mine")
    project = granted(tmp_path, "project")
    simple(project.root, "build-docs")
    catalog = discover_skills([user_source, project])
    assert [skill.name for skill in catalog] == ["build-docs", "mine"]
    mine = catalog.get("mine")
    assert mine is not None
    assert mine.source == "user"
    build = catalog.get("build-docs")
    assert build is not None
    assert build.source == "folder:project"
    assert build.path == (project.root / "build-docs").resolve()
    assert catalog.skipped == ()


def test_user_skill_wins_over_a_granted_folder_whatever_the_order(
    tmp_path: Path, user_source: SkillSource
) -> None:
    simple(user_source.root, "deploy", "the user's deploy")
    project = granted(tmp_path, "project")
    shadowed = simple(project.root, "deploy", "the folder's deploy")
    catalog = discover_skills([project, user_source])
    skill = catalog.get("deploy")
    assert skill is not None
    assert skill.source == "user"
    assert skill.description == "the user's deploy"
    ((path, reason),) = catalog.skipped
    assert path == shadowed.resolve()
    assert reason.startswith("shadowed by the skill 'deploy' from user")


def test_first_granted_folder_wins_between_folders(tmp_path: Path) -> None:
    first, second = granted(tmp_path, "first"), granted(tmp_path, "second")
    simple(first.root, "lint", "first")
    simple(second.root, "lint", "second")
    catalog = discover_skills([first, second])
    assert description_of(catalog, "lint") == "first"
    assert "from folder:first" in catalog.skipped[0].reason
    reversed_catalog = discover_skills([second, first])
    assert description_of(reversed_catalog, "lint") == "second"


def test_untrusted_folder_contributes_no_skills(tmp_path: Path) -> None:
    stranger = granted(tmp_path, "download", trusted=False)
    simple(stranger.root, "helpful")
    catalog = discover_skills([stranger])
    assert len(catalog) == 0
    ((path, reason),) = catalog.skipped
    assert path == stranger.root
    assert "not trusted" in reason


def test_bad_skill_is_skipped_with_reason_and_others_still_load(
    user_source: SkillSource,
) -> None:
    simple(user_source.root, "good")
    broken = write_skill(user_source.root, "broken", "description: no name\n")
    catalog = discover_skills([user_source])
    assert [skill.name for skill in catalog] == ["good"]
    assert catalog.skipped == ((broken.resolve(), "front matter must have a 'name'"),)


def test_lenient_warnings_are_kept_for_diagnostics(user_source: SkillSource) -> None:
    folder = write_skill(user_source.root, "tidy", "name: tidy\ndescription: d\nowner: me\n")
    catalog = discover_skills([user_source])
    assert catalog.get("tidy") is not None
    assert catalog.warnings == ((folder.resolve(), "unknown front matter key 'owner'"),)


def test_folders_without_skill_file_and_stray_files_are_ignored(
    user_source: SkillSource,
) -> None:
    simple(user_source.root, "real")
    (user_source.root / "notes").mkdir()
    (user_source.root / "README.md").write_text("hello", encoding="utf-8")
    simple(user_source.root, ".hidden")
    catalog = discover_skills([user_source])
    assert [skill.name for skill in catalog] == ["real"]
    assert catalog.skipped == ()


def test_missing_skills_folders_are_not_an_error(tmp_path: Path, user_source: SkillSource) -> None:
    catalog = discover_skills([user_source, granted(tmp_path, "empty")])
    assert len(catalog) == 0
    assert catalog.skipped == ()


def test_symlink_out_of_the_source_root_is_not_followed(
    tmp_path: Path, user_source: SkillSource
) -> None:
    outside = simple(tmp_path / "elsewhere", "outsider")
    user_source.root.mkdir(parents=True)
    link = user_source.root / "outsider"
    link.symlink_to(outside)
    catalog = discover_skills([user_source])
    assert catalog.get("outsider") is None
    ((path, reason),) = catalog.skipped
    assert path == user_source.root.resolve() / "outsider"
    assert "outside" in reason


def test_symlink_inside_the_root_loads_the_skill_once(user_source: SkillSource) -> None:
    real = simple(user_source.root, "real")
    (user_source.root / "alias").symlink_to(real)
    catalog = discover_skills([user_source])
    assert [skill.name for skill in catalog] == ["real"]
    assert catalog.skipped == ()


def test_skills_folder_linking_out_of_its_granted_folder_is_not_followed(
    tmp_path: Path,
) -> None:
    simple(tmp_path / "private", "secret-skill")
    project = granted(tmp_path, "project")
    (project.boundary / ".agents").mkdir()
    project.root.symlink_to(tmp_path / "private")
    catalog = discover_skills([project])
    assert len(catalog) == 0
    assert "outside" in catalog.skipped[0].reason


def test_skills_per_source_are_bounded(
    user_source: SkillSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(discovery_module, "MAX_SKILLS_PER_SOURCE", 3)
    for index in range(5):
        simple(user_source.root, f"skill-{index}")
    catalog = discover_skills([user_source])
    assert [skill.name for skill in catalog] == ["skill-0", "skill-1", "skill-2"]
    ((path, reason),) = catalog.skipped
    assert path == user_source.root
    assert "more than 3 skills" in reason


def test_discovery_does_not_hold_the_body(user_source: SkillSource) -> None:
    folder = write_skill(user_source.root, "x", "name: x\ndescription: d\n", "Old steps.\n")
    catalog = discover_skills([user_source])
    write_skill(user_source.root, "x", "name: x\ndescription: d\n", "New steps.\n")
    skill = catalog.get("x")
    assert skill is not None
    assert skill.path == folder.resolve()
    assert skill.body() == "New steps."
