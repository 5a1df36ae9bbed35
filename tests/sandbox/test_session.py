"""Sandbox sessions: results, cancellation, and failing closed when a layer is missing."""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
from pathlib import Path

import pytest

from errand.sandbox import SandboxPolicy, SandboxUnavailable
from errand.sandbox import bwrap as bwrap_module
from errand.sandbox import session as session_module
from errand.sandbox.policy import FolderGrant
from errand.sandbox.session import Sandbox

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runs the in-process variant as root")


def _running(marker: str) -> bool:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return True
            except OSError:
                continue
    return False


async def test_output_exit_code_and_stdin() -> None:
    async with Sandbox(SandboxPolicy()) as sandbox:
        result = await sandbox.run(["/bin/sh", "-c", "cat; echo err >&2; exit 7"], stdin=b"in")
    assert result.exit_code == 7
    assert result.stdout == b"in"
    assert result.stderr == b"err\n"


async def test_streaming_sees_output_as_it_arrives() -> None:
    chunks: list[tuple[str, bytes]] = []
    async with Sandbox(SandboxPolicy()) as sandbox:
        await sandbox.run(
            ["/bin/sh", "-c", "echo a; echo b >&2"],
            on_output=lambda name, data: chunks.append((name, data)),
        )
    assert ("stdout", b"a\n") in chunks and ("stderr", b"b\n") in chunks


async def test_cancelling_the_caller_kills_the_whole_tree() -> None:
    marker = "27.1828"
    async with Sandbox(SandboxPolicy()) as sandbox:
        task = asyncio.ensure_future(
            sandbox.run(["/bin/sh", "-c", f"sleep {marker} & sleep {marker}"])
        )
        for _ in range(100):
            await asyncio.sleep(0.02)
            if _running(marker):
                break
        assert _running(marker)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(50):
            if not _running(marker):
                break
            await asyncio.sleep(0.02)
        assert not _running(marker)


async def test_a_cancel_at_any_moment_of_the_start_leaves_nothing_running() -> None:
    # Killed before bwrap armed --die-with-parent, the sandbox used to live on, orphaned,
    # holding the output pipes: the cancel then hung until the command ended by itself.
    marker = "31.4159"
    delays = [0.0, 0.001, 0.002, 0.004, 0.008, 0.015, 0.03, 0.06] * 5
    async with Sandbox(SandboxPolicy()) as sandbox:
        for delay in delays:
            task = asyncio.ensure_future(sandbox.run(["/bin/sh", "-c", f"sleep {marker}"]))
            await asyncio.sleep(delay)
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=20)
            assert done, f"a cancel {delay}s into the start hung"
            for _ in range(100):
                if not _running(marker):
                    break
                await asyncio.sleep(0.02)
            assert not _running(marker), f"a cancel {delay}s into the start left it running"


async def test_an_argument_with_a_nul_byte_is_refused_and_nothing_runs() -> None:
    # The sandbox's command line reaches its launcher NUL-separated: a NUL inside an
    # argument must never split it into more arguments (bwrap options, say).
    async with Sandbox(SandboxPolicy()) as sandbox:
        with pytest.raises(ValueError, match="null byte"):
            await sandbox.run(["/bin/echo", "x\0--bind"])
        result = await sandbox.run(["/bin/echo", "after"])
    assert result.stdout == b"after\n"


def test_a_launcher_runs_only_a_whole_command_line(tmp_path: Path) -> None:
    # Its writer killed halfway, a launcher reads EOF: whatever part of the argv it got is
    # never run.
    marker = tmp_path / "ran"
    whole = b"\0".join([b"2", b"null", b"/usr/bin/touch", bytes(marker), b".", b""])
    for cut in [0, 1, 2, 6, 10, 20, len(whole) - 4, len(whole) - 3, len(whole) - 2]:
        assert _await_argv(whole[:cut]) == 125, cut
        assert not marker.exists(), cut
    assert _await_argv(whole) == 0
    assert marker.exists()


def _await_argv(data: bytes) -> int:
    read, write = os.pipe()
    launcher = [*session_module._AWAIT_ARGV, str(read), "2", "2"]
    with subprocess.Popen(launcher, pass_fds=(read,), stdin=subprocess.DEVNULL) as proc:
        os.close(read)
        os.write(write, data)
        os.close(write)
        return proc.wait(10)


async def test_the_launcher_started_ahead_runs_the_next_command_and_ends_with_the_session() -> None:
    async with Sandbox(SandboxPolicy()) as sandbox:
        await sandbox.run(["/bin/true"])
        if sandbox._readying is not None:
            await sandbox._readying
        assert sandbox._ready is not None
        ahead = sandbox._ready.proc.pid
        # Without input, its stdin reads as empty (not a pipe left open).
        result = await sandbox.run(["/bin/sh", "-c", "cat; echo done"])
        assert result.stdout == b"done\n", result.stderr
        if sandbox._readying is not None:
            await sandbox._readying
        assert sandbox._ready is not None
        waiting = sandbox._ready.proc.pid
    assert ahead != waiting
    with pytest.raises(ProcessLookupError):
        os.kill(waiting, 0)


async def test_missing_bwrap_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bwrap_module, "find_tool", lambda name: None)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        async with Sandbox(SandboxPolicy()):
            pass


async def test_user_namespaces_denied_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    from errand.sandbox import namespace

    real = namespace.find_tool
    monkeypatch.setattr(
        namespace, "find_tool", lambda name: "/bin/false" if name == "unshare" else real(name)
    )
    with pytest.raises(SandboxUnavailable, match="user namespaces"):
        async with Sandbox(SandboxPolicy()):
            pass


async def test_seccomp_that_cannot_load_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    async with Sandbox(SandboxPolicy()) as sandbox:
        # A program bwrap cannot load: the command must not run without its filter.
        monkeypatch.setattr(session_module, "seccomp_program", lambda: b"\x00" * 5)
        result = await sandbox.run(["/bin/sh", "-c", "echo RAN"])
    assert result.exit_code == 125
    assert b"RAN" not in result.stdout


async def test_missing_libseccomp_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> bytes:
        raise SandboxUnavailable("libseccomp could not be loaded", "install libseccomp2")

    monkeypatch.setattr(session_module, "seccomp_program", broken)
    with pytest.raises(SandboxUnavailable):
        async with Sandbox(SandboxPolicy()):
            pass


async def test_proxy_down_means_no_network() -> None:
    async with Sandbox(SandboxPolicy.build(network={"allow_domains": ["example.com"]})) as sandbox:
        assert sandbox._proxy is not None
        await sandbox._proxy.aclose()
        result = await sandbox.run(
            ["/bin/sh", "-c", "curl -fsS -m 3 http://example.com/ && echo OUT; echo done"]
        )
    assert b"done" in result.stdout and b"OUT" not in result.stdout


async def test_a_vanished_folder_fails_closed(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()
    policy = SandboxPolicy(folders=(FolderGrant(path=folder),))
    folder.rmdir()
    with pytest.raises(SandboxUnavailable, match="no longer exists"):
        async with Sandbox(policy):
            pass


async def test_symlinked_protected_path_refuses_read_write_grant(tmp_path: Path) -> None:
    (tmp_path / ".vscode").symlink_to("/etc")
    policy = SandboxPolicy(folders=(FolderGrant.parse(f"{tmp_path}:rw"),))
    async with Sandbox(policy) as sandbox:
        with pytest.raises(SandboxUnavailable, match="symbolic link"):
            await sandbox.run(["/bin/true"])


def test_seccomp_stub_shape() -> None:
    # The filter handed to bwrap is raw BPF: whole 8-byte instructions.
    from errand.sandbox.seccomp import seccomp_program

    program = seccomp_program()
    assert len(program) % 8 == 0
    assert struct.unpack_from("HBBI", program, len(program) - 8)[0] == 0x06  # BPF_RET
