"""The API on a full disk: a sentence and 507, nothing half-written, and everything works
again as soon as space returns (a real gateway with its store on a 4 MB file system)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from errand.store import TaskStatus
from server.gateway_harness import LiveGateway, live_gateway
from small_disk import fill, small_disk_at

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small disk needs root")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk_at(tmp_path / "disk") as disk:
        yield disk


@pytest.fixture
async def live(small_disk: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveGateway]:
    monkeypatch.setenv("ERRAND_HOME", str(small_disk / "home"))
    async for running in live_gateway(
        small_disk, default_model="script:unused.json", start_runner=False
    ):
        yield running


async def test_a_full_disk_answers_507_and_loses_nothing(live: LiveGateway) -> None:
    async with live.client() as client:
        queued = await client.post("/api/v1/tasks", json={"prompt": "before the disk filled"})
        assert queued.status_code == 201, queued.text
        task_id = queued.json()["id"]
        filler = fill(live.tmp_path)
        try:
            refused = await client.post("/api/v1/tasks", json={"prompt": "big " + "x" * 90_000})
            assert refused.status_code == 507, refused.text
            error = refused.json()["error"]
            assert error["code"] == "insufficient_storage"
            assert "disk" in error["message"].lower()
            cancel = await client.post(f"/api/v1/tasks/{task_id}/cancel")
            # Either the cancel was recorded, or it says it could not be: never a 202 that
            # changes nothing.
            if cancel.status_code == 202:
                assert (await live.store.get_task(task_id)).status is TaskStatus.CANCELLED
            else:
                assert cancel.status_code == 507, cancel.text
        finally:
            filler.unlink()
        listed = (await client.get("/api/v1/tasks")).json()["tasks"]
        assert not [t for t in listed if t["title"].startswith("big")]  # nothing half-written
        again = await client.post(f"/api/v1/tasks/{task_id}/cancel")
        assert again.status_code in (202, 409), again.text
        assert (await live.store.get_task(task_id)).status is TaskStatus.CANCELLED
        after = await client.post("/api/v1/tasks", json={"prompt": "after space returned"})
        assert after.status_code == 201, after.text
