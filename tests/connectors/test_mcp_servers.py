"""Real MCP servers Errand did not write, each in its own sandbox, driven through
``errand run`` by a scripted model: server-everything (npm), mcp-server-time and
mcp-server-git (PyPI)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from connectors.mcp_harness import EVERYTHING, HOSTILE, VENV_BIN, Home, call, events, of_type, stdio

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run as root here")


@pytest.fixture
def home(tmp_path: Path) -> Home:
    # Beside the folders the tests grant, not around them: a folder inside Errand's own data
    # directory cannot be granted.
    path = tmp_path / "home"
    path.mkdir()
    return Home(path)


def test_time_server_answers_through_errand_run(home: Home) -> None:
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
    result = home.errand(["run", "what time is it in Paris?", "--model", model, "--json"])
    assert result.returncode == 0, result.stderr + result.stdout
    found = events(result)
    states = [(p["server"], p["state"], p["tools"]) for p in of_type(found, "mcp.server")]
    assert ("time", "ready", 2) in states
    assert states[-1] == ("time", "stopped", 0)
    [called] = of_type(found, "tool.call")
    assert called["kind"] == "mcp"
    assert called["summary"].startswith("MCP server time: get_current_time")


@pytest.mark.skipif(not EVERYTHING.exists(), reason="run `make mcp-servers` (npm) first")
def test_everything_server_text_images_resources_and_long_calls(home: Home) -> None:
    home.servers({"everything": stdio(["node", str(EVERYTHING), "stdio"], approval="allow")})
    model = home.script(
        [
            {
                "tool_calls": [
                    call("mcp__everything__echo", {"message": "hello from errand"}),
                    call("mcp__everything__get-sum", {"a": 2, "b": 40}),
                    call("mcp__everything__get-tiny-image"),
                    call("mcp__everything__get-resource-reference", {"resourceId": 2}),
                    call(
                        "mcp__everything__trigger-long-running-operation",
                        {"duration": 1, "steps": 2},
                    ),
                    call("mcp__everything__echo", {"wrong": 1}),
                ]
            },
            {
                "expect_tool_results": [
                    {"contains": "hello from errand", "is_error": False},
                    {"contains": "42", "is_error": False},
                    {"contains": "[image: image/png", "is_error": False},
                    {"contains": "[resource ", "is_error": False},
                    {"contains": "Long running operation completed", "is_error": False},
                    {"is_error": True},
                ],
                "text": "Done.",
            },
        ]
    )
    result = home.errand(["run", "exercise everything", "--model", model, "--json"])
    assert result.returncode == 0, result.stderr + result.stdout
    [ready] = [p for p in of_type(events(result), "mcp.server") if p["state"] == "ready"]
    assert ready["tools"] >= 10 and ready["skipped"] == []


def test_git_server_sees_only_the_granted_repository(home: Home, tmp_path: Path) -> None:
    repo = tmp_path / "site"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@example.org"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    (repo / "index.html").write_text("<h1>hi</h1>\n", encoding="utf-8")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "First page"], check=True)
    assert home.errand(["folders", "add", str(repo), "--name", "site"]).returncode == 0
    server = stdio(
        [str(VENV_BIN / "mcp-server-git")],
        folders=[{"name": "site", "mode": "ro"}],
        tools={"git_log": "allow"},
    )
    home.servers({"git": server})
    inside = "/sessions"  # the server's folder is mounted under its own session home
    model = home.script(
        [
            {"tool_calls": [call("mcp__git__git_log", {"repo_path": ".", "max_count": 1})]},
            {"expect_tool_results": [{"contains": "First page"}], "text": "Read the log."},
        ]
    )
    granted = home.errand(
        ["run", "show the log", "--folder", f"{repo}:ro", "--model", model, "--json"]
    )
    assert granted.returncode == 0, granted.stderr + granted.stdout
    assert inside  # documented above: paths inside differ from the host's

    refused = home.errand(["run", "show the log", "--mcp", "git", "--model", model])
    assert refused.returncode == 1
    assert "needs folder 'site' (ro), which this task was not granted" in refused.stdout


def test_check_reports_exactly_what_failed(home: Home) -> None:
    home.servers(
        {
            "time": stdio([str(VENV_BIN / "mcp-server-time")]),
            "missing": stdio(["no-such-mcp-server"]),
            "crash": stdio([str(VENV_BIN / "python"), str(HOSTILE), "crash"]),
            "badschema": stdio([str(VENV_BIN / "python"), str(HOSTILE), "bad-schema"]),
        }
    )
    ok = home.errand(["mcp", "check", "time"])
    assert ok.returncode == 0, ok.stderr
    assert "ready with 2 tools" in ok.stdout and "mcp__time__convert_time" in ok.stdout

    missing = home.errand(["mcp", "check", "missing"])
    assert missing.returncode == 1
    assert "command not found inside the sandbox: no-such-mcp-server" in missing.stderr

    crash = home.errand(["mcp", "check", "crash"])
    assert crash.returncode == 1
    assert "exited with status 3; its stderr ends: hostile server: refusing" in crash.stderr

    bad = home.errand(["mcp", "check", "badschema"])
    assert bad.returncode == 0
    assert "mcp__hostile__echo" not in bad.stdout  # named after the configured server
    assert "mcp__badschema__echo" in bad.stdout
    assert "left out: tool 'broken': its input schema is not valid JSON Schema" in bad.stdout

    unknown = home.errand(["mcp", "check", "nope"])
    assert unknown.returncode == 2
    assert "there is no MCP server named 'nope'" in unknown.stderr


def test_add_list_remove(home: Home) -> None:
    added = home.errand(
        ["mcp", "add", "time", "--approval", "allow", "--", str(VENV_BIN / "mcp-server-time")]
    )
    assert added.returncode == 0, added.stderr
    listed = home.errand(["mcp", "list"])
    assert "time" in listed.stdout and "mcp-server-time" in listed.stdout
    again = home.errand(["mcp", "add", "time", "--", "x"])
    assert again.returncode == 2 and "already configured" in again.stderr
    remote = ["mcp", "add", "web", "--url", "https://example.org/mcp", "--secret", "TOKEN"]
    bad = home.errand([*remote, "--header", "Authorization=Bearer ${TOKEN}"])
    assert bad.returncode == 2
    assert "web.url: example.org is not in allow_domains; add it there" in bad.stderr
    assert home.errand(["mcp", "remove", "time"]).returncode == 0
    assert "No MCP servers" in home.errand(["mcp", "list"]).stdout
