"""A sandbox session: the namespace, the egress proxy and the commands run inside them.

One :class:`Sandbox` per task (a "session"). Each :meth:`Sandbox.run` starts one fresh
sandbox (built by the session's :class:`~errand.sandbox.backend.SandboxBackend`) around one
command and waits for it; :meth:`Sandbox.spawn` starts a long-lived one and hands back its
pipes (:class:`SandboxProcess`). The session's network namespace, proxy and identity files are
shared by all of its commands and torn down by :meth:`Sandbox.aclose`, which also kills every
process still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from errand.sandbox import leftovers
from errand.sandbox.audit import AskUser, DecisionSink, NetworkDecision
from errand.sandbox.backend import ExtraMount, Launch, LaunchFailed, SandboxBackend
from errand.sandbox.bwrap import BubblewrapBackend
from errand.sandbox.cgroup import MemoryLimit, PidsLimit
from errand.sandbox.changes import Change, FolderLayer
from errand.sandbox.errors import PathRefused, SandboxUnavailable, folder_gone
from errand.sandbox.namespace import PROXY_PORT, NetworkNamespace
from errand.sandbox.policy import FolderMode, SandboxPolicy
from errand.sandbox.protected import plan_protection, write_guard_layer
from errand.sandbox.proxy import EgressProxy, Resolver
from errand.sandbox.seccomp import seccomp_program
from errand.sandbox.trusted import Cover, GrantRefused, covers_for

EXIT_TIMEOUT = 124
EXIT_SANDBOX_UNAVAILABLE = 125
# Past the output cap we keep draining (so the command is not blocked on a full pipe) but
# stop it once it has produced this many times the cap: endless output is a runaway.
_RUNAWAY_FACTOR = 64
_READ_CHUNK = 65536
_GONE_SECONDS = 5.0

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
    launch_failed: str | None = None
    """Why the sandbox could not start the command (it never ran; ``exit_code`` is 125), or
    None when the command ran and the exit status is its own."""
    changes: tuple[Change, ...] = field(default=())
    """What the session's commands changed in read-write folders, reported by the command
    after which they were applied (or held): the last of those running at the same time."""

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
            "launch_failed": self.launch_failed,
            "changes": [c.as_json() for c in self.changes],
        }


class Sandbox:
    """A session of sandboxed commands under one policy.

    Use as ``async with Sandbox(policy) as sandbox: result = await sandbox.run([...])``.
    ``on_decision`` receives every network decision; ``ask`` is consulted for domains that are
    neither allowed nor denied (without it they are denied). ``resolver`` replaces the host's
    name resolution for the proxy (tests use it to point a name at a test host). ``backend``
    builds each command's confinement (bubblewrap by default).

    Read-write folders are overlays (see :mod:`errand.sandbox.changes`): the change layer
    keeps its upper layers and pre-images in ``changes_dir`` (the task's own storage; a
    temporary directory of the session when None), applies them to the user's folders once
    no command of the session runs, and holds them instead for the folders named in ``hold``
    (review mode). Errand's own directories are hidden inside every granted folder (see
    :mod:`errand.sandbox.trusted`).
    """

    def __init__(
        self,
        policy: SandboxPolicy,
        *,
        on_decision: DecisionSink | None = None,
        ask: AskUser | None = None,
        resolver: Resolver | None = None,
        backend: SandboxBackend | None = None,
        changes_dir: Path | None = None,
        hold: Collection[str] = (),
    ) -> None:
        self.policy = policy
        self._changes_dir = changes_dir
        self._hold = frozenset(hold)
        self._layers: dict[Path, FolderLayer] = {}
        self._covers: dict[Path, tuple[Cover, ...]] = {}
        self._guard_plans: dict[Path, tuple[str, ...]] = {}
        self._mounted = 0
        self._mount_lock = asyncio.Condition()
        self._since_ns = 0
        self._releases: set[asyncio.Task[list[Change]]] = set()
        self.changes: list[Change] = []
        """Every change the session's commands made to read-write folders, in order."""
        self.notices: list[str] = []
        """What the user should know about this session's folders (one sentence each)."""
        self.backend: SandboxBackend = backend or BubblewrapBackend()
        self._resolver = resolver
        self._on_decision = on_decision
        self._ask = ask
        self._namespace = NetworkNamespace()
        self._proxy: EgressProxy | None = None
        self._runtime: Path | None = None
        self._calls: dict[str, list[NetworkDecision]] = {}
        self._pids: PidsLimit | None = None
        self._processes: set[SandboxProcess] = set()
        self._ready: _Launcher | None = None
        self._readying: asyncio.Future[None] | None = None

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
        self.backend.require()
        leftovers.sweep_once()
        seccomp_program()  # fail now, not at the first command
        for grant in self.policy.folders:
            if not grant.path.is_dir():
                raise SandboxUnavailable(
                    f"granted folder {grant.path} no longer exists", "grant an existing folder"
                )
            try:
                self._covers[grant.path] = covers_for(grant.path)
            except GrantRefused as exc:
                raise SandboxUnavailable(str(exc), "grant another folder") from exc
        self._runtime = Path(
            tempfile.mkdtemp(prefix=f"errand-{self.policy.session}-{leftovers.owner_tag()}-")
        )
        # The sandbox's user must be able to read its /etc through the bind mount.
        os.chmod(self._runtime, 0o755)  # noqa: S103
        self.backend.prepare(self._runtime, self.policy)
        storage = self._changes_dir or self._runtime / "changes"
        for grant in self.policy.folders:
            if grant.mode is FolderMode.READ_WRITE:
                self._layers[grant.path] = await asyncio.to_thread(
                    FolderLayer, grant.path, storage / grant.name, grant.name
                )
                (self._runtime / "merged" / grant.name).mkdir(parents=True)
        self._pids = PidsLimit.create(
            self.policy.session, self.policy.limits.processes, owner=leftovers.owner_tag()
        )
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
            await self._check_layers()
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Kill the processes still running, stop the proxy and release the namespace and
        temporary files (each step runs even if an earlier one fails or the caller is
        cancelled)."""
        try:
            readying, self._readying = self._readying, None
            if readying is not None:
                readying.cancel()
                with contextlib.suppress(BaseException):
                    await readying
            ready, self._ready = self._ready, None
            if ready is not None:
                await asyncio.shield(ready.discard())
            for process in list(self._processes):
                await asyncio.shield(process.aclose())
            for release in list(self._releases):
                await asyncio.shield(release)
        finally:
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
                        for layer in self._layers.values():
                            # The kernel leaves the overlay's own work dir with no permissions.
                            with contextlib.suppress(OSError):
                                os.chmod(layer.work / "work", 0o700)
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
        extra_mounts: Sequence[ExtraMount] = (),
        on_output: OutputSink | None = None,
    ) -> ExecResult:
        """Run one command in a fresh sandbox and wait for it.

        The exit code is the command's, 124 when it ran out of time (its whole process tree is
        killed), 125 with ``launch_failed`` set when the sandbox could not start it.
        Cancelling the awaiting task kills the command too.

        Raises:
            SandboxUnavailable: the session was not started.
        """
        missing = self.missing_folder()
        if missing is not None:
            return ExecResult(125, 0.0, b"", b"", launch_failed=missing)
        launcher = await self._take_launcher()
        try:
            await self._mount_layers()
        except BaseException:
            await asyncio.shield(launcher.discard())
            raise
        try:
            with self._launch(argv, call_id, cwd, env, extra_mounts, launcher) as launch:
                result = await self._execute(
                    launch,
                    stdin=stdin,
                    timeout=timeout or self.policy.limits.timeout_seconds,
                    on_output=on_output,
                )
        finally:
            changes = await asyncio.shield(self._release_layers())
        result = replace(result, changes=tuple(changes))
        missing = self.missing_folder() if result.launch_failed else None
        if missing is not None:  # it went while the sandbox was being set up
            return replace(result, launch_failed=missing)
        return result

    async def spawn(
        self,
        argv: Sequence[str],
        *,
        call_id: str | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        extra_mounts: Sequence[ExtraMount] = (),
        pass_fds: Sequence[int] = (),
        address_space: int | None = None,
        memory_bytes: int | None = None,
    ) -> SandboxProcess:
        """Start a long-lived command in a fresh sandbox and return its pipes at once.

        The process runs under the session's policy exactly as :meth:`run` commands do (same
        mounts, seccomp filter, namespaces, limits and proxy environment) with a proxy
        credential of its own, so its network decisions carry ``call_id``. ``pass_fds`` are
        host descriptors handed to the process as descriptors 3, 4, ... in that order (a
        browser's pipe transport, for instance); the caller keeps and closes its own copies.
        There is no time limit: the process runs until it exits, :meth:`SandboxProcess.aclose`
        or this session's :meth:`aclose`, which kill its whole tree. ``address_space`` replaces
        the policy's per-process address-space limit for this process only (a browser reserves
        about a terabyte of address space it never uses, and aborts under the usual limit).
        ``memory_bytes`` caps the memory of the whole process tree with a cgroup of its own
        where this process may make one (:attr:`SandboxProcess.memory` is then set; over the
        cap the kernel kills the tree's largest process).

        Raises:
            LaunchFailed: the sandbox could not start the command (nothing runs).
            SandboxUnavailable: the session was not started.
        """
        missing = self.missing_folder()
        if missing is not None:
            raise LaunchFailed(missing)
        memory = None
        if memory_bytes is not None:
            memory = MemoryLimit.create(
                self.policy.session,
                memory_bytes,
                owner=leftovers.owner_tag(),
                max_pids=self.policy.limits.processes,
            )
        await self._mount_layers()
        handed_over = False  # once the launch holds the overlays, its release frees them
        try:
            launcher = await self._start_launcher(
                pass_fds=pass_fds, address_space=address_space, memory=memory
            )
            with self._launch(argv, call_id, cwd, env, extra_mounts, launcher) as launch:
                launch.layered = handed_over = True
                await launcher.send(launch.argv, stdin=True)
                proc = launcher.proc
                process = SandboxProcess(proc, launch.decisions, self._finish_launch(launch))
                process.memory, memory = memory, None
                process._ready_fd = launcher.ready_r
                self._processes.add(process)
                process._on_close = self._processes.discard
                try:
                    started = await _started(launcher.ready_r)
                    process._ready_fd = -1
                    if not started:
                        code = await proc.wait()
                        assert proc.stderr is not None
                        stderr = await proc.stderr.read()
                        raise LaunchFailed(_launch_reason(code, stderr))
                except BaseException:
                    await asyncio.shield(process.aclose())
                    raise
        except BaseException:
            if not handed_over:
                await asyncio.shield(self._release_layers())
            raise
        finally:
            if memory is not None:  # not handed to a process
                memory.remove()
        return process

    def missing_folder(self) -> str | None:
        """The sentence for a granted folder that is gone from the host (deleted or moved
        while the task runs), or None when every one is still there."""
        for grant in self.policy.folders:
            if not grant.path.is_dir():
                return folder_gone(grant.name)
        return None

    @contextlib.contextmanager
    def _launch(
        self,
        argv: Sequence[str],
        call_id: str | None,
        cwd: str | None,
        env: Mapping[str, str] | None,
        extra_mounts: Sequence[ExtraMount],
        launcher: _Launcher,
    ) -> Iterator[_Launched]:
        """Prepare one command for ``launcher`` (credential, sandbox argv); the launcher's
        descriptors are closed on exit (the launcher is killed if it was never sent its
        argv), and what the command holds is released unless ``_finish_launch`` took it over.

        The command is wrapped (see :func:`_handoff_argv`) so that it says it started: a
        command that never says so was not launched, whatever it printed.
        """
        try:
            if self._proxy is None or self._runtime is None:
                raise SandboxUnavailable("the sandbox session is not running", "start it first")
            if not argv:
                raise ValueError("no command given")
            call = call_id or secrets.token_hex(6)
            user, password = self._proxy.new_credential(call)
        except BaseException:
            launcher.close()
            raise
        launched = _Launched(call=call, user=user, launcher=launcher)
        self._calls[call] = launched.decisions
        try:
            launched.argv = self.backend.command(
                Launch(
                    policy=self.policy,
                    argv=_handoff_argv(argv, launcher.ready_fd, launcher.pass_fds),
                    env=self._environment(user, password, env or {}),
                    cwd=cwd,
                    session_dir=self._runtime,
                    extra_mounts=extra_mounts,
                    seccomp_fd=launcher.seccomp_fd,
                    layers={
                        path: self._runtime / "merged" / layer.name
                        for path, layer in self._layers.items()
                    },
                    covers=self._covers,
                )
            )
            yield launched
        finally:
            launcher.close()
            if not launched.kept:
                self._release(launched)

    async def _take_launcher(self) -> _Launcher:
        """A launcher for a :meth:`run` command: the one started ahead (waiting for it if it
        is still starting), or a new one (see :meth:`_start_next`).

        Starting a launcher costs a few milliseconds (joining the process-count cgroup waits
        for the kernel, and each program it passes through is loaded), so the session keeps
        one started while its commands run; its command line comes later, on its pipe.
        """
        if self._ready is None and self._readying is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._readying)
        launcher, self._ready = self._ready, None
        if launcher is not None and launcher.proc.returncode is not None:
            launcher.close()  # died while it waited: start another
            launcher = None
        if launcher is None:
            launcher = await self._start_launcher()
        return launcher

    def _start_next(self) -> None:
        """Start the next command's launcher in the background, unless one is (being)
        started already. Called once a command was sent to its launcher, so that starting
        the next one (which holds up the event loop for a moment) overlaps the command."""
        if self._ready is None and self._readying is None and self._proxy is not None:
            self._readying = asyncio.ensure_future(self._start_ahead())

    async def _start_ahead(self) -> None:
        try:
            launcher = await self._start_launcher()
        except Exception:  # the next command starts its own launcher, and says why it fails
            return
        finally:
            self._readying = None
        if self._proxy is None:  # the session closed meanwhile
            await launcher.discard()
        else:
            self._ready = launcher

    async def _start_launcher(
        self,
        *,
        pass_fds: Sequence[int] = (),
        address_space: int | None = None,
        memory: MemoryLimit | None = None,
    ) -> _Launcher:
        """Start a launcher: it joins the session's cgroups, applies the policy's limits
        (``address_space`` replacing its address-space limit), enters the session's
        namespaces and waits for its sandbox's argv (see :meth:`_Launcher.send`).
        ``pass_fds`` reach it under the same numbers.

        Raises:
            SandboxUnavailable: the session was not started.
        """
        if self._proxy is None or self._runtime is None:
            raise SandboxUnavailable("the sandbox session is not running", "start it first")
        policy = self.policy
        if address_space is not None:
            limits = policy.limits.model_copy(update={"memory_bytes": address_space})
            policy = policy.model_copy(update={"limits": limits})
        seccomp_r, seccomp_w = os.pipe()
        try:
            os.write(seccomp_w, seccomp_program())
        finally:
            os.close(seccomp_w)
        ready_r, ready_w = os.pipe()
        control_r, control_w = os.pipe()
        # Without descriptors to hand over, the start byte is written by the small /bin/sh,
        # which knows descriptors 0-9 only: the launcher moves its end of the ready pipe
        # there (to a number the seccomp program's does not hold) before it starts bwrap.
        ready_fd = ready_w
        if not pass_fds and ready_w > 9:
            ready_fd = min(set(range(3, 10)) - {seccomp_r})
        argv = [
            *self.backend.launcher(policy, self._namespace.holder_pid),
            *_AWAIT_ARGV,
            str(control_r),
            str(ready_w),
            str(ready_fd),
        ]
        # Join the groups before anything can fork: the memory group (when asked for)
        # last, because under cgroup v2 the last one is where the process stays (that
        # group carries the pids cap too). Paths are arguments, never part of the script.
        groups = [self._pids.procs] if self._pids is not None else []
        if memory is not None:
            groups.append(memory.procs)
        for procs in reversed(groups):
            argv = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(procs), *argv]
        try:
            proc = await _create(argv, (seccomp_r, ready_w, control_r, *pass_fds))
        except BaseException:
            os.close(ready_r)
            os.close(control_w)
            raise
        finally:
            for fd in (seccomp_r, ready_w, control_r):
                os.close(fd)
        return _Launcher(proc, control_w, ready_r, seccomp_r, ready_fd, tuple(pass_fds))

    def _finish_launch(self, launched: _Launched) -> Callable[[], None]:
        """Keep what ``launched`` holds until the returned callback runs."""
        launched.kept = True
        return lambda: self._release(launched)

    def _release(self, launched: _Launched) -> None:
        if launched.layered:  # a spawned process: its overlays are released once it is gone
            launched.layered = False
            release = asyncio.ensure_future(self._release_layers())
            self._releases.add(release)
            release.add_done_callback(self._releases.discard)
        if self._proxy is not None:
            self._proxy.drop_credential(launched.user)
        self._calls.pop(launched.call, None)

    async def _check_layers(self) -> None:
        """Mount each overlay once; a folder that cannot be layered (one that holds other
        mounted file systems, or is on a file system overlays refuse) is shown read-only
        instead, and :attr:`notices` says so."""
        assert self._runtime is not None
        for path, layer in list(self._layers.items()):
            target = self._runtime / "merged" / layer.name
            try:
                await self._namespace.mount_overlay([path], layer.upper, layer.work, target)
            except SandboxUnavailable as exc:
                del self._layers[path]
                self.notices.append(
                    f"The folder {layer.name!r} is read-only for this task: {exc.problem} "
                    "(a folder that holds other mounted file systems cannot be layered)."
                )
            else:
                await self._namespace.unmount(target)

    async def _mount_layers(self) -> None:
        """Mount the read-write folders' overlays unless a running command already has."""
        if self._runtime is None:
            raise SandboxUnavailable("the sandbox session is not running", "start it first")
        async with self._mount_lock:
            if self._mounted == 0 and self._layers:
                self._since_ns = time.time_ns()
                mounted: list[Path] = []
                try:
                    for path, layer in self._layers.items():
                        mounted.append(await self._mount_layer(path, layer))
                except BaseException:
                    for target in mounted:
                        await asyncio.shield(self._namespace.unmount(target))
                    raise
            self._mounted += 1

    async def _mount_layer(self, path: Path, layer: FolderLayer) -> Path:
        """Mount one folder's overlay with its guards, planned on the folder as it is now;
        returns where it is mounted.

        The guards' mount points come from a lower layer of placeholders laid over the folder
        (rewritten only when the plan changes), so mounting them writes nothing.

        Raises:
            SandboxUnavailable: a protected path is a symbolic link, or the kernel refused.
        """
        assert self._runtime is not None
        plan = plan_protection(path)
        guards = self._runtime / "guards" / layer.name
        if self._guard_plans.get(path) != plan.block:
            self._guard_plans.pop(path, None)
            await asyncio.to_thread(write_guard_layer, guards, plan, path)
            self._guard_plans[path] = plan.block
        target = self._runtime / "merged" / layer.name
        await self._namespace.mount_overlay([guards, path], layer.upper, layer.work, target, plan)
        return target

    async def _release_layers(self) -> list[Change]:
        """After a command: once no command runs, detach the overlays and apply (or hold)
        what they gathered; returns the changes that were applied, held or refused."""
        async with self._mount_lock:
            self._mounted -= 1
            if self._mounted > 0 or not self._layers or self._runtime is None:
                return []
            self._mount_lock.notify_all()
            found: list[Change] = []
            for layer in self._layers.values():
                await self._namespace.unmount(self._runtime / "merged" / layer.name)
            for layer in self._layers.values():
                hold = layer.name in self._hold
                if layer.untouched():  # the usual case: not worth a thread
                    found += layer.apply(since_ns=self._since_ns, hold=hold)
                else:
                    found += await asyncio.to_thread(
                        layer.apply, since_ns=self._since_ns, hold=hold
                    )
            self.changes += found
            return found

    async def write_file(self, folder: Path, rel: str, data: bytes) -> list[Change]:
        """Write a file of a read-write folder as a command in the sandbox would: through
        the folder's change layer, so that it is recorded, applied (or held for review) and
        undoable like any other change. Waits until no command of the session runs.
        ``rel`` must have been checked by the folder's :class:`GrantedRoot` (protected
        paths, links); returns the changes it led to.

        Raises:
            PathRefused: the folder could not be layered, so it is read-only for this task.
        """
        layer = self._layers.get(folder)
        if layer is None:
            raise PathRefused(f"{folder} is read-only for this task; nothing was changed")
        async with self._mount_lock:
            await self._mount_lock.wait_for(lambda: self._mounted == 0)
            since = time.time_ns()
            await asyncio.to_thread(layer.stage_file, rel, data)
            hold = layer.name in self._hold
            found = await asyncio.to_thread(layer.apply, since_ns=since, hold=hold)
            self.changes += found
            return found

    def layered(self, folder: Path) -> bool:
        """Whether a granted folder's writes go through the change layer."""
        return folder in self._layers

    def _environment(self, user: str, password: str, extra: Mapping[str, str]) -> dict[str, str]:
        proxy = f"http://{user}:{password}@127.0.0.1:{PROXY_PORT}"
        socks = f"socks5h://{user}:{password}@127.0.0.1:{PROXY_PORT}"
        env = {
            "PATH": self.backend.path,
            "HOME": self.policy.home,
            "USER": self.backend.user,
            "LOGNAME": self.backend.user,
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
        launch: _Launched,
        *,
        stdin: bytes | None,
        timeout: float,
        on_output: OutputSink | None,
    ) -> ExecResult:
        cap = self.policy.limits.output_bytes
        started = time.perf_counter()
        await launch.launcher.send(launch.argv, stdin=stdin is not None)
        self._start_next()
        proc = launch.launcher.proc
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
                await _stop(proc, launch.launcher.ready_r)
            await asyncio.wait_for(asyncio.gather(*readers), 5.0)
        except BaseException:
            for reader in readers:
                reader.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.shield(_stop(proc, launch.launcher.ready_r))
            raise
        code = proc.returncode if proc.returncode is not None else -1
        if timed_out:
            code = EXIT_TIMEOUT
        elif code < 0:
            code = 128 - code
        stderr = err.data()
        launch_failed = None
        if not timed_out and not _said_started(launch.launcher.ready_r):
            launch_failed = _launch_reason(code, stderr)
            code = EXIT_SANDBOX_UNAVAILABLE
        return ExecResult(
            exit_code=code,
            duration=time.perf_counter() - started,
            stdout=out.data(),
            stderr=stderr,
            stdout_dropped=out.dropped,
            stderr_dropped=err.dropped,
            timed_out=timed_out,
            network=tuple(launch.decisions),
            launch_failed=launch_failed,
        )


# The launcher's last step, on the host side: read the sandbox's argv from the control pipe
# (descriptor $1), NUL-separated as [count, stdin mode, argv..., "."], close the pipe, move
# the ready pipe's end from descriptor $2 to $3 (numbers only, from Errand) and exec the argv.
# An argv cut short (its writer killed halfway) fails the count or the final "." and is never
# run.
_AWAIT_ARGV = (
    "/bin/bash",
    "-c",
    'fd=$1; mapfile -d "" -t a <&"$fd" || exit 125; exec {fd}<&-; n=${#a[@]};'
    ' [ "$n" -ge 3 ] && [ "${a[0]}" = "$((n - 3))" ] && [ "${a[n-1]}" = . ] || exit 125;'
    ' [[ $2$3 =~ ^[0-9]+$ ]] || exit 125; [ "$2" = "$3" ] || eval "exec $3>&$2 $2>&-";'
    ' [ "${a[1]}" = pipe ] || exec </dev/null; exec "${a[@]:2:n-3}"',
    "errand",
)


@dataclass
class _Launcher:
    """A launcher process, started ahead of its command: it has joined the session's cgroups
    and namespaces under the policy's limits and waits for its sandbox's argv on its control
    pipe (``control``, our end). ``seccomp_fd``, ``ready_fd`` and ``pass_fds`` are the
    numbers of its seccomp program, its end of the ready pipe (ours: ``ready_r``) and the
    descriptors handed to it."""

    proc: asyncio.subprocess.Process
    control: int
    ready_r: int
    seccomp_fd: int
    ready_fd: int
    pass_fds: tuple[int, ...]

    async def send(self, argv: Sequence[str], *, stdin: bool) -> None:
        """Have the launcher run ``argv``, with its stdin pipe kept (``stdin``) or
        ``/dev/null`` instead; once only.

        Raises:
            ValueError: an argument holds a NUL byte (it could not be a program's argument).
        """
        words = [os.fsencode(word) for word in argv]
        if any(b"\0" in word for word in words):
            raise ValueError("embedded null byte")
        data = b"\0".join([str(len(words)).encode(), b"pipe" if stdin else b"null", *words])
        control, self.control = self.control, -1
        try:
            await _write_all(control, data + b"\0.\0")
        except BrokenPipeError:
            pass  # the launcher is gone; the missing start byte says so
        except BaseException:
            _kill(self.proc)  # before it can read a cut-short argv (it would refuse it too)
            stdin = False  # nobody will write to it now
            raise
        finally:
            os.close(control)
            if not stdin and self.proc.stdin is not None:
                self.proc.stdin.close()

    def close(self) -> None:
        """Close our ends of its pipes; a launcher never sent its argv is killed (its pipes
        then close as it exits)."""
        if self.control >= 0:
            _kill(self.proc)
            os.close(self.control)
            self.control = -1
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        if self.ready_r >= 0:
            os.close(self.ready_r)
            self.ready_r = -1

    async def discard(self) -> None:
        """Kill a launcher never sent its argv and wait until it is gone."""
        self.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), _GONE_SECONDS)


@dataclass
class _Launched:
    """What one command holds while it runs: its credential, sandbox argv, launcher and (a
    spawned process) its hold on the session's overlays."""

    call: str
    user: str
    launcher: _Launcher
    argv: list[str] = field(default_factory=list)
    decisions: list[NetworkDecision] = field(default_factory=list)
    layered: bool = False
    kept: bool = False


class SandboxProcess:
    """A long-lived process under a session's policy, from :meth:`Sandbox.spawn`.

    Same mounts, seccomp filter, namespaces and egress proxy as the session's other commands,
    with a proxy credential of its own (its network decisions carry its ``call_id`` and are in
    :attr:`network`). ``pid`` is the host pid of its launcher; killing it takes down the whole
    sandbox (its pid namespace dies with it). Killed by :meth:`aclose`, and by the session's
    :meth:`Sandbox.aclose` at the latest.
    """

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        decisions: list[NetworkDecision],
        release: Callable[[], None],
    ) -> None:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        self._proc = proc
        self._decisions = decisions
        self._release: Callable[[], None] | None = release
        self._on_close: Callable[[SandboxProcess], None] | None = None
        self.memory: MemoryLimit | None = None
        """The memory cgroup capping this process tree, when it has one."""
        self._ready_fd = -1  # the start pipe while it has not said it started (see _stop)
        self.stdin: asyncio.StreamWriter = proc.stdin
        self.stdout: asyncio.StreamReader = proc.stdout
        self.stderr: asyncio.StreamReader = proc.stderr
        self.pid: int = proc.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once it has exited (negative: killed by that signal)."""
        return self._proc.returncode

    @property
    def network(self) -> tuple[NetworkDecision, ...]:
        """The egress proxy's decisions about this process's connections so far."""
        return tuple(self._decisions)

    async def wait(self) -> int:
        """Wait for the process to exit; its exit status."""
        return await self._proc.wait()

    async def aclose(self) -> None:
        """Kill the process and everything it started, wait until they are gone, release its
        credential (idempotent; finishes even when the caller is cancelled)."""
        try:
            await asyncio.shield(_stop(self._proc, self._ready_fd))
        finally:
            if self.memory is not None:
                self.memory.remove()
            self.stdin.close()
            release, self._release = self._release, None
            if release is not None:
                release()
            if self._on_close is not None:
                self._on_close(self)


def _descendants(root: int) -> set[int]:
    """``root`` and the processes descended from it, as /proc shows them now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text(encoding="utf-8", errors="replace")
                parent = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


async def _gone(pids: set[int], timeout: float = _GONE_SECONDS) -> None:
    """Wait until each of ``pids`` has exited (or ``timeout`` passed)."""
    loop = asyncio.get_running_loop()
    waiting: list[tuple[int, asyncio.Future[None]]] = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue  # already gone
        exited: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, _settle, exited)
        waiting.append((fd, exited))
    try:
        if waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(f for _, f in waiting)), timeout)
    finally:
        for fd, _ in waiting:
            loop.remove_reader(fd)
            os.close(fd)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _handoff_argv(argv: Sequence[str], ready_fd: int, fds: Sequence[int]) -> list[str]:
    """Wrap ``argv`` so that, inside the sandbox, it first says it started (one byte on
    ``ready_fd``: the launch worked) and finds ``fds`` as descriptors 3, 4, ...

    Only numbers enter the script; ``argv`` is passed as arguments. The descriptors are
    first moved above every number in play, so the order of the moves cannot clobber one.
    """
    base = max([ready_fd, *fds, 9]) + 1
    steps = [f"printf x >&{ready_fd}", f"exec {ready_fd}>&-"]
    if fds:
        steps.append("exec " + " ".join(f"{base + i}<&{fd}" for i, fd in enumerate(fds)))
        steps.append("exec " + " ".join(f"{fd}<&-" for fd in fds))
        steps.append("exec " + " ".join(f"{3 + i}<&{base + i}" for i in range(len(fds))))
        steps.append("exec " + " ".join(f"{base + i}<&-" for i in range(len(fds))))
    steps.append('exec "$@"')
    # /bin/sh (dash on Debian) starts in a third of bash's time, but takes descriptors 0-9 only.
    shell = "/bin/sh" if not fds and ready_fd <= 9 else "/bin/bash"
    return [shell, "-c", "; ".join(steps), "errand", *argv]


def _said_started(fd: int) -> bool:
    """Whether the (finished) command wrote its start byte on the ready pipe ``fd``."""
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 1) == b"x"
    except BlockingIOError:
        return False


def _launch_reason(code: int, stderr: bytes) -> str:
    return stderr.decode(errors="replace").strip() or f"the launcher exited with status {code}"


async def _started(fd: int) -> bool:
    """Whether the process behind the read end ``fd`` said it started (EOF: it never did)."""
    await _readable(fd)
    return os.read(fd, 1) == b"x"


async def _readable(fd: int, *, write: bool = False) -> None:
    """Wait until ``fd`` has something to read (or reads EOF), without reading it; with
    ``write``, until it can be written to."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    (loop.add_writer if write else loop.add_reader)(fd, _settle, ready)
    try:
        await ready
    finally:
        (loop.remove_writer if write else loop.remove_reader)(fd)


def _kill(proc: asyncio.subprocess.Process) -> None:
    # bwrap is pid 1's parent; --die-with-parent takes pid 1, and with it the whole pid
    # namespace, down when it goes (once armed: see _stop).
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


async def _create(argv: Sequence[str], pass_fds: Sequence[int]) -> asyncio.subprocess.Process:
    """Start a launcher's host ``argv`` with piped input and output.

    Starting is not interrupted halfway: a caller cancelled meanwhile gets the process
    killed rather than left running without a handle (it has run nothing yet)."""
    creating = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            pass_fds=pass_fds,
            env={"PATH": "/usr/bin:/bin"},
        )
    )
    try:
        return await asyncio.shield(creating)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            proc = await creating
            if proc.stdin is not None:
                proc.stdin.close()
            await _stop(proc, -1)
        raise


async def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to the pipe ``fd`` without blocking the event loop."""
    os.set_blocking(fd, False)
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await _readable(fd, write=True)


async def _stop(proc: asyncio.subprocess.Process, ready_fd: int) -> None:
    """Kill a command's sandbox with everything in it, and wait for its launcher to exit.

    bwrap ties the sandbox to its launcher (``--die-with-parent``) only once the sandbox's
    first process runs; killed before then, the launcher would leave the sandbox orphaned,
    still running and holding the output pipes. So a command that has not yet said it
    started (``ready_fd``, -1 once it did) gets a moment to say so or to fail, and what the
    launcher already started is killed along with it.
    """
    if proc.returncode is None and ready_fd >= 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_readable(ready_fd), _GONE_SECONDS)
    tree = _descendants(proc.pid) if proc.returncode is None else set()
    _kill(proc)
    for pid in tree - {proc.pid}:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), _GONE_SECONDS)
    # The rest of the tree dies with the sandbox's pid namespace, a moment later.
    await _gone(tree - {proc.pid})


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
