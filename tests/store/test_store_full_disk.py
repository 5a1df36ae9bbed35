"""A full disk: a store write fails with ``StoreFull`` (the API's 507), nothing already
committed is lost, and the same write succeeds once space is freed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from errand.server.errors import store_error
from errand.store import StoreFull, TaskStatus, open_store
from errand.tasks import TaskSpec
from small_disk import fill, small_disk_at

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small disk needs root")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk_at(tmp_path / "disk") as disk:
        yield disk


async def test_a_full_disk_is_store_full_and_loses_nothing(small_disk: Path) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{small_disk / 'errand.db'}")
    try:
        task = await store.create_task("write a report", spec=TaskSpec(model="script:x"))
        await store.set_task_status(task.id, TaskStatus.RUNNING)
        await store.append_event(task.id, "message.delta", {"text": "before"})
        filler = fill(small_disk)
        with pytest.raises(StoreFull, match="is full; free some space"):
            for n in range(200):
                await store.append_event(task.id, "message.delta", {"text": f"{n}" * 20_000})
        api = store_error(StoreFull("full"))
        assert (api.status, api.code) == (507, "insufficient_storage")
        filler.unlink()
        await store.set_task_status(task.id, TaskStatus.FAILED, error="the disk was full")
        record = await store.get_task(task.id)
        assert record.status is TaskStatus.FAILED
        texts = [e.payload.get("text") for e in await store.events(task.id)]
        assert "before" in texts
    finally:
        await store.aclose()
