"""What a sandbox backend does, in the terms the session and the tools share.

A backend turns "run this command under this policy" into a host command line: bubblewrap on
Linux today (:class:`~errand.sandbox.bwrap.BubblewrapBackend`), a Seatbelt profile through
``sandbox-exec`` on macOS next (:mod:`errand.sandbox.seatbelt` already generates the profile).
The session (:class:`~errand.sandbox.session.Sandbox`) owns what every backend needs around
the command: the egress proxy, the per-call credential, limits and teardown. Tools and
toolsets import only :mod:`errand.sandbox`, never a backend module.

Whether a launch worked does not depend on the backend: the session wraps every command so
that it writes one byte on a pipe right before the command itself starts. A command that
never did was not launched (:class:`LaunchFailed`, or ``ExecResult.launch_failed``), and no
output of the command can be mistaken for that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from errand.sandbox.errors import SandboxUnavailable
from errand.sandbox.policy import SandboxPolicy
from errand.sandbox.trusted import Cover


@dataclass(frozen=True, slots=True)
class ExtraMount:
    """A further read-only host folder for one command (a skill's folder, for instance)."""

    host_path: Path
    sandbox_path: str


@dataclass(frozen=True, slots=True)
class Launch:
    """One command to start under a policy, with what the session prepared for it.

    ``session_dir`` is the session's private runtime folder (the backend's
    :meth:`SandboxBackend.prepare` filled it); ``seccomp_fd`` is the descriptor the seccomp
    program can be read from (Linux only, None elsewhere); ``layers`` maps each read-write
    folder to the overlay that shows it, its protected paths already guarded (see
    :mod:`errand.sandbox.changes`; a read-write folder without one is shown read-only);
    ``covers`` lists, per granted folder, the places of Errand's own directories inside it
    (see :mod:`errand.sandbox.trusted`).
    """

    policy: SandboxPolicy
    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: str | None
    session_dir: Path
    extra_mounts: Sequence[ExtraMount] = ()
    seccomp_fd: int | None = None
    layers: Mapping[Path, Path] = field(default_factory=dict)
    covers: Mapping[Path, Sequence[Cover]] = field(default_factory=dict)


class SandboxBackend(Protocol):
    """Builds the host command line that runs one command confined by a policy."""

    name: str
    """``"bubblewrap"`` or ``"seatbelt"``; shown in diagnostics."""

    path: str
    """``PATH`` inside the sandbox."""

    user: str
    """The user name commands run as inside the sandbox."""

    def require(self) -> None:
        """Check the host can run this backend.

        Raises:
            SandboxUnavailable: a program it needs is missing or too old.
        """
        ...

    def prepare(self, session_dir: Path, policy: SandboxPolicy) -> None:
        """Write the session's private files (a synthetic ``/etc``, a profile) once."""
        ...

    def launcher(self, policy: SandboxPolicy, namespace_pid: int | None) -> list[str]:
        """The host argv prefix that applies the policy's limits and enters the session's
        namespaces (those of the process ``namespace_pid``, Linux only), before it runs the
        argv that :meth:`command` returns. The session may start it ahead of its command."""
        ...

    def command(self, launch: Launch) -> list[str]:
        """The argv, run by the launcher (see :meth:`launcher`), that starts ``launch.argv``
        confined."""
        ...


class LaunchFailed(SandboxUnavailable):
    """The sandbox could not start the command; ``reason`` is what the launcher said."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"the sandbox could not start the command: {reason}",
            "check `errand sandbox check` for what this machine lacks",
        )
        self.reason = reason
