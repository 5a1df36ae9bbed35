"""``GET /api/v1/mcp``: each configured server and the state it was last seen in."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from errand.mcp import HEALTH, ServerHealth, ServerState, mcp_config
from server.gateway_harness import LiveGateway, live_gateway


@pytest.fixture
async def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveGateway]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    async for running in live_gateway(tmp_path, start_runner=False):
        yield running
    HEALTH.clear()


async def test_servers_are_listed_with_their_health_and_no_host_details(
    live: LiveGateway,
) -> None:
    config = mcp_config(
        {
            "mcp": {
                "servers": {
                    "git": {
                        "command": ["/home/me/.venvs/mcp/bin/mcp-server-git"],
                        "folders": [{"name": "site", "mode": "ro"}],
                        "approval": "allow",
                    },
                    "time": {"command": ["mcp-server-time"]},
                    "notes": {
                        "url": "https://mcp.example.com/mcp",
                        "allow_domains": ["mcp.example.com"],
                    },
                }
            }
        }
    )
    live.gateway.config = dataclasses.replace(live.gateway.config, mcp=config)
    HEALTH.report(ServerHealth("git", ServerState.READY, tools=12, skipped=("tool 'x': bad",)))
    HEALTH.report(ServerHealth("time", ServerState.FAILED, reason="MCP server time exited"))
    async with live.client() as client:
        response = await client.get("/api/v1/mcp")
    async with live.client("nope") as stranger:
        refused = await stranger.get("/api/v1/mcp")
    assert response.status_code == 200
    assert refused.status_code == 401
    servers = {s["name"]: s for s in response.json()["servers"]}
    assert servers["git"]["state"] == "ready" and servers["git"]["tools"] == 12
    assert servers["git"]["skipped"] == ["tool 'x': bad"]
    assert servers["git"]["folders"] == [{"name": "site", "mode": "ro"}]
    assert servers["git"]["approval"] == "allow"
    assert servers["time"]["state"] == "failed"
    assert servers["time"]["reason"] == "MCP server time exited"
    assert servers["notes"] == {**servers["notes"], "state": "not_started", "transport": "http"}
    assert "/home/me" not in response.text
