"""``errand run`` end to end: the real command, the official SDKs, fake servers on loopback,
the real sandbox and store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from fakes.anthropic_server import AnthropicFakeServer
from fakes.openai_server import OLLAMA_LIKE, OpenAIFakeServer
from fakes.sse_server import FakeToolCall, FakeTurn

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run as root here")

WRITE = FakeToolCall("write_file", json.dumps({"path": "hello.txt", "content": "hi"}))
TURNS = (FakeTurn(text="Creating it.", tool_calls=(WRITE,)), FakeTurn(text="Created hello.txt."))


def errand(
    args: list[str], cwd: Path, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "OPENAI_", "ERRAND_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "errand", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "x").mkdir()
    return tmp_path


def assert_wrote_hello(workdir: Path, result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr + result.stdout
    assert (workdir / "x" / "hello.txt").read_text(encoding="utf-8") == "hi"
    assert "Created hello.txt." in result.stdout


def run_hello(
    workdir: Path, model: str, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """The errand of the issue's "done when": write hello.txt into ./x through the agent."""
    args = ["run", "create hello.txt containing hi", "--folder", "./x:rw", "--model", model]
    return errand(args, workdir, env)


def test_run_with_anthropic(workdir: Path) -> None:
    with AnthropicFakeServer() as server:
        server.enqueue(*TURNS)
        env = {
            "ANTHROPIC_BASE_URL": server.origin,
            "ANTHROPIC_API_KEY": "test-key",
            "ERRAND_HOME": str(workdir / "home"),
        }
        result = run_hello(workdir, "anthropic:test-model", env)
        sent = server.posts[1]
    assert_wrote_hello(workdir, result)
    tool_results = [
        b
        for m in sent["messages"]
        for b in m["content"]
        if isinstance(b, dict) and b.get("type") == "tool_result"
    ]
    assert tool_results and "hello.txt" in json.dumps(tool_results)
    replay = errand(["sessions", "show", _last_task(workdir, env)], workdir, env)
    assert "write_file" in replay.stdout and "Created hello.txt." in replay.stdout


def test_run_with_openai(workdir: Path) -> None:
    with OpenAIFakeServer() as server:
        server.enqueue(*TURNS)
        env = {
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "test-key",
            "ERRAND_HOME": str(workdir / "home"),
        }
        result = run_hello(workdir, "openai:test-model", env)
    assert_wrote_hello(workdir, result)


def test_run_with_a_local_openai_compatible_server(workdir: Path) -> None:
    # Like Ollama, it needs no key; Errand sends its placeholder.
    with OpenAIFakeServer(quirks=OLLAMA_LIKE, api_key="errand-no-key") as server:
        server.enqueue(*TURNS)
        env = {
            "ERRAND_OPENAI_COMPAT_BASE_URL": server.base_url,
            "ERRAND_HOME": str(workdir / "home"),
        }
        result = run_hello(workdir, "openai-compat:test-model", env)
    assert_wrote_hello(workdir, result)


def test_json_output_is_the_event_log(workdir: Path) -> None:
    with AnthropicFakeServer() as server:
        server.enqueue(*TURNS)
        env = {
            "ANTHROPIC_BASE_URL": server.origin,
            "ANTHROPIC_API_KEY": "test-key",
            "ERRAND_HOME": str(workdir / "home"),
        }
        result = errand(
            [
                "run",
                "create hello.txt",
                "--folder",
                "./x:rw",
                "--json",
                "--model",
                "anthropic:test-model",
            ],
            workdir,
            env,
        )
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "task.status" and events[-1]["payload"]["status"] == "completed"


def test_no_model_configured_fails_with_one_sentence(workdir: Path) -> None:
    result = errand(["run", "anything"], workdir, {"ERRAND_HOME": str(workdir / "home")})
    assert result.returncode == 1
    assert "No model is configured" in result.stderr
    assert result.stderr.count("\n") == 1


def test_usage_errors_exit_2_and_change_nothing(workdir: Path) -> None:
    env = {"ERRAND_HOME": str(workdir / "home")}
    for args in (
        ["run", "x", "--folder", "./missing:rw", "--model", "script:s.json"],
        ["run", "x", "--allow-domain", "*", "--model", "script:s.json"],
        ["run", "x", "--model", "nonsense"],
    ):
        result = errand(args, workdir, env)
        assert result.returncode == 2, (args, result.stderr)
    listing = errand(["sessions", "list", "--json"], workdir, env)
    assert json.loads(listing.stdout) == []


def test_a_bad_key_fails_the_task_with_a_clear_sentence(workdir: Path) -> None:
    with AnthropicFakeServer() as server:
        env = {
            "ANTHROPIC_BASE_URL": server.origin,
            "ANTHROPIC_API_KEY": "wrong",
            "ERRAND_HOME": str(workdir / "home"),
        }
        result = errand(["run", "hello", "--model", "anthropic:test-model"], workdir, env)
    assert result.returncode == 1
    assert "ANTHROPIC_API_KEY" in result.stdout + result.stderr


def _last_task(workdir: Path, env: Mapping[str, str]) -> str:
    listing = errand(["sessions", "list", "--json"], workdir, env)
    return str(json.loads(listing.stdout)[0]["id"])


def test_ctrl_c_cancels_the_task_and_exits_130(workdir: Path) -> None:
    import signal
    import time

    # A marker of this run's own, so another test's sandbox on the machine is not taken for it.
    command = f"sleep 4{os.getpid() % 10}.{time.time_ns() % 10**6:06d}"
    marker = command.encode()
    script = workdir / "script.json"
    script.write_text(
        json.dumps(
            {
                "turns": [
                    {"tool_calls": [{"name": "run_shell", "arguments": {"command": command}}]},
                    {"text": "never"},
                ]
            }
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "ERRAND_HOME": str(workdir / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "errand", "run", "wait", "--model", f"script:{script}"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not _running(marker):
        assert time.monotonic() < deadline, "the sandboxed command never started"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    listing = errand(["sessions", "list", "--json"], workdir, {"ERRAND_HOME": env["ERRAND_HOME"]})
    assert json.loads(listing.stdout)[0]["status"] == "cancelled"
    deadline = time.monotonic() + 10  # the sandbox's tree is killed with the task
    while _running(marker):
        assert time.monotonic() < deadline, "the sandboxed command outlived its task"
        time.sleep(0.1)


def _running(marker: bytes) -> bool:
    """Whether any process's command line holds ``marker``."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker in cmdline.read_bytes():
                return True
        except OSError:
            continue
    return False
