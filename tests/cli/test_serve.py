"""``errand serve`` as a user runs it: a QR code and link at start-up, ``errand pair`` for
another code, and a clean stop on Ctrl-C that records the running task as interrupted."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from errand.access import create_token
from errand.store import TaskStatus, open_store

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")

ERRAND = [sys.executable, "-m", "errand"]


def read_until(proc: subprocess.Popen[str], pattern: str, timeout: float = 30) -> re.Match[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
        found = re.search(pattern, seen)
        if found:
            return found
    raise AssertionError(f"{pattern!r} never printed; got:\n{seen}")


async def create_sleeping_task(url: str, db: str, script: Path) -> str:
    store = await open_store(db)
    try:
        token = (await create_token(store, "serve test")).token
    finally:
        await store.aclose()
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, trust_env=False, timeout=30
    ) as client:
        answer = await client.post("/api/v1/tasks", json={"prompt": "wait a while"})
        assert answer.status_code == 201, answer.text
        task_id: str = answer.json()["id"]
        for _ in range(200):
            if (await client.get(f"/api/v1/tasks/{task_id}")).json()["status"] == "running":
                return task_id
            await asyncio.sleep(0.05)
    raise AssertionError("the task never started")


def test_serve_shows_a_pairing_code_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = tmp_path / "sleep.json"
    script.write_text(
        json.dumps(
            {
                "turns": [
                    {"tool_calls": [{"name": "run_shell", "arguments": {"command": "sleep 60"}}]},
                    {"text": "done"},
                ]
            }
        ),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "ERRAND_HOME": str(home),
        "ERRAND_MODEL": f"script:{script}",
        "COLUMNS": "200",
    }
    env.pop("ERRAND_DATABASE_URL", None)
    log = tmp_path / "serve.log"
    with (
        log.open("w", encoding="utf-8") as stderr,
        subprocess.Popen(
            [*ERRAND, "serve", "--port", "0"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as proc,
    ):
        try:
            url = read_until(proc, r"serving at (http://127\.0\.0\.1:\d+)").group(1)
            link = read_until(proc, r"or open (\S+)").group(1)
            assert link.startswith(f"{url}/pair#v1.")
            server_file = home / "server.json"
            assert server_file.stat().st_mode & 0o777 == 0o600
            paired = subprocess.run(
                [*ERRAND, "pair", "--json"], env=env, capture_output=True, text=True, timeout=30
            )
            assert paired.returncode == 0, paired.stderr
            fresh = json.loads(paired.stdout)
            assert fresh["link"].startswith(f"{url}/pair#v1.") and fresh["link"] != link
            db = f"sqlite+aiosqlite:///{home / 'errand.db'}"
            task_id = asyncio.run(create_sleeping_task(url, db, script))
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0, log.read_text(encoding="utf-8")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert not server_file.exists()

    async def status() -> TaskStatus:
        store = await open_store(db)
        try:
            return (await store.get_task(task_id)).status
        finally:
            await store.aclose()

    assert asyncio.run(status()) is TaskStatus.INTERRUPTED


def test_the_qr_code_is_drawn_in_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from errand.cli.serve import show_pairing

    show_pairing("http://127.0.0.1:8765/pair#v1.abcdefghijklmnopqrstuv", "12:00")
    out = capsys.readouterr().out
    assert "▀" in out or "█" in out or "▄" in out
    assert "or open http://127.0.0.1:8765/pair#v1.abcdefghijklmnopqrstuv" in out


def test_pair_without_a_running_server_says_how_to_start_one(tmp_path: Path) -> None:
    env = {**os.environ, "ERRAND_HOME": str(tmp_path / "home")}
    answer = subprocess.run([*ERRAND, "pair"], env=env, capture_output=True, text=True, timeout=30)
    assert answer.returncode == 1
    assert "errand serve is not running" in answer.stderr
