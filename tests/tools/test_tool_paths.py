"""Mapping model paths to granted folders: what is accepted, and the attacks refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from errand.sandbox.policy import SandboxPolicy
from errand.tools import ToolError, resolve_path
from tools.tool_harness import DOCS, WORK, build_policy


@pytest.fixture
def policy(folders: tuple[Path, Path]) -> SandboxPolicy:
    return build_policy(*folders)


@pytest.mark.parametrize(
    ("given", "grant", "rel", "shown"),
    [
        ("notes.txt", "work", "notes.txt", "notes.txt"),
        ("./src/../notes.txt", "work", "notes.txt", "notes.txt"),
        ("", "work", "", "."),
        (".", "work", "", "."),
        (f"{WORK}/a/b.txt", "work", "a/b.txt", "a/b.txt"),
        (f"{DOCS}/guide.md", "docs", "guide.md", f"{DOCS}/guide.md"),
        (DOCS, "docs", "", DOCS),
        ("../docs/guide.md", "docs", "guide.md", f"{DOCS}/guide.md"),
        (f"{WORK}//a///b", "work", "a/b", "a/b"),
    ],
)
def test_paths_inside_granted_folders_map_to_the_folder_and_a_relative_path(
    policy: SandboxPolicy, given: str, grant: str, rel: str, shown: str
) -> None:
    found = resolve_path(policy, given)
    assert (found.grant.name, found.rel, found.shown) == (grant, rel, shown)
    assert found.sandbox_path == (f"/sessions/t1/mnt/{grant}/{rel}".rstrip("/"))


@pytest.mark.parametrize(
    "given",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "/sessions/t1/mnt/other/secret.txt",
        "/sessions/t1/mnt",
        "/sessions/t2/mnt/work/x",
        f"{WORK}/../../../../root/.ssh/id_rsa",
        "/sessions/t1/mnt/workspace/x",  # a prefix of a name is not that folder
        "~/.ssh/id_rsa/../../../../../../etc/shadow",
    ],
)
def test_paths_outside_the_grants_are_refused_naming_the_folders(
    policy: SandboxPolicy, given: str
) -> None:
    with pytest.raises(ToolError) as caught:
        resolve_path(policy, given)
    message = str(caught.value)
    assert "outside the granted folders" in message
    assert f"{WORK} (read-write)" in message
    assert f"{DOCS} (read-only)" in message


def test_a_host_path_of_a_grant_is_refused_with_its_sandbox_path(
    policy: SandboxPolicy, folders: tuple[Path, Path]
) -> None:
    work, _ = folders
    with pytest.raises(ToolError, match=f"in the sandbox it is {WORK}/src/a.py"):
        resolve_path(policy, str(work / "src" / "a.py"))


def test_writes_to_a_read_only_folder_are_refused_and_reads_are_not(
    policy: SandboxPolicy,
) -> None:
    assert resolve_path(policy, f"{DOCS}/guide.md").grant.name == "docs"
    with pytest.raises(ToolError, match="granted read-only; nothing was changed"):
        resolve_path(policy, f"{DOCS}/guide.md", writing=True)
    assert resolve_path(policy, "new.txt", writing=True).grant.name == "work"


def test_no_folders_and_nul_bytes_are_clear_errors(policy: SandboxPolicy) -> None:
    with pytest.raises(ToolError, match="No folders are granted"):
        resolve_path(SandboxPolicy(session="t1"), "a.txt")
    with pytest.raises(ToolError, match="NUL"):
        resolve_path(policy, "a\x00.txt")
