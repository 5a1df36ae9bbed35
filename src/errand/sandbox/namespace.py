"""A session's private network namespace, held open by a small process.

The sandbox has no network interface but loopback. Its one way out is the egress proxy, which
runs in the Errand process on the host side. The trick that connects the two: a holder process
creates a user and network namespace, brings loopback up, creates a listening socket on
``127.0.0.1:3128`` *inside* that namespace and hands the socket to us over a unix socketpair.
A socket stays in the namespace it was created in, so we accept on it from the host while our
outgoing connections leave from the host's network. Every command of the session then joins
the namespace (``nsenter``) before bwrap builds the rest of the sandbox around it.

No unix socket is visible inside the sandbox and the proxy is outside its pid and mount
namespaces, so sandboxed code can neither see nor signal it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from errand.sandbox.errors import SandboxUnavailable
from errand.sandbox.protected import ProtectionPlan

PROXY_PORT = 3128
_START_TIMEOUT = 10.0

# Runs inside the new namespaces, with only the standard library and no site packages. After
# handing over the listener it serves mount requests (one JSON message each, answered "ok" or
# an error text) until its control socket closes: it owns the session's mount namespace, in
# which the read-write folders' overlays are mounted for the session's commands, each with its
# guards: pins (a directory bound onto itself, so it cannot be renamed or removed), covers (a
# path bound read-only onto itself) and blocks (/dev/null bound read-only over a placeholder).
# A failed guard detaches the whole overlay again: never a folder without its guards.
_HOLDER = f"""
import ctypes, fcntl, json, os, socket, struct
io = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
req = struct.pack("16sH14s", b"lo", 0, b"")
flags = struct.unpack("16sH", fcntl.ioctl(io, 0x8913, req)[:18])[1]
fcntl.ioctl(io, 0x8914, struct.pack("16sH14s", b"lo", flags | 1, b""))
io.close()
lsn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
lsn.bind(("127.0.0.1", {PROXY_PORT}))
lsn.listen(256)
ctl = socket.socket(fileno=CONTROL_FD)
socket.send_fds(ctl, [b"ready"], [lsn.fileno()])
lsn.close()
libc = ctypes.CDLL(None, use_errno=True)
NOSUID_NODEV, RDONLY, REMOUNT, BIND, REC = 6, 1, 32, 4096, 16384
def esc(p):
    return p.replace("\\\\", "\\\\\\\\").replace(",", "\\\\,").replace(":", "\\\\:")
def mount(source, target, fstype, flags, data):
    if libc.mount(source.encode(), target.encode(), fstype, flags, data) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
def kept(path):
    # A bind's flags that the kernel may have locked (it came from the host's namespace),
    # in mount(2) terms: a remount that dropped one would be refused.
    flag = os.statvfs(path).f_flag
    return (flag & 3087) | (2097152 if flag & 4096 else 0)
def bind(source, target, readonly):
    mount(source, target, None, BIND | REC, None)
    if readonly:
        flags = REMOUNT | BIND | RDONLY | NOSUID_NODEV | kept(target)
        mount("none", target, None, flags, None)
def layer(req):
    target = req["target"]
    data = "lowerdir=%s,upperdir=%s,workdir=%s,userxattr" % (
        ":".join(esc(p) for p in req["lowers"]), esc(req["upper"]), esc(req["work"]))
    mount("overlay", target, b"overlay", NOSUID_NODEV, data.encode())
    try:
        for rel in req["pin"]:
            bind(target + "/" + rel, target + "/" + rel, False)
        for rel in req["cover"]:
            bind(target + "/" + rel, target + "/" + rel, True)
        first = None  # later blocks bind the first one: read-only already, one call each
        for rel in req["block"]:
            if first is None:
                first = target + "/" + rel
                bind("/dev/null", first, True)
            else:
                mount(first, target + "/" + rel, None, BIND, None)
    except OSError:
        libc.umount2(target.encode(), 2)
        raise
while True:
    msg = ctl.recv(65536)
    if not msg:
        break
    req = json.loads(msg)
    try:
        if req["op"] == "mount":
            layer(req)
        elif libc.umount2(req["target"].encode(), 2) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        ctl.send(b"ok")
    except OSError as exc:
        ctl.send((exc.strerror or "failed").encode())
"""


def find_tool(name: str) -> str | None:
    """Find a system tool on the usual system paths, never under the working directory."""
    path = shutil.which(name, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return path


class NetworkNamespace:
    """A held user + network namespace with the proxy's listening socket inside it.

    Use :meth:`start`, then have each command join the namespaces of :attr:`holder_pid`, and
    accept connections on :attr:`listener`.
    """

    def __init__(self) -> None:
        self._holder: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._lock = asyncio.Lock()
        self.listener: socket.socket | None = None

    async def start(self) -> None:
        """Create the namespaces and receive the listening socket.

        Raises:
            SandboxUnavailable: user or network namespaces cannot be created here.
        """
        unshare = find_tool("unshare")
        if unshare is None:
            raise SandboxUnavailable("the 'unshare' tool is missing", "install util-linux")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._holder = self._spawn(unshare, theirs)
        finally:
            theirs.close()
        self._control = ours
        try:
            loop = asyncio.get_running_loop()
            fds = await asyncio.wait_for(
                loop.run_in_executor(None, _receive_listener, ours), _START_TIMEOUT
            )
        except (TimeoutError, OSError) as exc:
            err = self._holder_error()
            await self.aclose()
            raise SandboxUnavailable(
                f"could not create the sandbox's network namespace ({err or exc})",
                "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 "
                "or kernel.apparmor_restrict_unprivileged_userns=0) and run 'errand sandbox check'",
            ) from exc
        self.listener = socket.socket(fileno=fds[0])
        self.listener.setblocking(False)
        ours.setblocking(False)

    async def mount_overlay(
        self,
        lowers: Sequence[Path],
        upper: Path,
        work: Path,
        target: Path,
        guards: ProtectionPlan | None = None,
    ) -> None:
        """Mount an overlay of ``lowers`` (read-only, the first on top) and ``upper`` at
        ``target``, visible only in the session's mount namespace (nosuid, nodev), then mount
        ``guards`` on it (paths relative to ``target``; every path a block guards must exist
        in the overlay already, so that no mount point is created in ``upper``).

        Raises:
            SandboxUnavailable: the kernel refused (the message says why); nothing is left
                mounted.
        """
        plan = guards or ProtectionPlan((), (), ())
        answer = await self._request(
            {
                "op": "mount",
                "lowers": [str(lower) for lower in lowers],
                "upper": str(upper),
                "work": str(work),
                "target": str(target),
                "pin": list(plan.pin),
                "cover": list(plan.cover),
                "block": list(plan.block),
            }
        )
        if answer != "ok":
            raise SandboxUnavailable(
                f"could not layer the folder {lowers[-1]} for the sandbox ({answer})",
                "the folder must be on a local file system that supports overlays "
                "(ext4, xfs, btrfs, tmpfs); grant it read-only (:ro) otherwise",
            )

    async def unmount(self, target: Path) -> None:
        """Detach what :meth:`mount_overlay` mounted at ``target``. Detaching does not wait
        for the kernel to tear the overlay down; nothing uses it by then (the commands that
        did are gone), so its layers may be changed at once."""
        await self._request({"op": "umount", "target": str(target)})

    async def _request(self, request: dict[str, str | list[str]]) -> str:
        control = self._control
        if control is None:
            raise SandboxUnavailable("the sandbox session is not running", "start it first")
        loop = asyncio.get_running_loop()
        async with self._lock:
            await loop.sock_sendall(control, json.dumps(request).encode())
            answer = await asyncio.wait_for(loop.sock_recv(control, 4096), _START_TIMEOUT)
        return answer.decode(errors="replace") or "the namespace holder is gone"

    @property
    def holder_pid(self) -> int:
        """The pid whose namespaces the session's commands join."""
        if self._holder is None:
            raise RuntimeError("the namespace is not started")
        return self._holder.pid

    def _spawn(self, unshare: str, theirs: socket.socket) -> subprocess.Popen[bytes]:
        code = _HOLDER.replace("CONTROL_FD", str(theirs.fileno()))
        return subprocess.Popen(
            [
                unshare,
                "--user",
                "--map-root-user",
                "--net",
                "--mount",
                "--",
                sys.executable,
                "-I",
                "-S",
                "-c",
                code,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            close_fds=True,
            pass_fds=(theirs.fileno(),),
            env={"PATH": "/usr/bin:/bin"},
        )

    def _holder_error(self) -> str:
        holder = self._holder
        if holder is None or holder.poll() is None or holder.stderr is None:
            return ""
        lines = holder.stderr.read(4000).decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit status {holder.returncode}"

    async def aclose(self) -> None:
        """Release the namespaces; the holder exits when its control socket closes."""
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        if self._control is not None:
            self._control.close()
            self._control = None
        holder, self._holder = self._holder, None
        if holder is None:
            return
        if holder.stderr is not None:
            holder.stderr.close()
        try:
            # The holder exits once its control socket is closed (above).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.to_thread(holder.wait), 2.0)
        finally:
            if holder.poll() is None:  # timed out, or we were cancelled meanwhile
                holder.kill()
                holder.wait()


def _receive_listener(control: socket.socket) -> list[int]:
    control.settimeout(_START_TIMEOUT)
    msg, fds, _flags, _addr = socket.recv_fds(control, 16, 1)
    if msg != b"ready" or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise OSError("the namespace holder did not hand over its socket")
    return fds
