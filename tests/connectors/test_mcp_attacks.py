"""A hostile MCP server of the tests' own, run as any configured server is: it tries to read
host files, reach loopback and an unlisted domain, read the host's environment, sample the
model, and flood the tool list. Everything is contained, and the task's log says so."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.mcp_harness import HOSTILE, VENV_BIN, Home, call, events, of_type, stdio

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run as root here")


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


@pytest.fixture
def listener() -> Iterator[int]:
    """A host service on loopback the server must not reach."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_hostile_server_is_contained(home: Home, tmp_path: Path, listener: int) -> None:
    home.path.mkdir()
    secret_file = tmp_path / "outside.txt"
    secret_file.write_text("TOPSECRET", encoding="utf-8")
    server = stdio(
        [str(VENV_BIN / "python"), str(HOSTILE), "probe"],
        approval="allow",
        secrets=["PASSED_TOKEN"],
        env={"SERVER_SETTING": "on"},
    )
    home.servers({"hostile": server})
    probes: list[tuple[str, dict[str, object], str]] = [
        ("mcp__hostile__read_file", {"path": str(secret_file)}, "DENIED"),
        ("mcp__hostile__read_file", {"path": "/etc/shadow"}, "DENIED"),
        ("mcp__hostile__read_file", {"path": str(home.path / "errand.toml")}, "DENIED"),
        ("mcp__hostile__connect", {"host": "127.0.0.1", "port": listener}, "DENIED"),
        ("mcp__hostile__fetch", {"url": "http://unlisted.example.org/"}, "DENIED"),
        ("mcp__hostile__sample", {}, "REFUSED"),
        ("mcp__hostile__environ", {}, "SERVER_SETTING"),
    ]
    model = home.script(
        [
            {"tool_calls": [call(name, args) for name, args, _ in probes]},
            {
                "expect_tool_results": [{"contains": want} for _, _, want in probes],
                "text": "Probed.",
            },
        ]
    )
    env = {"HOST_SECRET_TOKEN": "hunter2", "ANTHROPIC_API_KEY": "sk-host", "PASSED_TOKEN": "ok-1"}
    result = home.errand(["run", "probe", "--model", model, "--json"], env=env)
    assert result.returncode == 0, result.stderr + result.stdout
    found = events(result)
    results = {r["call_id"]: r["content"] for r in of_type(found, "tool.result")}
    environ = json.loads(results["call_1_7"])
    assert "hunter2" not in results["call_1_7"] and "sk-host" not in results["call_1_7"]
    assert environ["PASSED_TOKEN"] == "ok-1"
    assert environ["SERVER_SETTING"] == "on"
    assert environ["HTTP_PROXY"].startswith("http://")
    assert "TOPSECRET" not in result.stdout
    refused = [d for d in of_type(found, "network.decision") if d["host"] == "unlisted.example.org"]
    assert refused and refused[0]["verdict"] == "deny"
    assert refused[0]["call_id"] == "mcp-hostile"


def test_a_flooded_tool_list_is_cut_and_listed_by_name_only(home: Home) -> None:
    home.path.mkdir()
    home.servers(
        {"flood": stdio([str(VENV_BIN / "python"), str(HOSTILE), "flood"], approval="allow")}
    )
    model = home.script(
        [
            {"tool_calls": [call("find_tools", {"query": "mcp__flood__flood_0_3"})]},
            {
                "expect_tool_results": [{"contains": '"input_schema"', "is_error": False}],
                "tool_calls": [call("mcp__flood__flood_0_3", {"p0": "x"})],
            },
            {
                "expect_tool_results": [{"contains": "reported an error", "is_error": True}],
                "text": "Flooded.",
            },
        ]
    )
    result = home.errand(["run", "flood", "--model", model, "--json"])
    assert result.returncode == 0, result.stderr + result.stdout
    [ready] = [p for p in of_type(events(result), "mcp.server") if p["state"] == "ready"]
    assert ready["tools"] == 128
    assert any("more tools (a server may offer at most 128)" in s for s in ready["skipped"])


def test_a_named_server_that_crashes_fails_the_task_with_its_reason(home: Home) -> None:
    home.path.mkdir()
    home.servers({"crash": stdio([str(VENV_BIN / "python"), str(HOSTILE), "crash"])})
    model = home.script([{"text": "never asked"}])
    named = home.errand(["run", "hi", "--mcp", "crash", "--model", model])
    assert named.returncode == 1
    assert "the task needs MCP server crash, which failed" in named.stdout
    assert "refusing to start (crash mode)" in named.stdout

    by_default = home.errand(["run", "hi", "--model", model])
    assert by_default.returncode == 0, by_default.stdout
    assert "MCP server crash failed: MCP server crash exited with status 3" in by_default.stdout
