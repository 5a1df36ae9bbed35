"""Parsing one skill folder: the format's rules, strict versus lenient, and the lazy body."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from errand.skills import Skill, SkillError, parse_skill, validate_skill
from errand.skills.frontmatter import MAX_FRONT_MATTER_BYTES, MAX_SKILL_MD_BYTES


def write_skill(root: Path, folder: str, front: str, body: str = "Use the tool.\n") -> Path:
    """Write ``root/folder/SKILL.md`` with YAML ``front`` (ending in a newline) and ``body``."""
    path = root / folder
    path.mkdir(parents=True, exist_ok=True)
    (path / "SKILL.md").write_text(f"---\n{front}---\n{body}", encoding="utf-8")
    return path


def problems_of(folder: Path, *, strict: bool = True) -> tuple[str, ...]:
    with pytest.raises(SkillError) as caught:
        parse_skill(folder, strict=strict)
    return caught.value.problems


def test_valid_skill_exposes_every_field(tmp_path: Path) -> None:
    folder = write_skill(
        tmp_path,
        "pdf-tools",
        "name: pdf-tools\n"
        "description: Extract text and tables from PDF files.\n"
        "license: Apache-2.0\n"
        "compatibility: Needs python3 in the sandbox\n"
        "metadata:\n  author: someone\n  version: '1.0'\n"
        "allowed-tools: shell read_file\n",
    )
    skill = parse_skill(folder, strict=True)
    assert skill.name == "pdf-tools"
    assert skill.description == "Extract text and tables from PDF files."
    assert skill.license == "Apache-2.0"
    assert skill.compatibility == "Needs python3 in the sandbox"
    assert dict(skill.metadata) == {"author": "someone", "version": "1.0"}
    assert skill.allowed_tools == ("shell", "read_file")
    assert skill.path == folder.resolve()
    assert skill.source == "user"
    assert skill.warnings == ()
    assert validate_skill(folder) == []


def test_skill_is_immutable_and_hashable(tmp_path: Path) -> None:
    skill = parse_skill(write_skill(tmp_path, "a", "name: a\ndescription: d\n"), strict=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        skill.name = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        skill.metadata["x"] = "y"  # type: ignore[index]
    assert {skill} == {skill}


@pytest.mark.parametrize("name", ["a", "a" * 64, "pdf-tools", "a1-b2-c3", "123"])
def test_valid_names_are_accepted(tmp_path: Path, name: str) -> None:
    folder = write_skill(tmp_path, name, f"name: '{name}'\ndescription: d\n")
    assert parse_skill(folder, strict=True).name == name


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("''", "1 to 64 characters"),
        ("'" + "a" * 65 + "'", "1 to 64 characters"),
        ("PDF-Tools", "lowercase letters, digits and hyphens"),
        ("pdf_tools", "lowercase letters, digits and hyphens"),
        ("pdf.tools", "lowercase letters, digits and hyphens"),
        ("'pdf tools'", "lowercase letters, digits and hyphens"),
        ("'../up'", "lowercase letters, digits and hyphens"),
        ("-pdf", "must not start or end with a hyphen"),
        ("pdf-", "must not start or end with a hyphen"),
        ("pdf--tools", "consecutive hyphens"),
    ],
)
@pytest.mark.parametrize("strict", [True, False])
def test_name_rules_reject_in_both_modes(
    tmp_path: Path, name: str, fragment: str, strict: bool
) -> None:
    # The name becomes a tool argument and a sandbox path component, so leniency ends here.
    folder = write_skill(tmp_path, "skill", f"name: {name}\ndescription: d\n")
    problems = problems_of(folder, strict=strict)
    assert any(fragment in problem for problem in problems), problems


def test_name_that_yaml_reads_as_a_number_is_refused(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "123", "name: 123\ndescription: d\n")
    assert problems_of(folder) == ("'name' must be text, not int",)


def test_missing_name_and_description_are_both_reported(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "x", "license: MIT\n")
    for strict in (True, False):
        problems = problems_of(folder, strict=strict)
        assert "front matter must have a 'name'" in problems
        assert "front matter must have a 'description'" in problems


@pytest.mark.parametrize("description", ["''", "'   '"])
def test_empty_description_is_refused(tmp_path: Path, description: str) -> None:
    folder = write_skill(tmp_path, "x", f"name: x\ndescription: {description}\n")
    assert problems_of(folder, strict=False) == ("'description' must not be empty",)


def test_description_length_limit_is_1024(tmp_path: Path) -> None:
    ok = write_skill(tmp_path, "ok", f"name: ok\ndescription: {'d' * 1024}\n")
    assert len(parse_skill(ok, strict=True).description) == 1024
    long = write_skill(tmp_path, "long", f"name: long\ndescription: {'d' * 1025}\n")
    assert problems_of(long, strict=False) == (
        "'description' must be at most 1024 characters, not 1025",
    )


def test_compatibility_over_500_is_strict_error_and_lenient_warning(tmp_path: Path) -> None:
    ok = write_skill(tmp_path, "ok", f"name: ok\ndescription: d\ncompatibility: {'c' * 500}\n")
    assert parse_skill(ok, strict=True).compatibility == "c" * 500
    folder = write_skill(tmp_path, "x", f"name: x\ndescription: d\ncompatibility: {'c' * 501}\n")
    assert problems_of(folder) == ("'compatibility' must be at most 500 characters, not 501",)
    lenient = parse_skill(folder, strict=False)
    assert lenient.compatibility is None
    assert lenient.warnings == ("'compatibility' must be at most 500 characters, not 501",)


def test_metadata_must_map_text_to_text(tmp_path: Path) -> None:
    folder = write_skill(
        tmp_path, "x", "name: x\ndescription: d\nmetadata:\n  version: 1.0\n  author: me\n"
    )
    assert any("'metadata' entry 'version'" in p for p in problems_of(folder))
    lenient = parse_skill(folder, strict=False)
    assert dict(lenient.metadata) == {"author": "me"}
    assert len(lenient.warnings) == 1


def test_unknown_keys_are_errors_when_strict_and_warnings_when_lenient(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "x", "name: x\ndescription: d\nversion: 2\nauthor: me\n")
    assert problems_of(folder) == (
        "unknown front matter key 'author'",
        "unknown front matter key 'version'",
    )
    skill = parse_skill(folder, strict=False)
    assert skill.name == "x"
    assert skill.warnings == (
        "unknown front matter key 'author'",
        "unknown front matter key 'version'",
    )


def test_name_must_equal_folder_name_when_strict_only(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "folder-name", "name: other-name\ndescription: d\n")
    assert problems_of(folder) == ("name 'other-name' must equal the folder's name 'folder-name'",)
    skill = parse_skill(folder, strict=False)
    assert skill.name == "other-name"
    assert skill.warnings == ("name 'other-name' must equal the folder's name 'folder-name'",)


def test_strict_lists_every_problem_at_once(tmp_path: Path) -> None:
    folder = write_skill(
        tmp_path, "x", f"name: Bad--Name\ndescription: {'d' * 2000}\nextra: 1\nlicense: [a]\n"
    )
    problems = validate_skill(folder)
    assert len(problems) == 6, problems
    with pytest.raises(SkillError) as caught:
        parse_skill(folder, strict=True)
    assert all(problem in str(caught.value) for problem in problems)
    assert str(folder.resolve()) in str(caught.value)


def test_missing_front_matter_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "SKILL.md").write_text("# Just markdown\nname: x\n", encoding="utf-8")
    assert problems_of(folder, strict=False) == (
        "SKILL.md must start with a '---' line opening its YAML front matter",
    )


def test_unclosed_front_matter_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "SKILL.md").write_text("---\nname: x\ndescription: d\n", encoding="utf-8")
    assert problems_of(folder, strict=False) == (
        "the front matter of SKILL.md has no closing '---'",
    )


@pytest.mark.parametrize(
    ("front", "kind"),
    [("- name: x\n- description: d\n", "a list"), ("just text\n", "a str"), ("", "empty")],
)
def test_front_matter_must_be_a_mapping(tmp_path: Path, front: str, kind: str) -> None:
    folder = write_skill(tmp_path, "x", front)
    assert problems_of(folder, strict=False) == (
        f"the front matter of SKILL.md must be a YAML mapping, not {kind}",
    )


def test_invalid_yaml_reports_the_line_in_the_file(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "x", "name: x\ndescription: [unclosed\n")
    (problem,) = problems_of(folder, strict=False)
    assert problem.startswith("the front matter of SKILL.md is not valid YAML at line")


def test_yaml_tags_that_build_python_objects_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    folder = write_skill(
        tmp_path,
        "x",
        f"name: x\ndescription: !!python/object/apply:os.system ['touch {marker}']\n",
    )
    (problem,) = problems_of(folder, strict=False)
    assert "not valid YAML" in problem
    assert not marker.exists()


def test_byte_order_mark_and_crlf_line_endings_are_accepted(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    text = "\ufeff---\r\nname: x\r\ndescription: d\r\n---\r\nLine one.\r\nLine two.\r\n"
    (folder / "SKILL.md").write_bytes(text.encode("utf-8"))
    skill = parse_skill(folder, strict=True)
    assert skill.description == "d"
    assert skill.body() == "Line one.\nLine two."


def test_oversized_skill_file_is_refused(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "x", "name: x\ndescription: d\n", "b" * MAX_SKILL_MD_BYTES)
    (problem,) = problems_of(folder, strict=False)
    assert "more than the 262144 allowed" in problem


def test_oversized_front_matter_is_refused(tmp_path: Path) -> None:
    padding = "".join(f"k{i}: {'v' * 60}\n" for i in range(MAX_FRONT_MATTER_BYTES // 60))
    folder = write_skill(tmp_path, "x", f"name: x\ndescription: d\n{padding}")
    (problem,) = problems_of(folder, strict=False)
    assert problem == f"the front matter of SKILL.md is longer than {MAX_FRONT_MATTER_BYTES} bytes"


def test_skill_file_that_is_a_symlink_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "secret.md"
    outside.write_text("---\nname: x\ndescription: secret\n---\nsecret\n", encoding="utf-8")
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "SKILL.md").symlink_to(outside)
    (problem,) = problems_of(folder, strict=False)
    assert "symbolic link" in problem


def test_skill_file_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    os.mkfifo(folder / "SKILL.md")
    assert problems_of(folder, strict=False) == ("SKILL.md is not a regular file",)


def test_validate_reports_missing_folder_and_missing_file(tmp_path: Path) -> None:
    assert validate_skill(tmp_path / "absent") == [
        "the skill folder does not exist or is not a folder"
    ]
    (tmp_path / "empty").mkdir()
    assert validate_skill(tmp_path / "empty") == ["SKILL.md is missing"]


def test_parsing_reads_only_the_front_matter(tmp_path: Path) -> None:
    # Bytes that are not UTF-8 in the body: parsing succeeds because it stops at the '---'.
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "SKILL.md").write_bytes(b"---\nname: x\ndescription: d\n---\n\xff\xfe broken\n")
    skill = parse_skill(folder, strict=True)
    with pytest.raises(SkillError, match=r"body of SKILL\.md is not valid UTF-8"):
        skill.body()


def test_body_is_read_fresh_on_each_call(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "x", "name: x\ndescription: d\n", "\nFirst version.\n")
    skill = parse_skill(folder, strict=True)
    assert skill.body() == "First version."
    write_skill(tmp_path, "x", "name: x\ndescription: d\n", "Second version.\n")
    assert skill.body() == "Second version."
    (folder / "SKILL.md").unlink()
    with pytest.raises(SkillError, match=r"SKILL\.md is missing"):
        skill.body()


def test_body_refuses_a_folder_swapped_for_a_link(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "x", "name: x\ndescription: d\n")
    skill = parse_skill(folder, strict=True)
    elsewhere = write_skill(tmp_path / "outside", "x", "name: x\ndescription: d\n", "secret\n")
    folder.rename(tmp_path / "moved")
    folder.symlink_to(elsewhere)
    with pytest.raises(SkillError, match="symbolic link"):
        skill.body()


def test_skill_can_be_built_directly_for_other_sources(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "x", "name: x\ndescription: d\n")
    skill = parse_skill(folder, strict=False, source="folder:project")
    assert skill == Skill(name="x", description="d", path=folder.resolve(), source="folder:project")
