"""The ``[mcp]`` table: what is accepted, and one sentence for what is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from errand.mcp import (
    Approval,
    McpConfigError,
    add_server,
    approval_rules,
    mcp_config,
    remove_server,
    server_config,
)
from errand.sandbox import FolderMode


def test_a_full_stdio_server_is_read() -> None:
    config = mcp_config(
        {
            "mcp": {
                "tool_budget": 500,
                "servers": {
                    "git": {
                        "command": ["mcp-server-git"],
                        "folders": [{"name": "site", "mode": "rw"}],
                        "allow_domains": ["GitHub.com"],
                        "env": {"GIT_AUTHOR_NAME": "Errand"},
                        "secrets": ["GITHUB_TOKEN"],
                        "approval": "allow",
                        "tools": {"git_commit": "ask"},
                    },
                    "notes": {
                        "url": "https://mcp.example.com/mcp",
                        "allow_domains": ["mcp.example.com"],
                    },
                },
            }
        }
    )
    git = config.servers["git"]
    assert config.tool_budget == 500
    assert git.command == ("mcp-server-git",)
    assert git.folders[0].name == "site" and git.folders[0].mode is FolderMode.READ_WRITE
    assert git.allow_domains == ("github.com",)
    assert git.tools == {"git_commit": Approval.ASK}
    assert config.servers["notes"].transport == "http"
    assert config.servers["notes"].approval is Approval.ASK
    assert approval_rules(config) == {
        "mcp__git__*": "allow",
        "mcp__git__git_commit": "ask",
        "mcp__notes__*": "ask",
    }


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("git", {}, "mcp.servers.git needs exactly one of command (a list) and url"),
        ("git", {"command": "git"}, "mcp.servers.git.command must be a list of non-empty strings"),
        ("a__b", {"command": ["x"]}, "mcp.servers.a__b: server names are lowercase"),
        ("git", {"command": ["x"], "approval": "maybe"}, "mcp.servers.git.approval must be"),
        ("git", {"command": ["x"], "colour": 1}, "mcp.servers.git.colour is not a setting"),
        ("git", {"url": "ftp://x"}, "mcp.servers.git.url must be an http(s) URL"),
        ("git", {"url": "https://u:p@x"}, "mcp.servers.git.url must not hold credentials"),
        ("git", {"command": ["x"], "allow_domains": ["*"]}, "mcp.servers.git.allow_domains"),
        ("git", {"command": ["x"], "env": {"A B": "1"}}, "mcp.servers.git.env: 'A B' is not"),
        ("git", {"command": ["x"], "programs": ["rel"]}, "must be an absolute path"),
        ("git", {"command": ["x"], "programs": ["/"]}, "the whole file system"),
        ("git", {"command": ["x"], "folders": [{"mode": "rw"}]}, "each folder needs a name"),
        ("git", {"command": ["x"], "start_timeout": 0}, "start_timeout must be a number"),
        ("n", {"url": "https://a.test/mcp"}, "n.url: a.test is not in allow_domains; add it"),
        ("n", {"url": "https://a.test/", "allow_domains": ["b.test"]}, "not in allow_domains"),
        ("n", {"url": "http://a.test/", "allow_domains": ["a.test"]}, "n.url must use https://"),
        ("n", {"url": "http://10.1.2.3/"}, "n.url: 10.1.2.3 is an address outside allow_cidrs"),
        ("n", {"url": "http://[::1]/", "allow_cidrs": ["10.0.0.0/8"]}, "::1 is an address"),
        ("n", {"url": "https://a.test/", "allow_cidrs": ["10.1.2.3/8"]}, "CIDR form"),
        (
            "n",
            {"url": "https://a.test/", "allow_domains": ["a.test"], "folders": [{"name": "x"}]},
            "n.folders is for stdio servers (command)",
        ),
        (
            "n",
            {"url": "https://a.test/", "allow_domains": ["a.test"], "headers": {"A": "${T}"}},
            "n.headers.A: ${T} must name one of the server's secrets",
        ),
        (
            "n",
            {"url": "https://a.test/", "allow_domains": ["a.test"], "headers": {"Host": "x"}},
            "n.headers: Host is set by Errand itself",
        ),
        ("n", {"command": ["x"], "headers": {"A": "b"}}, "n.headers is for remote servers"),
    ],
)
def test_mistakes_get_one_sentence(name: str, body: dict[str, object], message: str) -> None:
    with pytest.raises(McpConfigError) as caught:
        server_config(name, body)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_secret_is_named() -> None:
    server = server_config("git", {"command": ["x"], "secrets": ["GITHUB_TOKEN"]})
    with pytest.raises(McpConfigError, match="needs the environment variable GITHUB_TOKEN"):
        server.secret_values({})
    assert server.secret_values({"GITHUB_TOKEN": "t", "OTHER": "o"}) == {"GITHUB_TOKEN": "t"}


def test_a_remote_server_s_headers_get_its_secrets() -> None:
    server = server_config(
        "notes",
        {
            "url": "https://notes.example.com/mcp?v=1",
            "allow_domains": ["*.example.com"],
            "secrets": ["NOTES_TOKEN"],
            "headers": {"Authorization": "Bearer ${NOTES_TOKEN}", "X-Client": "errand"},
        },
    )
    assert server.header_values({"NOTES_TOKEN": "t0k", "OTHER": "o"}) == {
        "Authorization": "Bearer t0k",
        "X-Client": "errand",
    }
    with pytest.raises(McpConfigError, match="a secret in header Authorization holds a line"):
        server.header_values({"NOTES_TOKEN": "t0k\r\nX-Evil: 1"})
    with pytest.raises(McpConfigError, match="needs the environment variable NOTES_TOKEN"):
        server.header_values({})
    on_lan = server_config(
        "lan", {"url": "http://10.1.2.3:3001/mcp", "allow_cidrs": ["10.0.0.0/8"]}
    )
    assert on_lan.allow_cidrs == ("10.0.0.0/8",)


def test_select_by_name_or_all() -> None:
    config = mcp_config({"mcp": {"servers": {"a": {"command": ["x"]}, "b": {"command": ["y"]}}}})
    assert [s.name for s in config.select(None)] == ["a", "b"]
    assert [s.name for s in config.select(["mcp:b"])] == ["b"]
    with pytest.raises(McpConfigError, match="there is no MCP server named 'c'"):
        config.select(["c"])


def test_add_and_remove_keep_the_rest_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "errand.toml"
    path.write_text('# my settings\nmodel = "anthropic:x"\n', encoding="utf-8")
    add_server(path, "time", {"command": ["mcp-server-time"], "approval": "allow"})
    text = path.read_text(encoding="utf-8")
    assert text.startswith('# my settings\nmodel = "anthropic:x"\n')
    assert "[mcp.servers.time]" in text
    with pytest.raises(McpConfigError, match="already configured"):
        add_server(path, "time", {"command": ["x"]})
    with pytest.raises(McpConfigError, match="needs exactly one of"):
        add_server(path, "bad", {})
    import tomllib

    assert mcp_config(tomllib.loads(text)).servers["time"].approval is Approval.ALLOW
    remove_server(path, "time")
    assert "mcp-server-time" not in path.read_text(encoding="utf-8")
    with pytest.raises(McpConfigError, match="there is no MCP server named 'time'"):
        remove_server(path, "time")


def test_the_mcp_table_is_a_known_part_of_errand_toml(tmp_path: Path) -> None:
    from errand.config import load_config

    path = tmp_path / "errand.toml"
    path.write_text('[mcp.servers.time]\ncommand = ["mcp-server-time"]\n', encoding="utf-8")
    warnings: list[str] = []
    config = load_config(path, on_warning=warnings.append)
    assert warnings == []
    assert mcp_config(config).servers["time"].command == ("mcp-server-time",)
