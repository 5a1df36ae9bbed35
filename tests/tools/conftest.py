"""A real sandbox session over two temporary granted folders, and a toolbox to call tools.

``work`` is granted read-write (and is the working folder), ``docs`` read-only. Every tool
call goes through a :class:`Toolbox` over the built-in toolset, the way the agent loop makes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from errand.sandbox.audit import AskUser as AskNetwork
from errand.sandbox.files import GrantedRoot
from errand.sandbox.policy import FolderMode
from errand.sandbox.proxy import Resolver
from errand.sandbox.session import Sandbox
from errand.tools import BuiltinToolset, Tool, Toolbox, ToolContext, default_tools
from tools.tool_harness import Asked, Harness, MakeHarness, build_policy


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    work = tmp_path / "work"
    docs = tmp_path / "docs"
    work.mkdir()
    docs.mkdir()
    (docs / "guide.md").write_text("# Guide\nread me\n", encoding="utf-8")
    return work, docs


@pytest.fixture
async def make_harness(folders: tuple[Path, Path]) -> AsyncIterator[MakeHarness]:
    """Build a harness with extra policy fields (``network=``, ``limits=``), a resolver and
    an approval callback for the egress proxy, and extra tools; everything is closed at the
    end of the test."""
    opened: list[Sandbox] = []
    roots: list[GrantedRoot] = []

    async def make(
        *,
        resolver: Resolver | None = None,
        ask: AskNetwork | None = None,
        tools: Sequence[Tool] = (),
        **fields: object,
    ) -> Harness:
        work, docs = folders
        policy = build_policy(work, docs, **fields)
        sandbox = Sandbox(policy, resolver=resolver, ask=ask)
        await sandbox.start()
        opened.append(sandbox)
        grant_roots = {
            g.name: GrantedRoot(g.path, writable=g.mode is FolderMode.READ_WRITE)
            for g in policy.folders
        }
        roots.extend(grant_roots.values())
        asked = Asked()
        ctx = ToolContext(sandbox=sandbox, policy=policy, roots=grant_roots, ask_user=asked)
        builtin = BuiltinToolset([*default_tools(), *tools])
        return Harness(work, docs, ctx, builtin, Toolbox([builtin]), asked)

    yield make
    for sandbox in opened:
        await sandbox.aclose()
    for root in roots:
        root.close()


@pytest.fixture
async def harness(make_harness: MakeHarness) -> Harness:
    return await make_harness()
