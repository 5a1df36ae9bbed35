"""Runs sandboxed commands for the escape suite, in-process or as another user.

The escape suite must go through the real code path both as root and as an ordinary user.
In-process runs use the library directly; runs as another user execute this file as a script
(``python escape_harness.py < spec.json``) under that user, with a readable copy of the code.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from errand.sandbox.policy import SandboxPolicy
from errand.sandbox.session import Sandbox


@dataclass
class Outcome:
    """What a sandboxed command did, as the tests see it."""

    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    network: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass(frozen=True)
class Identity:
    """Who runs the sandbox in a test: ``uid`` owns the folders the test grants."""

    name: str
    uid: int
    gid: int


def make_dir(path: Path, who: Identity, files: dict[str, str] | None = None) -> Path:
    """Create a folder (and files in it) owned by ``who``."""
    path.mkdir(parents=True, exist_ok=True)
    for rel, text in (files or {}).items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    for item in [path, *path.rglob("*")]:
        os.lchown(item, who.uid, who.gid)
    return path


RunSandboxed = Callable[..., "Outcome"]
"""``sandboxed(script, folders=[...], network={...}, hosts={...}, limits={...}, timeout=...)``"""


async def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``spec["argv"]`` under ``spec["policy"]``; names in ``spec["hosts"]`` resolve to
    the given addresses (every lookup is recorded), all others fail to resolve."""
    hosts: dict[str, str] = spec.get("hosts", {})
    resolved: list[str] = []

    async def resolver(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        resolved.append(host)
        if host in hosts:
            return [ipaddress.ip_address(hosts[host])]
        raise OSError(f"{host} does not resolve in this test")

    saved = {name: os.environ.get(name) for name in spec.get("env", {})}
    os.environ.update(spec.get("env", {}))
    try:
        policy = SandboxPolicy.build(**spec["policy"])
        async with Sandbox(policy, resolver=resolver) as sandbox:
            result = await sandbox.run(spec["argv"], timeout=spec.get("timeout"))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return {**result.as_json(), "resolved": resolved}


def outcome(data: dict[str, Any]) -> Outcome:
    return Outcome(
        exit_code=data["exit_code"],
        stdout=data["stdout"],
        stderr=data["stderr"],
        timed_out=data["timed_out"],
        network=data["network"],
        resolved=data["resolved"],
    )


if __name__ == "__main__":
    sys.stdout.write(json.dumps(asyncio.run(run_spec(json.load(sys.stdin)))))
