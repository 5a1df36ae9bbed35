"""``errand run`` end to end: the real command, the official SDKs, fake servers on loopback,
the real sandbox and store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from errand.store import FollowUpDelivery, Store, TaskRecord, TaskStatus, open_store
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
        # Ctrl-C as a terminal sends it, even when this suite was started in the background
        # by a shell without job control, whose children inherit SIGINT ignored.
        preexec_fn=_sigint_as_default,
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


def _sigint_as_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _running(marker: bytes) -> bool:
    """Whether any process's command line holds ``marker``."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker in cmdline.read_bytes():
                return True
        except OSError:
            continue
    return False


# -- liveness: a task's lease, kill -9, and requests through the store ---------------------

LEASE = "1"
"""ERRAND_LEASE_SECONDS for the kill tests: a dead ``errand run`` is noticed within it."""


def _sleeping_script(workdir: Path, then: str) -> tuple[Path, str]:
    """A script whose first turn runs a sleep no other test runs, then says ``then``."""
    import time

    command = f"sleep 5{os.getpid() % 10}.{time.time_ns() % 10**6:06d}"
    script = workdir / "script.json"
    turns = [
        {"tool_calls": [{"name": "run_shell", "arguments": {"command": command}}]},
        {"text": then},
    ]
    script.write_text(json.dumps({"turns": turns}), encoding="utf-8")
    return script, command


def _start_run(workdir: Path, script: Path) -> tuple[subprocess.Popen[str], str]:
    """``errand run`` in the background, and the id of its task (its first line)."""
    env = {**os.environ, "ERRAND_HOME": str(workdir / "home"), "ERRAND_LEASE_SECONDS": LEASE}
    proc = subprocess.Popen(
        [sys.executable, "-m", "errand", "run", "wait", "--model", f"script:{script}"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert first.startswith("task "), first
    return proc, first.split()[1]


async def _store_of(workdir: Path) -> Store:
    return await open_store(f"sqlite+aiosqlite:///{workdir / 'home' / 'errand.db'}")


async def _wait_for_event(store: Store, task_id: str, kind: str) -> None:
    seen = 0
    while True:
        found = await store.wait_for_events(task_id, seen, timeout=30, poll_interval=0.1)
        assert found, f"the task never logged {kind}"
        if any(event.type == kind for event in found):
            return
        seen = found[-1].seq


async def _wait_interrupted(store: Store, task_id: str) -> TaskRecord:
    """Read the task (as any reader does) until it shows interrupted; bounded by a few
    leases. The reads themselves change nothing."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10 * float(LEASE) + 10
    while (task := await store.get_task(task_id)).status is not TaskStatus.INTERRUPTED:
        assert task.status is TaskStatus.RUNNING, task.status
        assert loop.time() < deadline, "the dead process's task never showed interrupted"
        await store.wait_for_events(task_id, task.last_seq, timeout=0.2)
    return task


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


async def test_an_errand_run_killed_9_shows_interrupted_to_every_reader(workdir: Path) -> None:
    script, _command = _sleeping_script(workdir, "never")
    proc, task_id = _start_run(workdir, script)
    store = await _store_of(workdir)
    try:
        await _wait_for_event(store, task_id, "tool.call")
        held = await store.get_task(task_id)
        assert held.status is TaskStatus.RUNNING and str(held.lease_owner).startswith("run/")
        _kill(proc)
        task = await _wait_interrupted(store, task_id)
        assert task.error and "resume" in task.error
        # No process is left to record it, and every reader shows it interrupted anyway.
        statuses = [
            e.payload["status"] for e in await store.events(task_id) if e.type == "task.status"
        ]
        assert statuses == ["running"]
    finally:
        await store.aclose()
    env = {"ERRAND_HOME": str(workdir / "home")}
    listing = json.loads(errand(["sessions", "list", "--json"], workdir, env).stdout)
    assert [(t["id"], t["status"]) for t in listing] == [(task_id, "interrupted")]
    shown = errand(["sessions", "show", task_id[:8]], workdir, env)
    assert "interrupted" in shown.stdout.splitlines()[0]


async def test_a_follow_up_accepted_before_a_kill_9_reaches_the_resumed_task(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from errand.agent import message_to_json
    from errand.models import ScriptedModel, user_text
    from errand.runner import LocalRunner

    script, _command = _sleeping_script(workdir, "Resumed, and read the follow-up.")
    proc, task_id = _start_run(workdir, script)
    monkeypatch.setenv("ERRAND_HOME", str(workdir / "home"))  # the resuming runner's
    store = await _store_of(workdir)
    try:
        await _wait_for_event(store, task_id, "tool.call")
        text = "and also list the folder"
        accepted = await store.request_follow_up(
            task_id, text, message=message_to_json(user_text(text))
        )
        assert accepted is FollowUpDelivery.PENDING
        _kill(proc)
        await _wait_interrupted(store, task_id)
        runner = LocalRunner(store, model_factory=lambda _spec: ScriptedModel.from_file(script))
        await runner.start()
        try:
            await runner.resume(task_id)
            seen = 0
            while (await store.get_task(task_id)).status is not TaskStatus.COMPLETED:
                found = await store.wait_for_events(task_id, seen, timeout=30)
                assert found, "the resumed task never completed"
                seen = found[-1].seq
        finally:
            await runner.aclose()
        transcript = await store.transcript(task_id)
    finally:
        await store.aclose()
    said: list[tuple[object, object]] = []
    for m in transcript:
        parts = m["parts"]
        if m["role"] == "tool" or not isinstance(parts, list):
            continue  # the interrupted call's answer, however it is recorded
        said += [(m["role"], p.get("text")) for p in parts if isinstance(p, dict)]
    roles = [role for role, _ in said]
    assert roles == ["user", "assistant", "user", "assistant"], said
    assert said[2] == ("user", text)  # after the interrupted step, before the next turn
    assert said[-1] == ("assistant", "Resumed, and read the follow-up.")


async def test_a_cancel_through_the_store_stops_errand_run_with_130(workdir: Path) -> None:
    script, _command = _sleeping_script(workdir, "never")
    proc, task_id = _start_run(workdir, script)
    store = await _store_of(workdir)
    try:
        await _wait_for_event(store, task_id, "tool.call")
        assert await store.request_cancel(task_id, requested_by="phone") is True
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert (await store.get_task(task_id)).status is TaskStatus.CANCELLED
    finally:
        if proc.poll() is None:
            _kill(proc)
        await store.aclose()
