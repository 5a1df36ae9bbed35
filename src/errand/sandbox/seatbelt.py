"""The macOS sandbox: a generated Seatbelt profile run through ``/usr/bin/sandbox-exec``.

The profile denies by default and then allows: running programs, reading the system's own
files, reading the granted folders, writing the read-write ones, and connecting to the
egress proxy on localhost. Inside read-write folders the protected paths stay unwritable
(and cannot be created), and the folder itself and the parents of protected paths (``.git``,
``.github``) cannot be removed, renamed or replaced. The system DNS resolver is out of reach,
so names are resolved by the proxy only.

Host paths never enter the profile text. Each one travels as a ``-D NAME=VALUE`` parameter
and the profile names it with ``(param "NAME")``; a folder whose name holds quotes,
parentheses or newlines therefore cannot change a rule. The text depends only on the shape of
the policy (how many folders, which are writable) and the proxy port.

Seatbelt matches the real path of every file a process touches, so the parameters must be
canonical (``/private/tmp``, not ``/tmp``); :class:`FolderGrant` already resolves its path.
Hardlinks are the one thing a path-based profile cannot see through: a link created inside a
read-write folder to a protected file there would be writable by its new name. The profile is
plain text and is tested on Linux; running it needs a Mac.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from errand.sandbox.policy import FolderMode, PolicyError, SandboxPolicy
from errand.sandbox.protected import PROTECTED_PATHS

SANDBOX_EXEC = "/usr/bin/sandbox-exec"

_SYSTEM_READ_SUBPATHS = (
    "/usr",
    "/bin",
    "/sbin",
    "/System",
    "/Library",
    "/private/etc",
    "/private/var/db/timezone",
    "/opt/homebrew",
)
_DEVICES_READ = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")
_DEVICES_WRITE = ("/dev/null",)
# Directories that programs stat on their way to what they may read; metadata only.
_SYSTEM_METADATA = ("/", "/etc", "/var", "/tmp", "/opt", "/private", "/private/var", "/dev")
_EXECUTABLE_MAPS = ("/usr", "/System", "/Library", "/opt/homebrew")

# Services a command-line program needs: user and group lookups, logging. Nothing that
# resolves names, opens windows or reaches other apps.
_MACH_SERVICES = ("com.apple.system.opendirectoryd.libinfo", "com.apple.system.logger")
_DNS_SERVICES = ("com.apple.dnssd.service", "com.apple.mDNSResponder")
_DNS_SOCKET = "/private/var/run/mDNSResponder"

# The suffixes below are joined to a folder parameter inside the profile; they are constants
# of this module, never user input, but are checked anyway before they enter the text.
_PROTECTED_PARENTS = tuple(
    sorted(
        {"/".join(p.split("/")[:i]) for p in PROTECTED_PATHS for i in range(1, p.count("/") + 1)}
    )
)


@dataclass(frozen=True)
class _Parameter:
    name: str
    value: str
    role: str  # "ro", "rw", "scratch" or "ancestor"


def seatbelt_profile(policy: SandboxPolicy, *, proxy_port: int, scratch: Path | None = None) -> str:
    """The SBPL profile for ``policy``; every path in it is a ``(param ...)`` reference.

    ``scratch`` is an optional read-write host directory for the session's home and
    temporary files (point HOME and TMPDIR at it). The result depends only on which folders
    are read-only or read-write, on whether there is a scratch directory, on how many
    directories lie above them, and on the port.

    Raises:
        ValueError: the port is not a TCP port, or a path is not absolute or holds a NUL.
        PolicyError: the policy grants the whole file system.
    """
    return _render(_parameters(policy, scratch), proxy_port)


def seatbelt_argv(
    policy: SandboxPolicy,
    argv: Sequence[str],
    *,
    proxy_port: int,
    scratch: Path | None = None,
) -> list[str]:
    """The full command line: ``sandbox-exec -p PROFILE -D NAME=PATH ... -- argv...``.

    Raises:
        ValueError: ``argv`` is empty, or as :func:`seatbelt_profile`.
    """
    if not argv:
        raise ValueError("there is no command to run")
    parameters = _parameters(policy, scratch)
    out = [SANDBOX_EXEC, "-p", _render(parameters, proxy_port)]
    for parameter in parameters:
        out += ["-D", f"{parameter.name}={parameter.value}"]
    return [*out, "--", *argv]


def _parameters(policy: SandboxPolicy, scratch: Path | None) -> list[_Parameter]:
    out: list[_Parameter] = []
    for index, grant in enumerate(policy.folders):
        value = _checked_path(grant.path)
        if value == "/":
            raise PolicyError("granting the whole file system is not possible on macOS")
        role = "rw" if grant.mode is FolderMode.READ_WRITE else "ro"
        out.append(_Parameter(f"FOLDER_{index}", value, role))
    if scratch is not None:
        out.append(_Parameter("SCRATCH", _checked_path(scratch), "scratch"))
    ancestors: set[str] = set()
    for parameter in out:
        ancestors.update(str(p) for p in PurePosixPath(parameter.value).parents)
    ancestors -= set(_SYSTEM_METADATA)
    for index, ancestor in enumerate(sorted(ancestors)):
        out.append(_Parameter(f"ANCESTOR_{index}", ancestor, "ancestor"))
    return out


def _checked_path(path: Path) -> str:
    text = str(path)
    if "\x00" in text:
        raise ValueError(f"path {text!r} holds a NUL byte")
    if not text.startswith("/"):
        raise ValueError(f"path {text!r} must be absolute")
    return text


def _render(parameters: list[_Parameter], proxy_port: int) -> str:
    if isinstance(proxy_port, bool) or not 1 <= proxy_port <= 65535:
        raise ValueError(f"proxy port {proxy_port!r} is not a TCP port")
    return "\n".join(_profile_lines(parameters, proxy_port)) + "\n"


def _profile_lines(parameters: list[_Parameter], proxy_port: int) -> Iterator[str]:
    def param(p: _Parameter) -> str:
        return f'(param "{p.name}")'

    def joined(p: _Parameter, suffix: str) -> str:
        if not _is_plain(suffix):
            raise ValueError(f"protected path {suffix!r} cannot be written into a profile")
        return f'(string-append {param(p)} "/{suffix}")'

    readable = [p for p in parameters if p.role in ("ro", "rw", "scratch")]
    writable = [p for p in parameters if p.role in ("rw", "scratch")]
    protected = [p for p in parameters if p.role == "rw"]
    ancestors = [p for p in parameters if p.role == "ancestor"]

    yield "(version 1)"
    yield "(deny default)"
    yield ""
    yield ";; Programs, and signals only within this sandbox."
    yield "(allow process-exec)"
    yield "(allow process-fork)"
    yield "(allow signal (target same-sandbox))"
    yield "(allow process-info* (target same-sandbox))"
    yield "(allow sysctl-read)"
    yield _form("allow mach-lookup", [f'(global-name "{s}")' for s in _MACH_SERVICES])
    yield ""
    yield ";; The system's own files, read-only."
    yield _form("allow file-read*", [f'(subpath "{p}")' for p in _SYSTEM_READ_SUBPATHS])
    yield _form("allow file-read*", [f'(literal "{p}")' for p in _DEVICES_READ])
    yield _form("allow file-write-data", [f'(literal "{p}")' for p in _DEVICES_WRITE])
    yield _form("allow file-read-metadata", [f'(literal "{p}")' for p in _SYSTEM_METADATA])
    yield _form("allow file-map-executable", [f'(subpath "{p}")' for p in _EXECUTABLE_MAPS])
    if ancestors:
        yield _form("allow file-read-metadata", [f"(literal {param(p)})" for p in ancestors])
    yield ""
    yield ";; Granted folders: all readable, the read-write ones writable."
    if readable:
        subpaths = [f"(subpath {param(p)})" for p in readable]
        yield _form("allow file-read*", subpaths)
        yield _form("allow file-map-executable", subpaths)
    if writable:
        yield _form("allow file-write*", [f"(subpath {param(p)})" for p in writable])
    yield ""
    yield ";; Protected paths stay unwritable and cannot be created; the folder itself and"
    yield ";; the parents of protected paths cannot be removed, renamed or replaced."
    yield ";; These come after the allows above: the last matching rule wins."
    for p in protected:
        yield _form("deny file-write*", [f"(subpath {joined(p, s)})" for s in PROTECTED_PATHS])
        parents = [f"(literal {param(p)})"]
        parents += [f"(literal {joined(p, s)})" for s in _PROTECTED_PARENTS]
        yield _form("deny file-write*", parents)
    yield ""
    yield ";; Network: only the egress proxy; names are resolved by the proxy, never here."
    yield f'(allow network-outbound (remote ip "localhost:{proxy_port}"))'
    yield f'(deny network-outbound (literal "{_DNS_SOCKET}"))'
    yield _form("deny mach-lookup", [f'(global-name "{s}")' for s in _DNS_SERVICES])


def _form(head: str, filters: list[str]) -> str:
    inner = "\n".join(f"  {f}" for f in filters)
    return f"({head}\n{inner})"


def _is_plain(text: str) -> bool:
    return all(c.isalnum() or c in "._-/" for c in text)
