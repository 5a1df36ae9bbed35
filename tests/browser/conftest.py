"""A task's browser against local sites: a real sandbox session, the real proxy, real Chromium.

The sites run in a namespace test host (``tests/browser/site.py``). Every name resolves to
that host; ``shop.test`` is the task's allowed domain, ``other.test`` is unlisted (the user is
asked: the fake user's answer is set per test) and ``forbidden.test`` is denied.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import shutil
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from browser.site import PORT, Request, Site, serve
from errand.browser import BrowserToolset
from errand.models import ToolCall
from errand.sandbox import (
    FolderGrant,
    FolderMode,
    GrantedRoot,
    NetworkDecision,
    SandboxPolicy,
    Verdict,
)
from errand.sandbox.addresses import IPAddress
from errand.sandbox.session import Sandbox
from errand.tools import Action, ToolContext, ToolOutput
from nethost import nethost_or_skip

ALLOWED = "shop.test"
UNLISTED = "other.test"
DENIED = "forbidden.test"


def chromium_or_skip() -> None:
    if shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed (scripts/os-deps.sh test installs it)")


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    chromium_or_skip()
    with nethost_or_skip(http_server=False) as host, serve(host) as running:
        yield running


@dataclass
class NetworkUser:
    """The person the proxy asks about unlisted domains."""

    answer: bool = False
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int, call_id: str) -> bool:
        self.asked.append(host)
        return self.answer


@dataclass
class Browsing:
    """One task's browser toolset over a real sandbox, and what its network did."""

    site: Site
    toolset: BrowserToolset
    ctx: ToolContext
    decisions: list[NetworkDecision]
    user: NetworkUser
    artifacts: Path
    baseline: int = 0
    """How many requests the (shared) site had received before this test."""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def received(self) -> list[Request]:
        """The requests the site received during this test."""
        return self.site.received()[self.baseline :]

    def url(self, name: str, path: str) -> str:
        return f"http://{name}:{PORT}{path}"

    def call_of(self, tool: str, /, **arguments: object) -> ToolCall:
        return ToolCall(f"call-{next(self._ids)}", tool, json.dumps(arguments))

    def describe(self, tool: str, /, **arguments: object) -> Action | ToolOutput:
        return self.toolset.describe(self.call_of(tool, **arguments), self.ctx)

    async def call(self, tool: str, /, **arguments: object) -> ToolOutput:
        call = self.call_of(tool, **arguments)
        ctx = ToolContext(
            sandbox=self.ctx.sandbox,
            policy=self.ctx.policy,
            roots=self.ctx.roots,
            ask_user=self.ctx.ask_user,
            call_id=call.id,
        )
        return await self.toolset.invoke(call, ctx)

    def refused(self, host: str) -> list[NetworkDecision]:
        return [d for d in self.decisions if d.host == host and d.verdict is Verdict.DENY]

    def allowed(self, host: str) -> list[NetworkDecision]:
        return [d for d in self.decisions if d.host == host and d.verdict is Verdict.ALLOW]

    def hosts_received(self) -> set[str]:
        return {r.host.split(":")[0] for r in self.received()}


async def _no_questions(text: str) -> str:
    return "(no answer)"


@contextlib.asynccontextmanager
async def open_browsing(
    site: Site, tmp_path: Path, folders: Sequence[FolderGrant] = ()
) -> AsyncIterator[Browsing]:
    """A task's browser toolset in a fresh sandbox session granted ``folders``."""
    address = ipaddress.ip_address(str(site.host.address))

    async def resolve(name: str, port: int) -> list[IPAddress]:
        return [address]

    policy = SandboxPolicy.build(
        session="browser-test",
        folders=list(folders),
        network={
            "allow_domains": [ALLOWED],
            "deny_domains": [DENIED],
            "allow_cidrs": [str(site.host.network)],
        },
    )
    decisions: list[NetworkDecision] = []
    user = NetworkUser()
    sandbox = Sandbox(policy, on_decision=decisions.append, ask=user, resolver=resolve)
    await sandbox.start()
    roots = {
        g.name: GrantedRoot(g.path, writable=g.mode is FolderMode.READ_WRITE)
        for g in policy.folders
    }
    ctx = ToolContext(sandbox=sandbox, policy=policy, roots=roots, ask_user=_no_questions)
    artifacts = tmp_path / "artifacts"
    toolset = BrowserToolset(ctx, artifacts=artifacts)
    try:
        yield Browsing(site, toolset, ctx, decisions, user, artifacts, len(site.received()))
    finally:
        try:
            await toolset.aclose()
        finally:
            try:
                await sandbox.aclose()
            finally:
                for root in roots.values():
                    root.close()


@pytest.fixture
async def browsing(site: Site, tmp_path: Path) -> AsyncIterator[Browsing]:
    async with open_browsing(site, tmp_path) as opened:
        yield opened
