"""What the model receives when it activates a skill."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from errand.skills import activation as activation_module
from errand.skills import activation_text, parse_skill, resource_files


def make_skill_folder(root: Path, body: str = "Run scripts/extract.py on the file.\n") -> Path:
    folder = root / "pdf-tools"
    folder.mkdir()
    (folder / "SKILL.md").write_text(
        f"---\nname: pdf-tools\ndescription: PDFs\n---\n{body}", encoding="utf-8"
    )
    return folder


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x", encoding="utf-8")


def test_activation_gives_body_mount_and_files(tmp_path: Path) -> None:
    folder = make_skill_folder(tmp_path)
    touch(folder / "scripts" / "extract.py")
    touch(folder / "references" / "forms" / "FORMS.md")
    touch(folder / "references" / "API.md")
    touch(folder / "assets" / "logo.png")
    touch(folder / "notes.txt")
    skill = parse_skill(folder, strict=True)
    text = activation_text(skill, "/sessions/s1/skills/pdf-tools")
    assert "Run scripts/extract.py on the file." in text
    assert "read-only, at /sessions/s1/skills/pdf-tools;" in text
    assert "description: PDFs" not in text
    listed = [line[2:] for line in text.splitlines() if line.startswith("- ")]
    assert listed == [
        "scripts/extract.py",
        "references/API.md",
        "references/forms/FORMS.md",
        "assets/logo.png",
    ]


def test_activation_reads_the_body_as_it_is_now(tmp_path: Path) -> None:
    folder = make_skill_folder(tmp_path, "Old.\n")
    skill = parse_skill(folder, strict=True)
    (folder / "SKILL.md").write_text(
        "---\nname: pdf-tools\ndescription: PDFs\n---\nNew.\n", encoding="utf-8"
    )
    assert "New." in activation_text(skill, PurePosixPath("/m"))


def test_links_are_neither_listed_nor_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    touch(outside / "private.key")
    folder = make_skill_folder(tmp_path)
    touch(folder / "scripts" / "run.sh")
    (folder / "scripts" / "key").symlink_to(outside / "private.key")
    (folder / "scripts" / "more").symlink_to(outside)
    (folder / "assets").symlink_to(outside)
    files, more = resource_files(parse_skill(folder, strict=True))
    assert files == ["scripts/run.sh"]
    assert more == 0


def test_listing_is_bounded_and_says_how_many_are_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(activation_module, "MAX_LISTED_FILES", 3)
    folder = make_skill_folder(tmp_path)
    for index in range(5):
        touch(folder / "assets" / f"file-{index}.txt")
    text = activation_text(parse_skill(folder, strict=True), "/m")
    assert "- assets/file-2.txt" in text
    assert "- assets/file-3.txt" not in text
    assert "- … and 2 more not listed" in text


def test_skill_without_files_says_so(tmp_path: Path) -> None:
    text = activation_text(parse_skill(make_skill_folder(tmp_path), strict=True), "/m")
    assert "no files under scripts/, references/ or assets/" in text


def test_mount_path_must_be_absolute(tmp_path: Path) -> None:
    skill = parse_skill(make_skill_folder(tmp_path), strict=True)
    with pytest.raises(ValueError, match="must be absolute"):
        activation_text(skill, "skills/pdf-tools")
