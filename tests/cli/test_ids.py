"""IDs as people type them: unique prefixes, device names, and tables that never cut an ID."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from errand.cli.ids import Candidate, IdProblem, resolve_id
from errand.store import open_store
from errand.tasks import TaskSpec


def errand(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRAND_")}
    env.update(ERRAND_HOME=str(home), COLUMNS="40")  # a narrow terminal: nothing may be cut
    return subprocess.run(
        [sys.executable, "-m", "errand", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"

    async def tasks() -> None:
        store = await open_store(f"sqlite+aiosqlite:///{path / 'errand.db'}")
        try:
            for n in range(3):
                await store.create_task(
                    f"errand {n} with a long title " * 4, spec=TaskSpec(model="script:x")
                )
        finally:
            await store.aclose()

    asyncio.run(tasks())
    with sqlite3.connect(path / "errand.db") as db:
        now = "2026-01-01 00:00:00.000000"
        for device_id, name in (("dvaaaa1111", "kitchen tablet"), ("dvaaab2222", "my phone")):
            db.execute(
                "INSERT INTO devices (id, name, secret_hash, created_at, last_seen_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (device_id, name, "0" * 64, now, now),
            )
    return path


def task_ids(home: Path) -> list[str]:
    with sqlite3.connect(home / "errand.db") as db:
        return [row[0] for row in db.execute("SELECT id FROM tasks ORDER BY id")]


def test_session_lists_print_whole_ids_through_a_pipe(home: Path) -> None:
    listed = errand(home, "sessions", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if "queued" in line]
    assert len(rows) == 3
    for task_id, row in zip(reversed(task_ids(home)), rows, strict=True):
        assert row.split()[:2] == [task_id, "queued"] and "script:x" in row


def test_sessions_show_takes_a_unique_prefix(home: Path) -> None:
    newest = task_ids(home)[-1]
    shown = errand(home, "sessions", "show", newest[:-3], "--json")
    assert shown.returncode == 0, shown.stderr
    assert all(json.loads(line)["task_id"] == newest for line in shown.stdout.splitlines())


def test_an_ambiguous_prefix_lists_the_candidates(home: Path) -> None:
    ids = task_ids(home)
    common = ids[0][:4]
    assert all(task_id.startswith(common) for task_id in ids)
    answer = errand(home, "sessions", "show", common)
    assert answer.returncode == 2
    lines = answer.stderr.strip().splitlines()
    assert len(lines) == 1 and "matches several tasks" in lines[0]
    assert all(task_id in lines[0] for task_id in ids)
    missing = errand(home, "sessions", "show", "zzzz")
    assert missing.returncode == 2 and "no task 'zzzz'" in missing.stderr


def test_devices_by_name_prefix_and_json(home: Path) -> None:
    listed = errand(home, "devices", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    devices = json.loads(listed.stdout)
    assert [d["id"] for d in devices] == ["dvaaaa1111", "dvaaab2222"]
    assert devices[0]["name"] == "kitchen tablet" and devices[0]["status"] in ("active", "expired")
    table = errand(home, "devices", "list")
    assert "dvaaaa1111" in table.stdout and "dvaaab2222" in table.stdout
    ambiguous = errand(home, "devices", "revoke", "dvaaa")
    assert ambiguous.returncode == 2
    assert "dvaaaa1111 (kitchen tablet)" in ambiguous.stderr and "dvaaab2222" in ambiguous.stderr
    assert errand(home, "devices", "revoke", "my phone").returncode == 0
    assert errand(home, "devices", "revoke", "dvaaaa").returncode == 0
    remaining = json.loads(errand(home, "devices", "list", "--json").stdout)
    assert remaining == []


def test_tokens_revoke_takes_a_prefix(home: Path) -> None:
    created = errand(home, "tokens", "create", "--name", "backup")
    assert created.returncode == 0, created.stderr
    token_id = created.stdout.strip().split("_", 3)[2]
    assert token_id in errand(home, "tokens", "list").stdout
    revoked = errand(home, "tokens", "revoke", token_id[:8])
    assert revoked.returncode == 0, revoked.stderr
    assert f"Revoked token {token_id}." in revoked.stdout


def test_an_exact_id_wins_over_a_longer_one_it_prefixes() -> None:
    found = resolve_id("ab", [Candidate("ab"), Candidate("abc")], kind="task")
    assert found == "ab"
    with pytest.raises(IdProblem, match="matches several"):
        resolve_id("a", [Candidate("ab"), Candidate("abc")], kind="task")
