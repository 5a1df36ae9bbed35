"""What ``errand serve`` tells a new user at start-up: that a phone cannot open a loopback
address (and which flag fixes it), whether a model is configured, and a pairing QR code only
while no device is paired."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from errand.store import open_store
from errand.store.access import devices

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")

ERRAND = [sys.executable, "-m", "errand"]


def start_up(home: Path, *, model: str | None) -> str:
    """Run ``errand serve`` until it has said everything it says at start-up; its output."""
    env = {**os.environ, "ERRAND_HOME": str(home), "COLUMNS": "400"}
    env.pop("ERRAND_DATABASE_URL", None)
    env.pop("ERRAND_MODEL", None)
    if model is not None:
        env["ERRAND_MODEL"] = model
    with subprocess.Popen(
        [*ERRAND, "serve", "--port", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        seen = ""
        try:
            for line in proc.stdout:
                seen += line
                if "errand pair" in line:  # the last start-up line, either way
                    break
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0, seen
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    return seen


async def add_device(home: Path) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{home / 'errand.db'}")
    now = datetime.now(UTC)
    try:
        async with store._write() as conn:
            await conn.execute(
                devices.insert().values(
                    id="dev1",
                    name="Ana's phone",
                    secret_hash="0" * 64,
                    created_at=now,
                    last_seen_at=now,
                )
            )
    finally:
        await store.aclose()


def test_a_first_start_says_a_phone_cannot_reach_loopback_and_no_model_is_set(
    tmp_path: Path,
) -> None:
    seen = start_up(tmp_path / "home", model=None)
    assert "a phone cannot" in seen
    assert "--tailscale" in seen and "--public-url" in seen and "--lan" in seen
    assert "No model is configured" in seen
    assert "Scan this code" in seen


def test_with_a_device_paired_no_code_is_shown_at_start_up(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    asyncio.run(add_device(home))
    seen = start_up(home, model="anthropic:claude-sonnet-4-5")
    assert "Model: anthropic:claude-sonnet-4-5." in seen
    assert "1 device is paired. To pair another, run `errand pair`." in seen
    assert "Scan this code" not in seen and "/pair#v1." not in seen


def test_a_wrong_notify_table_stops_serve_with_one_sentence(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "errand.toml").write_text('[notify]\nntfy = "ntfy.sh/no-scheme"\n', encoding="utf-8")
    env = {**os.environ, "ERRAND_HOME": str(home)}
    env.pop("ERRAND_DATABASE_URL", None)
    done = subprocess.run(
        [*ERRAND, "serve", "--port", "0"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "notify.ntfy must be a topic URL" in done.stderr
    assert "Traceback" not in done.stderr
