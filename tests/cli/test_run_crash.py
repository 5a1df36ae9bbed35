"""``errand run`` killed with -9 at the moments that matter, then resumed.

A test hook (``errand.pause_points``: ``ERRAND_TEST_PAUSE_AT``) freezes the real command at
a named point and tells the test through a marker file; the test then kills it. The final
answer and ``completed`` are one commit, so wherever the kill lands the store holds both or
neither; a tool call the kill interrupted resumes with a recorded ``tool.result`` saying what
the model was told, which ``errand sessions show`` prints.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from errand.agent import run_task
from errand.agent.interrupted import BEFORE_IT_RAN, WHILE_IT_RAN
from errand.models import ScriptedModel
from errand.store import Store, TaskStatus, open_store
from pg import database_url, postgres_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run as root here")

ANSWER = "Finished: the notes are tidy."
NAP = "31.4159"  # a sleep no other process runs, to see the tool's command running


def environment(home: Path, db_url: str, extra: Mapping[str, str] = {}) -> dict[str, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "OPENAI_", "ERRAND_"))
    }
    return {**clean, "ERRAND_HOME": str(home), "ERRAND_DATABASE_URL": db_url, **extra}


def write_script(path: Path, turns: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"turns": turns}), encoding="utf-8")
    return path


def start_run(tmp_path: Path, script: Path, env: Mapping[str, str]) -> subprocess.Popen[str]:
    (tmp_path / "notes").mkdir(exist_ok=True)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "errand",
            "run",
            "tidy my notes",
            "--model",
            f"script:{script}",
            "--folder",
            f"{tmp_path / 'notes'}:rw",
            "--yes",
            "--json",
        ],
        cwd=tmp_path,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


async def wait_until(reached: Any, proc: subprocess.Popen[str], what: str) -> None:
    """Wait for ``reached()`` while the command lives (bounded: a stuck run fails the test)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    while not reached():
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"errand run ended before {what}: {err}")
        assert loop.time() < deadline, f"errand run never reached {what}"
        await asyncio.sleep(0.02)


def kill_9(proc: subprocess.Popen[str]) -> str:
    """Kill the command with SIGKILL; returns what it wrote on stderr."""
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err
    return err


def command_running(text: str) -> bool:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return True
            except OSError:
                continue
    return False


async def the_task(store: Store) -> str:
    (task,) = await store.list_tasks()
    return task.id


async def answers_in(store: Store, task_id: str) -> int:
    events = await store.events(task_id)
    return sum(1 for e in events if e.type == "message" and e.payload.get("text") == ANSWER)


async def resume(store: Store, task_id: str, script: Path) -> TaskStatus:
    """Resume as Errand does once it finds the killed run's task: interrupted, then run."""
    task = await store.get_task(task_id)
    if task.status is TaskStatus.RUNNING:  # nobody has noticed the dead process yet
        await store.set_task_status(
            task_id,
            TaskStatus.INTERRUPTED,
            error="Errand stopped while this task ran; resume it to continue",
        )
    outcome = await run_task(store, task_id, ScriptedModel.from_file(script))
    return outcome.status


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'errand.db'}"
    url: str = request.getfixturevalue("database_url")
    return url


@pytest.mark.parametrize(
    ("point", "answered"),
    [
        ("final-answer", False),  # the answer came, nothing of it stored yet
        ("complete-task", False),  # inside the commit: answer written, not committed
        ("completed", True),  # just after the commit
    ],
)
async def test_a_kill_leaves_the_answer_and_completed_together_or_neither(
    tmp_path: Path, db_url: str, point: str, answered: bool
) -> None:
    script = write_script(
        tmp_path / "script.json",
        [
            {"tool_calls": [{"name": "list_files", "arguments": {"path": "notes"}}]},
            {"text": ANSWER},
        ],
    )
    marker = tmp_path / "paused"
    env = environment(
        tmp_path / "home",
        db_url,
        {"ERRAND_TEST_PAUSE_AT": point, "ERRAND_TEST_PAUSE_MARKER": str(marker)},
    )
    proc = start_run(tmp_path, script, env)
    try:
        await wait_until(marker.exists, proc, f"the pause point {point}")
    finally:
        if proc.poll() is None:
            kill_9(proc)
    async with await open_store(db_url) as store:
        task_id = await the_task(store)
        task = await store.get_task(task_id)
        assert (task.status is TaskStatus.COMPLETED) is answered
        assert await answers_in(store, task_id) == (1 if answered else 0)
        transcript = await store.transcript(task_id)
        assert (transcript[-1]["role"] == "assistant") is answered
        if answered:
            assert (task.exit_code, task.error) == (0, None)
            return
        # Neither: the task resumes, asks the model once more, and ends with one answer.
        assert await resume(store, task_id, script) is TaskStatus.COMPLETED
        done = await store.get_task(task_id)
        assert (done.error, done.exit_code) == (None, 0)
        assert await answers_in(store, task_id) == 1


async def test_a_tool_call_killed_while_running_is_recorded_as_interrupted(
    tmp_path: Path,
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'errand.db'}"
    script = write_script(
        tmp_path / "script.json",
        [
            {
                "tool_calls": [
                    {"name": "run_shell", "arguments": {"command": f"sleep {NAP}"}},
                    {"name": "write_file", "arguments": {"path": "notes/b.txt", "content": "b"}},
                ]
            },
            {
                "expect_tool_results": [
                    {"contains": WHILE_IT_RAN, "is_error": True},
                    {"contains": BEFORE_IT_RAN, "is_error": True},
                ],
                "text": ANSWER,
            },
        ],
    )
    env = environment(tmp_path / "home", db_url)
    proc = start_run(tmp_path, script, env)
    try:
        await wait_until(lambda: command_running(NAP), proc, "running the tool's command")
    finally:
        if proc.poll() is None:
            kill_9(proc)
    async with await open_store(db_url) as store:
        task_id = await the_task(store)
        assert await resume(store, task_id, script) is TaskStatus.COMPLETED
        task = await store.get_task(task_id)
        assert task.attention == ("2 steps interrupted",)
        assert (task.error, task.exit_code) == (None, 0)
    assert not (tmp_path / "notes" / "b.txt").exists()  # the call that never ran did not
    shown = await errand(env, "sessions", "show", task_id)
    assert "Interrupted while this ran" in shown
    assert "Interrupted before this ran" in shown
    assert "Needs a look: 2 steps interrupted" in shown
    assert "2 steps interrupted" in await errand(env, "sessions", "list")
    (listed,) = json.loads(await errand(env, "sessions", "list", "--json"))
    assert (listed["status"], listed["error"]) == ("completed", None)
    assert listed["attention"] == ["2 steps interrupted"]


async def errand(env: Mapping[str, str], *args: str) -> str:
    """Run an ``errand`` command to its end; returns what it printed."""
    command = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "errand",
        *args,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(command.communicate(), 60)
    assert command.returncode == 0, err.decode()
    return out.decode()
