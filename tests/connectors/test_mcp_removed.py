"""A queued task names an MCP server that the owner then removes from ``errand.toml``: when it
runs, the task says so and fails, as it does when a server it named crashes."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from errand.agent import options_for_spec
from errand.mcp import mcp_config
from errand.models import ModelAdapter, ScriptedModel
from errand.runner import LocalRunner
from errand.store import Store, TaskStatus, open_store
from errand.tasks import TaskSpec

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")


@pytest.fixture
async def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Store]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    opened = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'errand.db'}")
    yield opened
    await opened.aclose()


async def test_a_named_server_removed_before_the_task_runs_fails_it(
    store: Store, tmp_path: Path
) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": [{"text": "never asked"}]}), encoding="utf-8")

    def model(_: str) -> ModelAdapter:
        return ScriptedModel.from_file(script)

    spec = TaskSpec(model="script:x", toolsets=("mcp:notes",))
    queued = await store.create_task("what is in my notes?", spec=spec)
    config: dict[str, object] = {"mcp": {"servers": {}}}  # notes was removed meanwhile
    runner = LocalRunner(
        store,
        model_factory=model,
        options_factory=lambda task: options_for_spec(
            config, mcp_config(config), task.spec, store=store
        ),
    )
    claimed = await store.claim_task(queued.id, runner.id, lease_seconds=60)
    assert claimed is not None
    outcome = await runner.execute(claimed)
    task = await store.get_task(queued.id)
    assert outcome.status is TaskStatus.FAILED
    assert task.status is TaskStatus.FAILED
    reason = "MCP server notes is no longer configured in errand.toml"
    assert task.error == f"the task needs MCP server notes, which failed: {reason}"
    changes = [e.payload for e in await store.events(queued.id) if e.type == "mcp.server"]
    assert [(c["server"], c["state"], c["reason"]) for c in changes] == [
        ("notes", "failed", reason)
    ]
