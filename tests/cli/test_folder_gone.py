"""A granted folder deleted on the computer while its task runs: every tool tells the model
so in words, never as a raw file-not-found error."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run as root here")

MARKER = "folder-gone-7391"
GONE = "the folder 'notes' no longer exists on the computer"


def call(name: str, **arguments: str) -> dict[str, object]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


NAP = "2.71828"


def _running(text: str) -> bool:
    """Whether a process with ``text`` in its command line exists."""
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return True
            except OSError:
                continue
    return False


def test_every_tool_says_the_folder_no_longer_exists(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("hello\n", encoding="utf-8")
    script = tmp_path / "script.json"
    # The command's writes reach the folder only when it ends (the change layer), so the test
    # sees it running by its process: a sleep with a length no other process uses.
    wait_until_deleted = f"sleep {NAP} && echo {MARKER}"
    script.write_text(
        json.dumps(
            {
                "turns": [
                    call("run_shell", command=wait_until_deleted),
                    call("read_file", path="notes/a.txt"),
                    call("list_files", path="notes"),
                    call("write_file", path="notes/b.txt", content="x"),
                    call("run_shell", command="ls"),
                    {"text": "Done."},
                ]
            }
        ),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRAND_")}
    env["ERRAND_HOME"] = str(tmp_path / "home")
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "errand",
            "run",
            "tidy my notes",
            "--model",
            f"script:{script}",
            "--folder",
            f"{notes}:rw",
            "--yes",
            "--json",
        ],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            deadline = time.monotonic() + 60
            while not _running(NAP):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the first command never started"
                time.sleep(0.05)
            # Moved away in one step, then deleted, while the command runs.
            moved = notes.rename(tmp_path / "deleted")
            shutil.rmtree(moved, ignore_errors=True)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "Traceback" not in err
    events = [json.loads(line) for line in out.splitlines()]
    results = [e["payload"] for e in events if e["type"] == "tool.result"]
    assert len(results) == 5, results
    assert MARKER in str(results[0]["content"])  # the folder was there, then it went
    for result in results[1:]:
        assert result["is_error"], result
        assert GONE in str(result["content"]), result
        assert "FileNotFoundError" not in str(result["content"])
    assert not notes.exists()  # nothing was recreated
