"""Long-lived sandboxed processes: pipes, confinement, descriptors handed in, and killing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from errand.sandbox import LaunchFailed, NetworkDecision, Sandbox, SandboxPolicy, Verdict
from errand.sandbox.policy import FolderGrant

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runs the in-process variant as root")

ECHO_LOOP = """
import os, sys
for line in sys.stdin:
    word = line.strip()
    if word == "env":
        print(os.environ["HOME"], os.environ["HTTPS_PROXY"].split("@")[1], flush=True)
    elif word.startswith("exists "):
        print(os.path.exists(word[7:]), flush=True)
    else:
        print(word.upper(), flush=True)
"""


def _tree(root: int) -> set[int]:
    """``root`` and every process descended from it, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = {root} if root in parents else set()
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


async def test_cat_answers_over_its_pipes_and_exits_when_stdin_closes() -> None:
    async with Sandbox(SandboxPolicy()) as sandbox:
        process = await sandbox.spawn(["cat"])
        process.stdin.write(b"hello\n")
        await process.stdin.drain()
        assert await process.stdout.readline() == b"hello\n"
        process.stdin.close()
        assert await process.wait() == 0
        assert process.returncode == 0
        await process.aclose()


async def test_a_python_loop_runs_confined_with_the_proxy_in_its_environment(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host only", encoding="utf-8")
    granted = tmp_path / "granted"
    granted.mkdir()
    policy = SandboxPolicy.build(session="s1", folders=[FolderGrant(path=granted)])
    async with Sandbox(policy) as sandbox:
        process = await sandbox.spawn(["python3", "-u", "-c", ECHO_LOOP])

        async def ask(line: str) -> str:
            process.stdin.write(line.encode() + b"\n")
            await process.stdin.drain()
            return (await process.stdout.readline()).decode().strip()

        assert await ask("ping") == "PING"
        assert await ask("env") == "/sessions/s1 127.0.0.1:3128"
        assert await ask(f"exists {secret}") == "False"
        assert await ask(f"exists {policy.mount_point(policy.folders[0])}") == "True"
        assert await ask("exists /root") == "False"
        await process.aclose()
        assert process.returncode is not None


async def test_its_network_is_the_proxy_alone_and_its_decisions_carry_its_call_id() -> None:
    decisions: list[NetworkDecision] = []
    script = (
        "python3 -c 'import socket; socket.create_connection((\"1.1.1.1\", 80), timeout=3)' "
        "2>/dev/null && echo DIRECT; curl -sS -m 5 https://example.com/ >/dev/null 2>&1; "
        "echo done; cat"
    )
    async with Sandbox(SandboxPolicy(), on_decision=decisions.append) as sandbox:
        process = await sandbox.spawn(["/bin/sh", "-c", script], call_id="browser-1")
        assert await process.stdout.readline() == b"done\n"
        assert [(d.call_id, d.host, d.verdict) for d in process.network] == [
            ("browser-1", "example.com", Verdict.DENY)
        ]
        await process.aclose()
    assert [d.call_id for d in decisions] == ["browser-1"]


async def test_descriptors_handed_in_appear_as_3_and_4() -> None:
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    script = (
        "import os; os.write(4, os.read(3, 100).upper()); "
        "print(sorted(os.listdir('/proc/self/fd')))"
    )
    try:
        async with Sandbox(SandboxPolicy()) as sandbox:
            process = await sandbox.spawn(["python3", "-c", script], pass_fds=(to_r, from_w))
            os.close(to_r)
            os.close(from_w)
            to_r = from_w = -1
            os.write(to_w, b"over the pipe")
            assert await asyncio.to_thread(os.read, from_r, 100) == b"OVER THE PIPE"
            listed = (await process.stdout.readline()).decode()
            assert await process.wait() == 0
            # Standard streams, the two handed in, and the listing's own: nothing of ours.
            assert listed.strip() == "['0', '1', '2', '3', '4', '5']"
    finally:
        for fd in (to_r, to_w, from_r, from_w):
            if fd >= 0:
                os.close(fd)


async def test_aclose_kills_the_whole_tree() -> None:
    async with Sandbox(SandboxPolicy()) as sandbox:
        process = await sandbox.spawn(
            ["/bin/sh", "-c", "sleep 1000 & sleep 1000 & echo started; wait"]
        )
        assert await process.stdout.readline() == b"started\n"
        tree = _tree(process.pid)
        assert len(_alive(tree)) >= 4  # launcher, init, shell, two sleeps
        await process.aclose()
        assert _alive(tree) == set()
        assert process.returncode is not None
        await process.aclose()  # idempotent


async def test_closing_the_session_kills_what_is_still_running() -> None:
    sandbox = Sandbox(SandboxPolicy())
    await sandbox.start()
    try:
        process = await sandbox.spawn(["/bin/sh", "-c", "echo up; exec sleep 1000"])
        assert await process.stdout.readline() == b"up\n"
        tree = _tree(process.pid)
    finally:
        await sandbox.aclose()
    assert _alive(tree) == set()
    assert process.returncode is not None


async def test_a_launch_failure_is_raised_typed_with_the_reason() -> None:
    async with Sandbox(SandboxPolicy()) as sandbox:
        with pytest.raises(LaunchFailed) as failed:
            await sandbox.spawn(["cat"], cwd="/no/such/folder")
    assert "bwrap: " in failed.value.reason
    assert "/no/such/folder" in failed.value.reason


async def test_run_reports_a_launch_failure_as_a_typed_result() -> None:
    async with Sandbox(SandboxPolicy()) as sandbox:
        failed = await sandbox.run(["cat"], cwd="/no/such/folder")
        ran = await sandbox.run(["/bin/sh", "-c", "echo 'bwrap: not really' >&2; exit 1"])
    assert failed.exit_code == 125
    assert failed.launch_failed is not None and "/no/such/folder" in failed.launch_failed
    assert ran.exit_code == 1 and ran.launch_failed is None
