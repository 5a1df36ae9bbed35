"""Remote MCP servers over streamable HTTP, reached only through the egress proxy: the real
server-everything serving ``streamableHttp`` on a namespace test host, and the refusals a
remote server gets like every tool (loopback, private addresses, denied domains)."""

from __future__ import annotations

import ipaddress
import os
import select
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.mcp_harness import EVERYTHING, Home, call, events, of_type
from errand.mcp import check_server, proxied, server_config, server_policy
from errand.sandbox import NetworkDecision, NetworkPolicy, SandboxPolicy
from errand.sandbox.addresses import IPAddress
from nethost import nethost_or_skip

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="namespace test hosts need root")

PORT = 3001
SECRET = "s3cret-notes-token"


@pytest.fixture(scope="module")
def remote_url() -> Iterator[tuple[str, str]]:
    """server-everything serving streamable HTTP on a test host: (its URL, the host's range)."""
    node = shutil.which("node")
    if node is None or not EVERYTHING.exists():
        pytest.skip("server-everything is installed by make mcp-servers (needs node)")
    with nethost_or_skip(http_server=False) as host:
        server = subprocess.Popen(
            host.command([node, str(EVERYTHING), "streamableHttp"]),
            env={"PATH": os.environ["PATH"], "PORT": str(PORT)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stderr is not None
            seen = ""
            while "listening on port" not in seen:
                ready, _, _ = select.select([server.stderr], [], [], 60)
                line = server.stderr.readline() if ready else ""
                assert line, f"server-everything did not start: {seen}"
                seen += line
            yield f"http://{host.address}:{PORT}/mcp", str(host.network)
        finally:
            server.kill()
            server.communicate(timeout=10)


def test_a_remote_server_is_checked_and_used_through_the_proxy(
    tmp_path: Path, remote_url: tuple[str, str]
) -> None:
    url, network = remote_url
    home = Home(tmp_path / "home")
    home.path.mkdir()
    server = {
        "url": url,
        "allow_cidrs": [network],
        "secrets": ["NOTES_TOKEN"],
        "headers": {"X-Notes-Token": "Token ${NOTES_TOKEN}"},
        "approval": "allow",
        "start_timeout": 120,
    }
    home.servers({"everything": server})
    env = {"NOTES_TOKEN": SECRET}

    checked = home.errand(["mcp", "check", "everything"], env=env)
    assert checked.returncode == 0, checked.stderr + checked.stdout
    assert "MCP server everything (mcp-servers/everything" in checked.stdout
    assert "mcp__everything__echo" in checked.stdout

    model = home.script(
        [
            {"tool_calls": [call("mcp__everything__echo", {"message": "over HTTP"})]},
            {"expect_tool_results": [{"contains": "Echo: over HTTP"}], "text": "Echoed."},
        ]
    )
    ran = home.errand(["run", "echo", "--model", model, "--json"], env=env)
    assert ran.returncode == 0, ran.stderr + ran.stdout
    found = events(ran)
    assert [p["state"] for p in of_type(found, "mcp.server")][:2] == ["starting", "ready"]
    decisions = of_type(found, "network.decision")
    host = url.split("/")[2].split(":")[0]
    assert decisions and all(
        (d["call_id"], d["host"], d["verdict"]) == ("mcp-everything", host, "allow")
        for d in decisions
    )
    for output in (checked.stdout, checked.stderr, ran.stdout, ran.stderr):
        assert SECRET not in output


async def test_a_remote_server_gets_the_proxy_refusals_every_tool_gets() -> None:
    config = server_config(
        "notes", {"url": "https://notes.test/mcp", "allow_domains": ["notes.test"]}
    )
    cases = [
        ("127.0.0.1", None, "notes.test resolves to 127.0.0.1, a loopback address"),
        ("10.20.30.40", None, "notes.test resolves to 10.20.30.40, a private address"),
        ("10.20.30.40", ["notes.test"], "notes.test is in the denied domains"),
    ]
    for address, deny, reason in cases:
        decisions: list[NetworkDecision] = []

        async def resolve(name: str, port: int, to: str = address) -> list[IPAddress]:
            return [ipaddress.ip_address(to)]

        task = SandboxPolicy(network=NetworkPolicy(deny_domains=tuple(deny or ())))
        launcher = proxied(
            config,
            server_policy(config, {}, task),
            on_decision=decisions.append,
            resolver=resolve,
        )
        report = await check_server(config, {}, launcher=launcher)
        assert report.failure == (
            "MCP server notes at https://notes.test/mcp could not be reached through the "
            f"egress proxy: {reason}"
        )
        assert [(d.call_id, d.verdict.value) for d in decisions][:1] == [("mcp-notes", "deny")]
