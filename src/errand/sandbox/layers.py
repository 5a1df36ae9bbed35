"""``errand sandbox check``: probe each layer once and say how to fix what fails."""

from __future__ import annotations

import os
from dataclasses import dataclass

from errand.sandbox import bwrap
from errand.sandbox.cgroup import pids_base
from errand.sandbox.errors import SandboxUnavailable
from errand.sandbox.policy import SandboxPolicy


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer's state: ``ok`` False means the sandbox cannot run here."""

    name: str
    ok: bool
    detail: str
    required: bool = True


async def probe() -> list[Layer]:
    """Check every layer, in the order they build on each other."""
    layers: list[Layer] = []
    try:
        path = bwrap.bwrap_path()
        version = ".".join(map(str, bwrap.bwrap_version(path)))
        layers.append(Layer("bubblewrap", True, f"{path} {version}"))
    except SandboxUnavailable as exc:
        layers.append(Layer("bubblewrap", False, str(exc)))
    layers.append(_userns())
    layers.append(_seccomp())
    layers.append(Layer("landlock", True, "not used (optional defence in depth)", required=False))
    layers.append(_limits())
    if all(layer.ok for layer in layers if layer.required):
        layers.append(await _end_to_end())
    return layers


def _userns() -> Layer:
    detail = []
    for knob in (
        "/proc/sys/kernel/unprivileged_userns_clone",
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        "/proc/sys/user/max_user_namespaces",
    ):
        try:
            with open(knob, encoding="utf-8") as fh:
                detail.append(f"{os.path.basename(knob)}={fh.read().strip()}")
        except OSError:
            continue
    return Layer("user namespaces", True, ", ".join(detail) or "no restricting sysctl found")


def _seccomp() -> Layer:
    from errand.sandbox.seccomp import seccomp_program, seccomp_version

    version = seccomp_version()
    if version is None:
        return Layer("seccomp", False, "libseccomp not found: sudo apt-get install libseccomp2")
    try:
        size = len(seccomp_program())
    except SandboxUnavailable as exc:
        return Layer("seccomp", False, str(exc))
    return Layer("seccomp", True, f"libseccomp {version}, filter of {size // 8} instructions")


def _limits() -> Layer:
    common = "time, output, memory, file size and open files"
    if os.geteuid() != 0:
        return Layer("limits", True, f"{common}; process count (rlimit)")
    if pids_base() is not None:
        return Layer("limits", True, f"{common}; process count (pids cgroup)")
    return Layer(
        "limits",
        True,
        f"{common}; no pids cgroup here, and the process-count rlimit does not bind root: "
        "run Errand as an ordinary user",
        required=False,
    )


async def _end_to_end() -> Layer:
    from errand.sandbox.session import Sandbox

    try:
        async with Sandbox(SandboxPolicy(session="check")) as sandbox:
            result = await sandbox.run(["/bin/true"], timeout=20)
    except SandboxUnavailable as exc:
        return Layer("namespaces and proxy", False, str(exc))
    if result.exit_code != 0:
        message = result.stderr.decode(errors="replace").strip()
        return Layer("namespaces and proxy", False, message or f"exit {result.exit_code}")
    return Layer(
        "namespaces and proxy",
        True,
        f"ran a command in a fresh sandbox in {result.duration * 1000:.1f} ms",
    )
