"""Fixtures that run sandboxed commands as root and as an ordinary user.

When the suite runs as root it creates an ordinary user (``errand-escape``) and runs the same
attacks through the same library code under that user, from a copy of the code the user can
read. When it runs as an ordinary user, only that variant runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from escape_harness import Identity, Outcome, RunSandboxed, outcome, run_spec

ESCAPE_USER = "errand-escape"
SYSTEM_PYTHON = "/usr/bin/python3"
_HARNESS = Path(__file__).resolve().parent.parent / "escape_harness.py"


def _ordinary_user() -> Identity:
    try:
        entry = pwd.getpwnam(ESCAPE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                ESCAPE_USER,
            ],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(ESCAPE_USER)
    return Identity("user", entry.pw_uid, entry.pw_gid)


def _portable_copy(dest: Path) -> None:
    """Copy the errand package and the third-party modules it imports to ``dest``."""
    import errand.sandbox.session

    site = {p for p in sys.path if p.endswith("site-packages")}
    tops: set[Path] = set()
    for module in list(sys.modules.values()):
        origin = getattr(module, "__file__", None)
        if not origin:
            continue
        for root in site:
            if origin.startswith(root + os.sep):
                rel = Path(origin).relative_to(root)
                tops.add(Path(root) / rel.parts[0])
    for top in tops:
        target = dest / top.name
        if top.is_dir():
            shutil.copytree(
                top, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(top, target)
    package = Path(errand.sandbox.session.__file__).resolve().parents[1]
    shutil.copytree(
        package, dest / "errand", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy2(_HARNESS, dest / "escape_harness.py")
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.fixture(scope="session")
def portable_code() -> Iterator[Path]:
    if sys.version_info[:2] != _system_python_version():
        pytest.skip(f"{SYSTEM_PYTHON} is not Python {sys.version_info[0]}.{sys.version_info[1]}")
    dest = Path(tempfile.mkdtemp(prefix="errand-escape-code-"))
    dest.chmod(0o755)
    _portable_copy(dest)
    yield dest
    shutil.rmtree(dest, ignore_errors=True)


def _system_python_version() -> tuple[int, ...]:
    try:
        out = subprocess.run(
            [SYSTEM_PYTHON, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return ()
    return tuple(int(x) for x in out.strip("()\n").split(","))


@pytest.fixture(params=["root", "user"])
def who(request: pytest.FixtureRequest) -> Identity:
    if request.param == "root":
        if os.geteuid() != 0:
            pytest.skip("not running as root")
        return Identity("root", 0, 0)
    if os.geteuid() != 0:
        return Identity("user", os.geteuid(), os.getegid())
    return _ordinary_user()


@pytest.fixture
def workspace(who: Identity) -> Iterator[Path]:
    """A scratch folder the test's identity owns, outside any granted folder."""
    base = Path(tempfile.mkdtemp(prefix="errand-escape-"))
    base.chmod(0o755)
    os.chown(base, who.uid, who.gid)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def sandboxed(who: Identity, request: pytest.FixtureRequest) -> RunSandboxed:
    """``sandboxed(script, folders=[...], network={...}, hosts={...}, timeout=...,
    env={...})`` runs ``/bin/sh -c script`` in a fresh sandbox session as the test's
    identity; ``env`` is set in the Errand process (``ERRAND_HOME``, say), not the sandbox."""

    def run(
        script: str | list[str],
        *,
        folders: list[str] | None = None,
        network: dict[str, Any] | None = None,
        limits: dict[str, Any] | None = None,
        hosts: dict[str, str] | None = None,
        timeout: float = 20.0,
        env: dict[str, str] | None = None,
    ) -> Outcome:
        argv = ["/bin/sh", "-c", script] if isinstance(script, str) else script
        policy: dict[str, Any] = {"session": "escape", "network": network or {}}
        policy["folders"] = [_grant(spec) for spec in folders or []]
        if limits:
            policy["limits"] = limits
        spec = {
            "policy": policy,
            "argv": argv,
            "timeout": timeout,
            "hosts": hosts or {},
            "env": env or {},
        }
        if os.geteuid() != 0 or who.uid == 0:
            return outcome(asyncio.run(run_spec(spec)))
        code: Path = request.getfixturevalue("portable_code")
        proc = subprocess.run(
            [
                "setpriv",
                f"--reuid={who.uid}",
                f"--regid={who.gid}",
                "--clear-groups",
                "--",
                SYSTEM_PYTHON,
                "-s",
                str(code / "escape_harness.py"),
            ],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=timeout + 30,
            env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            cwd="/",
        )
        if proc.returncode != 0:
            raise AssertionError(f"the harness failed as {who.name}: {proc.stderr[-3000:]}")
        return outcome(json.loads(proc.stdout))

    return run


def _grant(spec: str) -> dict[str, str]:
    path, _, mode = spec.rpartition(":")
    return {"path": path, "mode": mode}
