"""One ``errand serve`` per data directory, and the ways to choose its port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")

ERRAND = [sys.executable, "-m", "errand"]
REPO = Path(__file__).resolve().parents[2]


def read_until(proc: subprocess.Popen[str], pattern: str, timeout: float = 60) -> re.Match[str]:
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRAND_")}
    env.update(ERRAND_HOME=str(home), COLUMNS="200", **extra)
    return env


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*ERRAND, "serve", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_a_second_server_on_the_same_data_directory_exits_2_and_touches_nothing(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    port = free_port()
    first = start(serve_env(home, ERRAND_PORT=str(port)))
    try:
        url = read_until(first, r"serving at (http://127\.0\.0\.1:\d+)").group(1)
        assert url == f"http://127.0.0.1:{port}"  # ERRAND_PORT chose it
        server_file = home / "server.json"
        before = server_file.read_bytes()
        second = subprocess.run(
            [*ERRAND, "serve", "--port", "0"],
            env=serve_env(home),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "already running" in lines[0] and url in lines[0], lines
        assert "Traceback" not in second.stderr
        assert server_file.read_bytes() == before
        paired = subprocess.run(
            [*ERRAND, "pair", "--json"],
            env=serve_env(home),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert paired.returncode == 0, paired.stderr
        assert httpx.get(f"{url}/api/v1/health", trust_env=False).status_code < 500
    finally:
        assert stop(first) == 0
    assert not (home / "server.json").exists()


def test_a_server_killed_with_9_does_not_block_the_next(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = start(serve_env(home), "--port", "0")
    try:
        read_until(first, r"serving at http://")
    finally:
        stop(first, signal.SIGKILL)
    again = start(serve_env(home), "--port", "0")
    try:
        url = read_until(again, r"serving at (http://127\.0\.0\.1:\d+)").group(1)
        assert url in (home / "server.json").read_text(encoding="utf-8")
    finally:
        assert stop(again) == 0


def test_make_serve_passes_args_through() -> None:
    dry = subprocess.run(
        ["make", "-n", "-C", str(REPO), "serve", "ARGS=--port 9000 --lan"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dry.returncode == 0, dry.stderr
    assert "errand serve --port 9000 --lan" in dry.stdout
