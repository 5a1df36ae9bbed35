"""``GET /api/v1/workers``: every runner with its heartbeat, the gateway's own included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from errand.runner import LeaseSettings, Worker
from server.gateway_harness import LiveGateway, live_gateway


@pytest.fixture
async def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveGateway]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    async for running in live_gateway(tmp_path):
        yield running


async def test_idle_runners_are_listed_and_one_that_stops_is_gone(live: LiveGateway) -> None:
    worker = Worker(live.store, name="nas", concurrency=3, leases=LeaseSettings(lease_seconds=30))
    await worker.start()
    try:
        async with live.client() as client:
            listed = (await client.get("/api/v1/workers")).json()["workers"]
    finally:
        await worker.aclose()
    async with live.client() as client:
        after = (await client.get("/api/v1/workers")).json()["workers"]
    async with live.client("nope") as stranger:
        assert (await stranger.get("/api/v1/workers")).status_code == 401

    by_name = {entry["name"]: entry for entry in listed}
    assert set(by_name) == {"serve", "nas"}
    nas = by_name["nas"]
    assert nas["labels"] == ["nas"] and nas["concurrency"] == 3 and nas["running"] == 0
    assert nas["alive"] is True and nas["alive_until"] > nas["started_at"]
    assert by_name["serve"]["labels"] == ["serve"] and by_name["serve"]["alive"] is True
    assert [entry["name"] for entry in after] == ["serve"]
