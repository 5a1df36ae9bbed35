"""``POST /api/v1/maintenance/prune``: only a token with the owner's ``maintenance`` scope may
prune; old finished tasks go, unfinished ones stay."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from errand.access import DEVICE_SCOPES, Scope, create_token
from errand.store import TaskStatus
from errand.tasks import TaskSpec
from server.gateway_harness import LiveGateway, live_gateway

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")


@pytest.fixture
async def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveGateway]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    async for running in live_gateway(tmp_path, start_runner=False):
        yield running


async def test_only_the_maintenance_scope_prunes_and_unfinished_tasks_stay(
    live: LiveGateway, tmp_path: Path
) -> None:
    done = await live.store.create_task("an old errand", spec=TaskSpec(model="script:x"))
    await live.store.set_task_status(done.id, TaskStatus.RUNNING)
    await live.store.set_task_status(done.id, TaskStatus.COMPLETED, exit_code=0)
    running = await live.store.create_task("an old running errand", spec=TaskSpec(model="script:x"))
    await live.store.set_task_status(running.id, TaskStatus.RUNNING)
    with sqlite3.connect(tmp_path / "errand.db") as db:
        old = "2020-01-01 00:00:00.000000"
        db.execute(
            "UPDATE tasks SET created_at = ?, finished_at = ? WHERE id = ?", (old, old, done.id)
        )
        db.execute("UPDATE tasks SET created_at = ? WHERE id = ?", (old, running.id))

    everyday_token = (await create_token(live.store, "app", ["tasks:read", "tasks:write"])).token
    async with live.client(everyday_token) as everyday:
        refused = await everyday.post("/api/v1/maintenance/prune", json={"older_than_days": 90})
    assert refused.status_code == 403
    assert await live.store.get_task(done.id)

    owner = (await create_token(live.store, "owner", ["maintenance"])).token
    async with live.client(owner) as client:
        bad = await client.post("/api/v1/maintenance/prune", json={"older_than_days": 0})
        assert bad.status_code == 422
        answer = await client.post("/api/v1/maintenance/prune", json={"older_than_days": 90})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"deleted": 1, "kept_unfinished": 1}
    remaining = {task.id for task in await live.store.list_tasks()}
    assert remaining == {running.id}
    assert Scope.MAINTENANCE not in DEVICE_SCOPES  # a paired phone never prunes
