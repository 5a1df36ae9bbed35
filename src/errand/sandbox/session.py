"""A sandbox session: the namespace, the egress proxy and the commands run inside them.

One :class:`Sandbox` per task (a "session"). Each :meth:`Sandbox.run` starts one fresh bwrap
around one command; the session's network namespace, proxy and identity files are shared by
all of its commands and torn down by :meth:`Sandbox.aclose`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from errand.sandbox import bwrap
from errand.sandbox.audit import AskUser, DecisionSink, NetworkDecision
from errand.sandbox.cgroup import PidsLimit
from errand.sandbox.errors import SandboxUnavailable
from errand.sandbox.namespace import PROXY_PORT, NetworkNamespace
from errand.sandbox.placeholders import PlaceholderRegistry
from errand.sandbox.policy import FolderMode, SandboxPolicy
from errand.sandbox.proxy import EgressProxy, Resolver
from errand.sandbox.seccomp import seccomp_program

EXIT_TIMEOUT = 124
EXIT_SANDBOX_UNAVAILABLE = 125
# Past the output cap we keep draining (so the command is not blocked on a full pipe) but
# stop it once it has produced this many times the cap: endless output is a runaway.
_RUNAWAY_FACTOR = 64
_READ_CHUNK = 65536

OutputSink = Callable[[str, bytes], None]
"""Called with ``("stdout" | "stderr", chunk)`` as output arrives, before any cap applies."""


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What one sandboxed command did."""

    exit_code: int
    duration: float
    stdout: bytes
    stderr: bytes
    stdout_dropped: int = 0
    stderr_dropped: int = 0
    timed_out: bool = False
    network: tuple[NetworkDecision, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready view (text decoded with replacement)."""
        return {
            "exit_code": self.exit_code,
            "duration": round(self.duration, 6),
            "timed_out": self.timed_out,
            "stdout": self.stdout.decode(errors="replace"),
            "stderr": self.stderr.decode(errors="replace"),
            "stdout_dropped_bytes": self.stdout_dropped,
            "stderr_dropped_bytes": self.stderr_dropped,
            "network": [d.as_dict() for d in self.network],
        }


class Sandbox:
    """A session of sandboxed commands under one policy.

    Use as ``async with Sandbox(policy) as sandbox: result = await sandbox.run([...])``.
    ``on_decision`` receives every network decision; ``ask`` is consulted for domains that are
    neither allowed nor denied (without it they are denied). ``resolver`` replaces the host's
    name resolution for the proxy (tests use it to point a name at a test host).
    """

    def __init__(
        self,
        policy: SandboxPolicy,
        *,
        on_decision: DecisionSink | None = None,
        ask: AskUser | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.policy = policy
        self._resolver = resolver
        self._on_decision = on_decision
        self._ask = ask
        self._namespace = NetworkNamespace()
        self._proxy: EgressProxy | None = None
        self._tools: tuple[str, str, str] | None = None
        self._runtime: Path | None = None
        self._calls: dict[str, list[NetworkDecision]] = {}
        self._pids: PidsLimit | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Set the session up.

        Raises:
            SandboxUnavailable: a layer cannot be set up here; nothing will run.
        """
        self._tools = bwrap.require_tools()
        _PLACEHOLDERS.sweep()
        seccomp_program()  # fail now, not at the first command
        for grant in self.policy.folders:
            if not grant.path.is_dir():
                raise SandboxUnavailable(
                    f"granted folder {grant.path} no longer exists", "grant an existing folder"
                )
        self._runtime = Path(tempfile.mkdtemp(prefix=f"errand-{self.policy.session}-"))
        # The sandbox's user must be able to read its /etc through the bind mount.
        os.chmod(self._runtime, 0o755)  # noqa: S103
        bwrap.write_etc(self._runtime / "etc", self.policy.session)
        self._pids = PidsLimit.create(self.policy.session, self.policy.limits.processes)
        try:
            await self._namespace.start()
            assert self._namespace.listener is not None
            self._proxy = EgressProxy(
                self.policy.session,
                self.policy.network,
                on_decision=self._record_decision,
                ask=self._ask,
                resolver=self._resolver,
            )
            await self._proxy.serve(self._namespace.listener)
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Stop the proxy and release the namespace and temporary files (each step runs even
        if an earlier one fails or the caller is cancelled)."""
        proxy, self._proxy = self._proxy, None
        try:
            if proxy is not None:
                await proxy.aclose()
        finally:
            try:
                await self._namespace.aclose()
            finally:
                if self._pids is not None:
                    self._pids.remove()
                    self._pids = None
                if self._runtime is not None:
                    shutil.rmtree(self._runtime, ignore_errors=True)
                    self._runtime = None

    def _record_decision(self, decision: NetworkDecision) -> None:
        calls = self._calls.get(decision.call_id)
        if calls is not None:
            calls.append(decision)
        if self._on_decision is not None:
            self._on_decision(decision)

    async def run(
        self,
        argv: Sequence[str],
        *,
        call_id: str | None = None,
        cwd: str | None = None,
        stdin: bytes | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        extra_mounts: Sequence[bwrap.ExtraMount] = (),
        on_output: OutputSink | None = None,
    ) -> ExecResult:
        """Run one command in a fresh sandbox and wait for it.

        The exit code is the command's, 124 when it ran out of time (its whole process tree is
        killed), 125 when the sandbox could not be set up (stderr says why). Cancelling the
        awaiting task kills the command too.

        Raises:
            SandboxUnavailable: the session was not started.
        """
        if self._proxy is None or self._runtime is None or self._tools is None:
            raise SandboxUnavailable("the sandbox session is not running", "start it first")
        if not argv:
            raise ValueError("no command given")
        call = call_id or secrets.token_hex(6)
        user, password = self._proxy.new_credential(call)
        decisions: list[NetworkDecision] = []
        self._calls[call] = decisions
        placeholders: list[Path] = []
        seccomp_r, seccomp_w = os.pipe()
        try:
            protection = {}
            for grant in self.policy.folders:
                if grant.mode is FolderMode.READ_WRITE:
                    plan = bwrap.plan_protection(grant.path)
                    placeholders += _PLACEHOLDERS.acquire(grant.path, plan.block)
                    protection[grant.path] = plan
            os.write(seccomp_w, seccomp_program())
            os.close(seccomp_w)
            seccomp_w = -1
            argv_full = bwrap.build_argv(
                bwrap=self._tools[0],
                nsenter=self._tools[1],
                prlimit=self._tools[2],
                policy=self.policy,
                etc_dir=self._runtime / "etc",
                handles=bwrap.CallHandles(self._namespace.holder_pid, seccomp_r),
                argv=argv,
                env=self._environment(user, password, env or {}),
                cwd=cwd,
                protection=protection,
                extra_mounts=extra_mounts,
            )
            if self._pids is not None:
                # Join the session's pids group before anything can fork; the path is an
                # argument, never part of the script.
                argv_full = [
                    "/bin/sh",
                    "-c",
                    'echo $$ > "$0" && exec "$@"',
                    str(self._pids.procs),
                    *argv_full,
                ]
            return await self._execute(
                argv_full,
                pass_fds=(seccomp_r,),
                stdin=stdin,
                timeout=timeout or self.policy.limits.timeout_seconds,
                on_output=on_output,
                decisions=decisions,
            )
        finally:
            os.close(seccomp_r)
            if seccomp_w >= 0:
                os.close(seccomp_w)
            _PLACEHOLDERS.release(placeholders)
            self._proxy.drop_credential(user)
            self._calls.pop(call, None)

    def _environment(self, user: str, password: str, extra: Mapping[str, str]) -> dict[str, str]:
        proxy = f"http://{user}:{password}@127.0.0.1:{PROXY_PORT}"
        socks = f"socks5h://{user}:{password}@127.0.0.1:{PROXY_PORT}"
        env = {
            "PATH": bwrap.PATH,
            "HOME": self.policy.home,
            "USER": bwrap.SANDBOX_USER,
            "LOGNAME": bwrap.SANDBOX_USER,
            "LANG": "C.UTF-8",
            "TERM": os.environ.get("TERM", "dumb"),
            "TZ": os.environ.get("TZ", "UTC"),
            "TMPDIR": "/tmp",
            "http_proxy": proxy,
            "HTTP_PROXY": proxy,
            "https_proxy": proxy,
            "HTTPS_PROXY": proxy,
            "all_proxy": socks,
            "ALL_PROXY": socks,
            "no_proxy": "",
            "NO_PROXY": "",
        }
        env.update(extra)
        return env

    async def _execute(
        self,
        argv: list[str],
        *,
        pass_fds: tuple[int, ...],
        stdin: bytes | None,
        timeout: float,
        on_output: OutputSink | None,
        decisions: list[NetworkDecision],
    ) -> ExecResult:
        cap = self.policy.limits.output_bytes
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            pass_fds=pass_fds,
            env={"PATH": "/usr/bin:/bin"},
        )
        out = _Capture("stdout", cap, on_output)
        err = _Capture("stderr", cap, on_output)
        assert proc.stdout is not None and proc.stderr is not None
        readers = [
            asyncio.ensure_future(out.drain(proc.stdout, proc)),
            asyncio.ensure_future(err.drain(proc.stderr, proc)),
        ]
        if stdin is not None and proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                proc.stdin.write(stdin)
                await proc.stdin.drain()
            proc.stdin.close()
        timed_out = False
        try:
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                timed_out = True
                _kill(proc)
                await proc.wait()
            await asyncio.wait_for(asyncio.gather(*readers), 5.0)
        except BaseException:
            _kill(proc)
            for reader in readers:
                reader.cancel()
            with contextlib.suppress(BaseException):
                await proc.wait()
            raise
        code = proc.returncode if proc.returncode is not None else -1
        if timed_out:
            code = EXIT_TIMEOUT
        elif code < 0:
            code = 128 - code
        stderr = err.data()
        if code == 1 and _setup_failed(stderr):
            code = EXIT_SANDBOX_UNAVAILABLE
        return ExecResult(
            exit_code=code,
            duration=time.perf_counter() - started,
            stdout=out.data(),
            stderr=stderr,
            stdout_dropped=out.dropped,
            stderr_dropped=err.dropped,
            timed_out=timed_out,
            network=tuple(decisions),
        )


def _setup_failed(stderr: bytes) -> bool:
    # Our launch chain reports its own failures with its name as prefix, before the command.
    return stderr.startswith((b"bwrap: ", b"nsenter: ", b"prlimit: "))


def _kill(proc: asyncio.subprocess.Process) -> None:
    # bwrap is pid 1's parent; --die-with-parent takes pid 1, and with it the whole pid
    # namespace, down when it goes.
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


class _Capture:
    """Collects one output stream up to the cap, counting what it drops."""

    def __init__(self, name: str, cap: int, sink: OutputSink | None) -> None:
        self._name = name
        self._cap = cap
        self._sink = sink
        self._chunks: list[bytes] = []
        self._kept = 0
        self.dropped = 0

    async def drain(self, stream: asyncio.StreamReader, proc: asyncio.subprocess.Process) -> None:
        while chunk := await stream.read(_READ_CHUNK):
            if self._sink is not None:
                self._sink(self._name, chunk)
            room = self._cap - self._kept
            if room > 0:
                self._chunks.append(chunk[:room])
                self._kept += min(room, len(chunk))
            self.dropped += max(0, len(chunk) - max(room, 0))
            if self.dropped > self._cap * _RUNAWAY_FACTOR:
                _kill(proc)

    def data(self) -> bytes:
        return b"".join(self._chunks)


_PLACEHOLDERS = PlaceholderRegistry()
