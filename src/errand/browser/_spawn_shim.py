"""Temporary stand-in for ``Sandbox.spawn`` until it lands on main (deleted on rebase)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Mapping, Sequence

from errand.sandbox import bwrap
from errand.sandbox.seccomp import seccomp_program
from errand.sandbox.session import Sandbox


class ShimProcess:
    def __init__(self, proc: asyncio.subprocess.Process, release: object) -> None:
        assert proc.stdin and proc.stdout and proc.stderr
        self._proc = proc
        self.stdin = proc.stdin
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.pid = proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    async def wait(self) -> int:
        return await self._proc.wait()

    async def aclose(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()
        await asyncio.shield(self._proc.wait())
        self.stdin.close()


async def spawn(
    sandbox: Sandbox,
    argv: Sequence[str],
    *,
    call_id: str,
    env: Mapping[str, str],
    extra_mounts: Sequence[bwrap.ExtraMount],
    address_space: int,
) -> ShimProcess:
    assert sandbox._proxy is not None and sandbox._tools is not None
    assert sandbox._runtime is not None
    user, password = sandbox._proxy.new_credential(call_id)
    r, w = os.pipe()
    os.write(w, seccomp_program())
    os.close(w)
    policy = sandbox.policy
    limits = policy.limits.model_copy(update={"memory_bytes": address_space})
    policy = policy.model_copy(update={"limits": limits})
    full = bwrap.build_argv(
        bwrap=sandbox._tools[0],
        nsenter=sandbox._tools[1],
        prlimit=sandbox._tools[2],
        policy=policy,
        etc_dir=sandbox._runtime / "etc",
        handles=bwrap.CallHandles(sandbox._namespace.holder_pid, r),
        argv=argv,
        env=sandbox._environment(user, password, env),
        protection={
            g.path: bwrap.plan_protection(g.path) for g in policy.folders if g.mode.value == "rw"
        },
        extra_mounts=extra_mounts,
    )
    try:
        proc = await asyncio.create_subprocess_exec(
            *full,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(r,),
            env={"PATH": "/usr/bin:/bin"},
        )
    finally:
        os.close(r)
    return ShimProcess(proc, None)
