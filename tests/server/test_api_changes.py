"""A task's changes through the HTTP API: listed with diffs, held for review, applied, undone."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from errand.store import TaskStatus
from errand.store.access_store import AccessStore
from server.gateway_harness import LiveGateway, live_gateway

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")


@pytest.fixture
async def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveGateway]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    async for running in live_gateway(tmp_path):
        yield running


async def test_review_mode_holds_shell_made_changes_until_applied_then_undo(
    live: LiveGateway, tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "list.txt").write_text("milk\n", encoding="utf-8")
    await AccessStore(live.store).add_folder("notes", str(notes), "rw", now=datetime.now(UTC))
    script = "echo eggs >> list.txt && cp list.txt copy.txt && cat copy.txt"
    model = live.script(
        [
            {"tool_calls": [{"name": "run_shell", "arguments": {"command": script}}]},
            {"text": "done"},
        ]
    )
    async with live.client() as client:
        task = (
            await client.post(
                "/api/v1/tasks",
                json={
                    "prompt": "shop",
                    "model": model,
                    "folders": [{"name": "notes", "mode": "rw"}],
                    "review": True,
                },
            )
        ).json()
        await live.wait_status(task["id"], TaskStatus.COMPLETED, TaskStatus.FAILED)
        assert os.listdir(notes) == ["list.txt"]
        assert (notes / "list.txt").read_text(encoding="utf-8") == "milk\n"
        url = f"/api/v1/tasks/{task['id']}"
        held = (await client.get(f"{url}/changes")).json()["changes"]
        assert {(c["path"], c["kind"], c["status"]) for c in held} == {
            ("list.txt", "modified", "held"),
            ("copy.txt", "created", "held"),
        }
        diff = next(c["diff"] for c in held if c["path"] == "list.txt")
        assert "+eggs" in diff
        applied = await client.post(f"{url}/changes/apply", json={})
        assert applied.status_code == 200, applied.text
        assert (notes / "list.txt").read_text(encoding="utf-8") == "milk\neggs\n"
        listed = (await client.get(f"{url}/changes")).json()["changes"]
        assert {c["status"] for c in listed} == {"applied"}
        undone = await client.post(f"{url}/undo", json={})
        assert undone.status_code == 200, undone.text
        assert os.listdir(notes) == ["list.txt"]
        assert (notes / "list.txt").read_text(encoding="utf-8") == "milk\n"
        bad = await client.post("/api/v1/tasks/nope/undo", json={})
        assert bad.status_code == 404
