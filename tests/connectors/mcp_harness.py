"""Running ``errand`` with MCP servers configured: a scratch home, ``errand.toml`` and a
scripted model, and the events the task recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit

HERE = Path(__file__).resolve().parent
HOSTILE = HERE / "hostile_server.py"
EVERYTHING = HERE / "servers/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
VENV_BIN = Path(sys.prefix) / "bin"
PROGRAMS = sorted(
    {sys.prefix, str(Path(sys.base_prefix).resolve()), str(HERE)}
    | ({str(HERE / "servers/node_modules")} if EVERYTHING.exists() else set())
)
"""What the test servers' programs need to see: this venv, its base Python, the tests."""


@dataclass
class Home:
    """A scratch ``ERRAND_HOME`` with an ``errand.toml``."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / "errand.toml"

    def servers(self, servers: Mapping[str, Mapping[str, Any]], budget: int | None = None) -> None:
        table: dict[str, Any] = {"servers": {k: dict(v) for k, v in servers.items()}}
        if budget is not None:
            table["tool_budget"] = budget
        self.config.write_text(tomlkit.dumps({"mcp": table}), encoding="utf-8")

    def script(self, turns: Sequence[Mapping[str, Any]]) -> str:
        path = self.path / "script.json"
        path.write_text(json.dumps({"version": 1, "turns": list(turns)}), encoding="utf-8")
        return f"script:{path}"

    def errand(
        self, args: list[str], env: Mapping[str, str] | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        clean = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ANTHROPIC_", "OPENAI_", "ERRAND_"))
        }
        return subprocess.run(
            [sys.executable, "-m", "errand", *args],
            cwd=self.path,
            env={**clean, "ERRAND_HOME": str(self.path), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )


def stdio(command: Sequence[str], **more: Any) -> dict[str, Any]:
    """A stdio server's table with the test programs visible and a generous start-up time
    (the machine may be busy)."""
    return {"command": list(command), "programs": PROGRAMS, "start_timeout": 120, **more}


def events(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The events of a ``--json`` run."""
    found = []
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def of_type(found: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["payload"] for e in found if e.get("type") == kind]


def call(name: str, arguments: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "arguments": dict(arguments or {})}
