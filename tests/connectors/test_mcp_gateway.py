"""Tasks started through the gateway's API name the MCP servers they use (``toolsets``),
and ``errand serve`` runs them with those servers: a real mcp-server-time in its sandbox."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.mcp_harness import VENV_BIN, Home, call, stdio
from errand.access import create_token
from errand.store import open_store

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run as root here")


def serving_url(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    assert proc.stdout is not None
    deadline, seen = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
        found = re.search(r"serving at (http://127\.0\.0\.1:\d+)", seen)
        if found:
            return found.group(1)
    raise AssertionError(f"errand serve never said where it serves; it printed:\n{seen}")


async def use_the_api(url: str, home: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    store = await open_store(f"sqlite+aiosqlite:///{home / 'errand.db'}")
    try:
        token = (await create_token(store, "mcp test")).token
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, trust_env=False, timeout=30
        ) as client:
            unknown = await client.post(
                "/api/v1/tasks", json={"prompt": "hi", "toolsets": ["mcp:nowhere"]}
            )
            assert unknown.status_code == 400, unknown.text
            assert unknown.json()["error"]["code"] == "unknown_toolset"
            assert "mcp:time" in unknown.json()["error"]["message"]
            created = await client.post(
                "/api/v1/tasks", json={"prompt": "time in Paris?", "toolsets": ["mcp:time"]}
            )
            assert created.status_code == 201, created.text
            task_id = created.json()["id"]
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                task = (await client.get(f"/api/v1/tasks/{task_id}")).json()
                if task["status"] in ("completed", "failed", "cancelled"):
                    break
                await asyncio.sleep(0.1)
        events = [{"type": e.type, **e.payload} for e in await store.events(task_id)]
        return task, events
    finally:
        await store.aclose()


def test_an_api_task_uses_the_mcp_server_it_names(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.path.mkdir()
    home.servers({"time": stdio([str(VENV_BIN / "mcp-server-time")], approval="allow")})
    model = home.script(
        [
            {"tool_calls": [call("mcp__time__get_current_time", {"timezone": "Europe/Paris"})]},
            {
                "expect_tool_results": [{"contains": '"timezone": "Europe/Paris"'}],
                "text": "It is time.",
            },
        ]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ERRAND_", "OPENAI_"))}
    env.update(ERRAND_HOME=str(home.path), ERRAND_MODEL=model, COLUMNS="200")
    log = tmp_path / "serve.log"
    with (
        log.open("w", encoding="utf-8") as stderr,
        subprocess.Popen(
            [sys.executable, "-m", "errand", "serve", "--port", "0"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as proc,
    ):
        try:
            url = serving_url(proc)
            task, events = asyncio.run(use_the_api(url, home.path))
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    assert task["status"] == "completed", (task, log.read_text(encoding="utf-8"))
    states = [(e["server"], e["state"]) for e in events if e["type"] == "mcp.server"]
    assert ("time", "ready") in states, json.dumps(events)
    [called] = [e for e in events if e["type"] == "tool.call"]
    assert called["kind"] == "mcp"
