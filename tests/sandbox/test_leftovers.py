"""A sandbox owner killed with -9 leaves its runtime folder and cgroup; the next start removes
them, and never anything of a live owner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from errand.sandbox.cgroup import pids_base
from errand.sandbox.leftovers import owner_tag, process_start_time, sweep

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups and bubblewrap need root here")

TMP = Path(tempfile.gettempdir())


def traces(session: str) -> list[Path]:
    """The runtime folders and pids cgroups of ``session`` that exist now."""
    found = sorted(TMP.glob(f"errand-{session}-*"))
    base = pids_base()
    if base is not None:
        found += sorted(base.glob(f"errand-{session}-*"))
    return found


def wait_for(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("the condition never held")


def errand_sandbox(session: str, *command: str, home: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRAND_")}
    env["ERRAND_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, "-m", "errand", "sandbox", "exec", "--session", session, "--", *command],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_the_next_start_removes_what_a_killed_errand_left(tmp_path: Path) -> None:
    session = f"leftover{os.getpid()}"
    killed = errand_sandbox(session, "sleep", "300", home=tmp_path)
    try:
        wait_for(lambda: len(traces(session)) == (2 if pids_base() else 1))
        left = traces(session)
        assert all(f"-{killed.pid}." in path.name for path in left)
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
    assert traces(session) == left  # kill -9 cleans nothing up by itself
    after = errand_sandbox(f"next{os.getpid()}", "true", home=tmp_path)
    assert after.wait(60) == 0
    assert traces(session) == []


def test_a_live_owners_things_and_untagged_names_are_kept(tmp_path: Path) -> None:
    mine = tmp_path / f"errand-task-{owner_tag()}-abc123"
    untagged = tmp_path / "errand-task-abc123"
    gone = subprocess.Popen(["true"])
    gone.wait()
    # A pid that no longer runs (its start time cannot be read) or was reused (another time).
    dead = tmp_path / f"errand-task-{gone.pid}.1-abc123"
    reused = (
        tmp_path / f"errand-task-{os.getpid()}.{int(process_start_time(os.getpid()) or 0) + 1}-x"
    )
    for path in (mine, untagged, dead, reused):
        path.mkdir()
        (path / "etc").mkdir()
    removed = sweep(tmp_path, None)
    assert sorted(removed) == sorted([dead, reused])
    assert mine.is_dir() and untagged.is_dir()
