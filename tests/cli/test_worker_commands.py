"""Folders are the worker's own, from the command line: ``errand folders add`` labels a folder
with this host's worker, ``errand folders list`` shows it, and the multi-process commands
refuse SQLite with one sentence. Run in-process (no server starts in these tests)."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from errand.cli import app
from errand.store import open_store


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("ERRAND_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("ERRAND_DATABASE_URL", raising=False)
    return home


def errand(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_folders_are_labelled_with_this_hosts_worker(home: Path, tmp_path: Path) -> None:
    for name in ("docs", "photos", "music"):
        (tmp_path / name).mkdir()
    code, out, err = errand("folders", "add", str(tmp_path / "docs"))
    assert code == 0, err
    assert "for tasks the gateway's own runner runs (errand serve)" in out
    (home / "errand.toml").write_text('[worker]\nname = "nas"\n', encoding="utf-8")
    code, out, err = errand("folders", "add", str(tmp_path / "photos"))
    assert code == 0, err
    assert out.startswith(f"Allowed {tmp_path / 'photos'} as 'photos' (ro) for tasks the worker")
    assert "the worker 'nas' runs" in out
    code, out, err = errand("folders", "add", str(tmp_path / "music"), "--worker", "pi")
    assert code == 0, err
    code, out, _ = errand("folders", "list")
    rows = {line.split()[0]: line.split()[2] for line in out.splitlines()[1:]}
    assert rows == {"docs": "(gateway)", "photos": "nas", "music": "pi"}
    code, _, err = errand("folders", "add", str(tmp_path), "--worker", "serve")
    assert code == 2
    assert err == (
        "errand: 'serve' names the gateway's own runner (errand serve); pick another worker name\n"
    )


def test_workers_and_a_runnerless_gateway_refuse_sqlite(home: Path) -> None:
    for command in (["worker"], ["serve", "--no-runner", "--port", "0"]):
        code, _, err = errand(*command)
        assert code == 2
        assert "needs PostgreSQL, since tasks are shared between processes" in err
        assert len(err.strip().splitlines()) == 1


def test_a_worker_name_is_checked(home: Path) -> None:
    code, _, err = errand("worker", "--name", "my laptop")
    assert code == 2
    assert err.startswith("errand: --name 'my laptop' cannot name a worker")
    (home / "errand.toml").write_text('[worker]\nname = "no/slash"\n', encoding="utf-8")
    code, _, err = errand("worker")
    assert code == 2
    assert "'no/slash' cannot name a worker" in err


def test_errand_workers_lists_live_and_stopped_runners(home: Path) -> None:
    code, out, _ = errand("workers")
    assert code == 0
    assert out.startswith("No runner is running: start `errand serve` or `errand worker`")

    async def two_runners() -> None:
        async with await open_store() as store:
            await store.renew_worker(
                "nas/1", name="nas", labels={"nas"}, concurrency=3, alive_seconds=60
            )
            await store.renew_worker(
                "pi/1", name="pi", labels={"pi"}, concurrency=1, alive_seconds=0
            )

    asyncio.run(two_runners())
    code, out, err = errand("workers")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["name", "state", "tasks", "host", "pid", "serves"]
    nas, pi = (row.split() for row in rows)
    assert nas == ["nas", "running", "0/3", socket.gethostname(), str(os.getpid()), "nas"]
    assert pi[:2] == ["pi", "stopped"] and pi[3:] == ["0/1", socket.gethostname(), pi[5], "pi"]
