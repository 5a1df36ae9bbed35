"""``errand sandbox exec`` and ``errand sandbox check`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run as root here")


def errand(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ERRAND_HOME": str(cwd / "home")}
    return subprocess.run(
        [sys.executable, "-m", "errand", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_exec_writes_into_a_read_write_folder(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    result = errand(
        "sandbox", "exec", "--folder", "./x:rw", "--", "sh", "-c", "echo hi > out.txt", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "x" / "out.txt").read_text(encoding="utf-8") == "hi\n"


def test_exec_streams_output_and_returns_the_commands_status(tmp_path: Path) -> None:
    result = errand(
        "sandbox", "exec", "--", "sh", "-c", "echo out; echo err >&2; exit 3", cwd=tmp_path
    )
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")


def test_exec_json_reports_everything(tmp_path: Path) -> None:
    result = errand(
        "sandbox",
        "exec",
        "--json",
        "--",
        "sh",
        "-c",
        "curl -fsS -m 3 http://example.com/; echo done",
        cwd=tmp_path,
    )
    report = json.loads(result.stdout)
    assert report["exit_code"] == 0 and report["stdout"] == "done\n"
    assert report["network"][0]["host"] == "example.com"
    assert report["network"][0]["verdict"] == "deny"
    assert report["duration"] > 0


def test_exec_timeout_is_124(tmp_path: Path) -> None:
    result = errand("sandbox", "exec", "--timeout", "1", "--", "sleep", "30", cwd=tmp_path)
    assert result.returncode == 124


@pytest.mark.parametrize(
    "args",
    [
        ["--folder", "./missing:rw"],
        ["--allow-domain", "*"],
        ["--allow-domain", "*.com"],
        ["--allow-cidr", "banana"],
        ["--folder", "./x:rx"],
    ],
)
def test_exec_usage_errors_are_2_with_a_message(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "x").mkdir()
    result = errand("sandbox", "exec", *args, "--", "true", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("errand: ")


def test_exec_refuses_a_bad_config_file(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "errand.toml").write_text("[sandbox\n", encoding="utf-8")
    result = errand("sandbox", "exec", "--", "true", cwd=tmp_path)
    assert result.returncode == 2 and "not valid TOML" in result.stderr


def test_check_reports_every_layer(tmp_path: Path) -> None:
    result = errand("sandbox", "check", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    for layer in (
        "bubblewrap",
        "user namespaces",
        "seccomp",
        "landlock",
        "limits",
        "namespaces and proxy",
    ):
        assert layer in result.stdout
    assert "The sandbox works here." in result.stdout
