"""Task options from errand.toml, and trusted folders' skills reaching the agent."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from errand.agent import run_task
from errand.agent.settings import options_from_config
from errand.models import ScriptedModel
from errand.sandbox import FolderGrant
from errand.store import Store, TaskStatus, open_store
from errand.tasks import FolderGrantSpec, GrantOrigin, TaskSpec
from errand.tools import ActionKind
from sqlite_db import migrated_sqlite

SKILL = """---
name: greeting
description: How to greet people in this project.
---
Always greet with the word "ahoy".
"""


def test_approvals_and_trusted_folders_come_from_the_config(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    spec = TaskSpec(
        model="script:x",
        folders=tuple(FolderGrantSpec.of(FolderGrant(path=p), GrantOrigin.HOST) for p in (a, b)),
    )
    options = options_from_config(
        {"approvals": {"kinds": {"write": "ask"}}, "skills": {"trusted": [str(b)]}}, spec
    )
    assert options.trusted_folders == frozenset({"b"})
    assert options.approvals.kinds[ActionKind.WRITE] == "ask"
    with pytest.raises(ValueError, match=r"skills\.trusted"):
        options_from_config({"skills": {"trusted": "nope"}}, spec)


def test_review_folders_come_from_the_config(tmp_path: Path) -> None:
    options = options_from_config(
        {"folders": {"taxes": {"review": True}, "notes": {"review": False}}}
    )
    assert options.review_folders == frozenset({"taxes"})
    with pytest.raises(ValueError, match=r"folders\.taxes\.review"):
        options_from_config({"folders": {"taxes": {"review": "yes"}}})


def test_browser_settings_come_from_the_config() -> None:
    options = options_from_config({"browser": {"start_early": False, "memory_mb": 2048}})
    assert (options.browser_start_early, options.browser_memory_mb) == (False, 2048)
    defaults = options_from_config({})
    assert (defaults.browser_start_early, defaults.browser_memory_mb) == (True, 1024)
    with pytest.raises(ValueError, match=r"browser\.memory_mb"):
        options_from_config({"browser": {"memory_mb": 64}})


@pytest.fixture
async def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Store]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    opened = await open_store(migrated_sqlite(tmp_path / "errand.db"))
    yield opened
    await opened.aclose()


@pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")
@pytest.mark.parametrize("trusted", [True, False])
async def test_a_granted_folders_skills_load_only_when_trusted(
    store: Store, tmp_path: Path, trusted: bool
) -> None:
    folder = tmp_path / "project"
    (folder / ".agents/skills/greeting").mkdir(parents=True)
    (folder / ".agents/skills/greeting/SKILL.md").write_text(SKILL, encoding="utf-8")
    script = tmp_path / "s.json"
    expected = "ahoy" if trusted else "no tool"
    script.write_text(
        json.dumps(
            {
                "turns": [
                    {"tool_calls": [{"name": "activate_skill", "arguments": {"name": "greeting"}}]},
                    {"expect_tool_results": [{"contains": expected}], "text": "ok"},
                ]
            }
        ),
        encoding="utf-8",
    )
    grant = FolderGrantSpec.of(FolderGrant(path=folder), GrantOrigin.HOST)
    spec = TaskSpec(model="script:x", folders=(grant,))
    config = {"skills": {"trusted": [str(folder)] if trusted else []}}
    task = await store.create_task("greet", spec=spec)
    outcome = await run_task(
        store, task.id, ScriptedModel.from_file(script), options=options_from_config(config, spec)
    )
    assert outcome.status is TaskStatus.COMPLETED, outcome.error
