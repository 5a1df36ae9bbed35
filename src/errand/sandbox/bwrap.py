"""The Linux backend: one fresh bubblewrap sandbox per command (:class:`BubblewrapBackend`).

This module only builds argument lists; :mod:`errand.sandbox.session` runs them. The read
allowlist is deliberate: the sandbox sees ``/usr`` and the few ``/etc`` files programs need,
synthetic identity files, fresh ``/proc``, ``/dev`` and tmpfs scratch space, the session home
and the granted folders, and nothing else of the host.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from errand.sandbox.backend import ExtraMount, Launch
from errand.sandbox.errors import SandboxUnavailable
from errand.sandbox.namespace import find_tool
from errand.sandbox.policy import FolderMode, SandboxPolicy
from errand.sandbox.trusted import Cover

__all__ = [
    "BubblewrapBackend",
    "ExtraMount",
    "build_argv",
    "cover_args",
    "launcher_argv",
    "require_tools",
    "write_etc",
]

MIN_VERSION = (0, 8, 0)
SANDBOX_UID = 1000
SANDBOX_USER = "errand"
PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"

# What the sandbox's /etc holds: small host files copied once per session, and host folders
# bound read-only. Everything else of the host's /etc stays hidden.
ETC_FILES = (
    "ld.so.cache",
    "localtime",
    "mime.types",
    "protocols",
    "services",
    "inputrc",
    "os-release",
    "debian_version",
)
ETC_FOLDERS = ("/etc/ssl", "/etc/pki", "/etc/alternatives", "/etc/terminfo")
_USR_LINKS = (
    ("usr/bin", "/bin"),
    ("usr/sbin", "/sbin"),
    ("usr/lib", "/lib"),
    ("usr/lib64", "/lib64"),
    ("usr/lib32", "/lib32"),
)


def bwrap_path() -> str:
    """The system bwrap (never one under the working directory).

    Raises:
        SandboxUnavailable: bwrap is missing or older than 0.8.
    """
    path = find_tool("bwrap")
    if path is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed", "install it: sudo apt-get install bubblewrap"
        )
    version = bwrap_version(path)
    if version < MIN_VERSION:
        raise SandboxUnavailable(
            f"bubblewrap {'.'.join(map(str, version))} is too old (0.8 or newer is needed)",
            "upgrade the bubblewrap package",
        )
    return path


_version_cache: dict[str, tuple[int, ...]] = {}


def bwrap_version(path: str) -> tuple[int, ...]:
    """The version of a bwrap binary, e.g. ``(0, 8, 0)``."""
    if path not in _version_cache:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
        match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out)
        _version_cache[path] = tuple(int(g or 0) for g in match.groups()) if match else (0,)
    return _version_cache[path]


def launcher_argv(
    *, nsenter: str, prlimit: str, policy: SandboxPolicy, holder_pid: int
) -> list[str]:
    """The host command line that applies the policy's limits and joins the session's
    namespaces (those of ``holder_pid``), to be followed by what it runs there."""
    limits = policy.limits
    return [
        prlimit,
        f"--nproc={limits.processes}",
        f"--as={limits.memory_bytes}",
        f"--fsize={limits.file_size_bytes}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
        nsenter,
        f"--user=/proc/{holder_pid}/ns/user",
        f"--net=/proc/{holder_pid}/ns/net",
        f"--mount=/proc/{holder_pid}/ns/mnt",
        "--preserve-credentials",
        "--",
    ]


def build_argv(
    *,
    bwrap: str,
    policy: SandboxPolicy,
    etc_dir: Path,
    seccomp_fd: int,
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: str | None = None,
    covers: Mapping[Path, Sequence[Cover]] | None = None,
    layers: Mapping[Path, Path] | None = None,
    extra_mounts: Sequence[ExtraMount] = (),
) -> list[str]:
    """The bwrap command line, run by the launcher (see :func:`launcher_argv`) once that has
    joined the session's namespaces; ``seccomp_fd`` is where bwrap reads the seccomp program.

    ``etc_dir`` is the session's synthetic ``/etc`` (see :func:`write_etc`). ``layers`` maps
    each read-write folder to the overlay that shows it, mounted in the session's mount
    namespace with its protected paths' guards already on it (see :mod:`errand.sandbox.changes`
    and :meth:`~errand.sandbox.namespace.NetworkNamespace.mount_overlay`); bwrap binds it with
    those mounts, which stay read-only. A read-write folder without one is shown read-only.
    ``covers`` has, per granted folder, the places of Errand's own directories inside it
    (:func:`errand.sandbox.trusted.covers_for`): hidden ones get the empty directory
    ``etc_dir``'s sibling ``empty`` (see :func:`write_etc`) bound read-only over them, the
    others their own read-only bind.
    """
    limits = policy.limits
    out = [
        bwrap,
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--hostname",
        "errand",
        "--die-with-parent",
        "--new-session",
        "--disable-userns",
        "--cap-drop",
        "ALL",
        "--clearenv",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for target, link in _USR_LINKS:
        if os.path.isdir("/" + target):
            out += ["--symlink", target, link]
    out += ["--ro-bind", str(etc_dir), "/etc"]
    for path in ETC_FOLDERS:
        if os.path.isdir(path):
            out += ["--ro-bind", path, path]
    out += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(limits.scratch_bytes),
        "--tmpfs",
        "/tmp",
        "--symlink",
        "../tmp",
        "/var/tmp",
        "--dir",
        "/run",
        "--size",
        str(limits.scratch_bytes),
        "--tmpfs",
        "/sessions",
        "--dir",
        policy.home,
        "--dir",
        f"{policy.home}/mnt",
    ]
    for grant in policy.folders:
        layer = (layers or {}).get(grant.path)
        if grant.mode is FolderMode.READ_WRITE and layer is not None:
            out += ["--bind", str(layer), policy.mount_point(grant)]
        else:  # read-only, or a read-write folder that could not be layered
            out += ["--ro-bind", str(grant.path), policy.mount_point(grant)]
        out += cover_args(
            grant.path,
            policy.mount_point(grant),
            (covers or {}).get(grant.path, ()),
            etc_dir.with_name("empty"),
        )
    for mount in extra_mounts:
        out += ["--ro-bind", str(mount.host_path), mount.sandbox_path]
    for key, value in env.items():
        out += ["--setenv", key, value]
    out += [
        "--chdir",
        cwd or policy.workdir,
        "--seccomp",
        str(seccomp_fd),
        "--remount-ro",
        "/",
        "--",
        *argv,
    ]
    return out


def cover_args(
    host_root: Path, mount_point: str, covers: Sequence[Cover], empty_dir: Path
) -> list[str]:
    """bwrap arguments that hide (or keep read-only) Errand's own directories inside a
    granted folder; they come last so that nothing else is mounted over them."""
    out: list[str] = []
    for cover in covers:
        source = empty_dir if cover.hide else host_root / cover.rel
        out += ["--ro-bind", str(source), f"{mount_point}/{cover.rel}"]
    return out


def write_etc(etc_dir: Path, session: str) -> None:
    """Fill a session's synthetic ``/etc``: identity and name-service files of its own, and
    copies of the few small host files programs read. Also makes the empty directory beside
    it that hides Errand's own directories (see :func:`cover_args`)."""
    etc_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    etc_dir.with_name("empty").mkdir(mode=0o555, exist_ok=True)
    for name in ETC_FILES:
        source = Path("/etc") / name
        if source.is_file():
            (etc_dir / name).write_bytes(source.read_bytes())
    for folder in ETC_FOLDERS:
        if os.path.isdir(folder):
            (etc_dir / os.path.basename(folder)).mkdir(exist_ok=True)
    home = f"/sessions/{session}"
    files = {
        "passwd": f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
        f"{SANDBOX_USER}:x:{SANDBOX_UID}:{SANDBOX_UID}:Errand sandbox:{home}:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        "group": f"root:x:0:\n{SANDBOX_USER}:x:{SANDBOX_UID}:\nnogroup:x:65534:\n",
        "hostname": "errand\n",
        "hosts": "127.0.0.1 localhost errand\n::1 localhost\n",
        # No resolver is reachable; names are resolved by the proxy on the host side.
        "resolv.conf": "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
    }
    for name, text in files.items():
        (etc_dir / name).write_text(text, encoding="utf-8")


def require_tools() -> tuple[str, str, str]:
    """Paths of bwrap, nsenter and prlimit.

    Raises:
        SandboxUnavailable: one of them is missing.
    """
    bwrap = bwrap_path()
    nsenter = find_tool("nsenter")
    prlimit = find_tool("prlimit")
    if nsenter is None or prlimit is None:
        raise SandboxUnavailable("nsenter or prlimit is missing", "install util-linux")
    return bwrap, nsenter, prlimit


class BubblewrapBackend:
    """The :class:`~errand.sandbox.backend.SandboxBackend` of Linux: a launcher that applies
    the limits (prlimit) and joins the session's namespaces (nsenter), then a fresh bwrap per
    command."""

    name = "bubblewrap"
    path = PATH
    user = SANDBOX_USER

    def __init__(self) -> None:
        self._tools: tuple[str, str, str] | None = None

    def require(self) -> None:
        self._tools = require_tools()

    def prepare(self, session_dir: Path, policy: SandboxPolicy) -> None:
        write_etc(session_dir / "etc", policy.session)

    def launcher(self, policy: SandboxPolicy, namespace_pid: int | None) -> list[str]:
        if self._tools is None:
            self._tools = require_tools()
        if namespace_pid is None:
            raise ValueError("bubblewrap needs the session's namespace")
        return launcher_argv(
            nsenter=self._tools[1], prlimit=self._tools[2], policy=policy, holder_pid=namespace_pid
        )

    def command(self, launch: Launch) -> list[str]:
        if self._tools is None:
            self._tools = require_tools()
        if launch.seccomp_fd is None:
            raise ValueError("bubblewrap needs a seccomp program")
        return build_argv(
            bwrap=self._tools[0],
            policy=launch.policy,
            etc_dir=launch.session_dir / "etc",
            seccomp_fd=launch.seccomp_fd,
            argv=launch.argv,
            env=launch.env,
            cwd=launch.cwd,
            covers=launch.covers,
            layers=launch.layers,
            extra_mounts=launch.extra_mounts,
        )
