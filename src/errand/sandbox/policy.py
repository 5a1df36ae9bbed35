"""The sandbox policy: which folders a session sees, where it may connect, and its limits.

A policy is plain data, validated when it is built: a policy object that exists is one the
sandbox can enforce. Nothing the model says can widen it; only the user (CLI flags, the
config file, the gateway's allowed folders) builds one.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from errand.sandbox.hostnames import HostnameError, parse_domain_pattern

SESSION_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MOUNT_NAME = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._ @+-]{0,127}$")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class PolicyError(ValueError):
    """A policy that cannot be enforced as written; the message says what to change."""


class FolderMode(StrEnum):
    READ_ONLY = "ro"
    READ_WRITE = "rw"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FolderGrant(_Frozen):
    """A host folder shown to the sandbox at ``/sessions/<session>/mnt/<name>``."""

    path: Path
    mode: FolderMode = FolderMode.READ_ONLY
    name: str = ""

    @field_validator("path")
    @classmethod
    def _absolute_existing_dir(cls, path: Path) -> Path:
        if not path.is_absolute():
            raise ValueError(f"folder {str(path)!r} must be an absolute path")
        if not path.is_dir():
            raise ValueError(f"folder {str(path)!r} does not exist or is not a directory")
        return path.resolve()

    @model_validator(mode="after")
    def _default_name(self) -> Self:
        name = self.name or self.path.name or "root"
        if name in (".", "..") or not MOUNT_NAME.match(name):
            raise ValueError(f"folder name {name!r} is not usable as a mount name")
        object.__setattr__(self, "name", name)
        return self

    @classmethod
    def parse(cls, spec: str, *, base: Path | None = None) -> FolderGrant:
        """Parse ``PATH[:ro|:rw]`` as given on the command line (relative to ``base``).

        Raises:
            PolicyError: the folder is missing or the mode is not ``ro`` or ``rw``.
        """
        path_text, mode = spec, FolderMode.READ_ONLY
        head, sep, tail = spec.rpartition(":")
        if sep and tail in ("ro", "rw"):
            path_text, mode = head, FolderMode(tail)
        elif sep and "/" not in tail and tail:
            raise PolicyError(f"folder {spec!r}: mode must be ':ro' or ':rw', not ':{tail}'")
        path = Path(path_text).expanduser()
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        try:
            return cls(path=path, mode=mode)
        except ValidationError as exc:
            raise PolicyError(_first_message(exc)) from exc


class NetworkPolicy(_Frozen):
    """Egress rules, applied in order: denied domains, allowed domains, the user's approvals.

    An empty allowlist denies everything. Private address ranges are reachable only when
    listed in ``allow_cidrs``; loopback, link-local and metadata addresses never are.
    """

    allow_domains: tuple[str, ...] = ()
    deny_domains: tuple[str, ...] = ()
    allow_cidrs: tuple[IPNetwork, ...] = ()

    @field_validator("allow_domains", "deny_domains")
    @classmethod
    def _valid_domains(cls, domains: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for domain in domains:
            try:
                pattern = str(parse_domain_pattern(domain))
            except HostnameError as exc:
                raise ValueError(str(exc)) from exc
            if pattern not in out:
                out.append(pattern)
        return tuple(out)

    @field_validator("allow_cidrs", mode="before")
    @classmethod
    def _strict_networks(cls, values: Any) -> Any:
        if isinstance(values, list | tuple):
            nets = []
            for value in values:
                try:
                    nets.append(ipaddress.ip_network(value, strict=True))
                except ValueError as exc:
                    raise ValueError(f"{value!r} is not a network in CIDR form: {exc}") from exc
            return tuple(nets)
        return values


class Limits(_Frozen):
    """Resource limits for each sandboxed command."""

    timeout_seconds: float = Field(default=120.0, gt=0, le=24 * 3600)
    output_bytes: int = Field(default=1_000_000, ge=1024)
    processes: int = Field(default=256, ge=8)
    memory_bytes: int = Field(default=4 * 1024**3, ge=64 * 1024**2)
    file_size_bytes: int = Field(default=1024**3, ge=1024**2)
    open_files: int = Field(default=1024, ge=64)
    scratch_bytes: int = Field(default=512 * 1024**2, ge=1024**2)
    """Size of each in-memory scratch area (``/tmp``, the session home)."""


class SandboxPolicy(_Frozen):
    """Everything the sandbox enforces for one session."""

    session: str = "default"
    folders: tuple[FolderGrant, ...] = ()
    network: NetworkPolicy = NetworkPolicy()
    limits: Limits = Limits()

    @field_validator("session")
    @classmethod
    def _session_name(cls, session: str) -> str:
        if not SESSION_NAME.match(session):
            raise ValueError(
                f"session name {session!r} must be lowercase letters, digits, '-' or '_'"
            )
        return session

    @model_validator(mode="after")
    def _distinct_folders(self) -> Self:
        names: dict[str, Path] = {}
        for grant in self.folders:
            if grant.name in names:
                raise ValueError(
                    f"folders {str(names[grant.name])!r} and {str(grant.path)!r} would both "
                    f"appear as {grant.name!r}; give one of them another name"
                )
            names[grant.name] = grant.path
        paths = [g.path for g in self.folders]
        for i, a in enumerate(paths):
            for b in paths[i + 1 :]:
                if a == b or a.is_relative_to(b) or b.is_relative_to(a):
                    raise ValueError(f"folders {str(a)!r} and {str(b)!r} overlap; grant one")
        return self

    def mount_point(self, grant: FolderGrant) -> str:
        """The path at which a granted folder appears inside the sandbox."""
        return mount_path(self.session, grant.name)

    @property
    def home(self) -> str:
        """The session's home directory inside the sandbox."""
        return session_home(self.session)

    @property
    def workdir(self) -> str:
        """The working directory of commands: the first folder, else the session home."""
        return self.mount_point(self.folders[0]) if self.folders else self.home

    @classmethod
    def build(cls, **fields: Any) -> SandboxPolicy:
        """Validate fields into a policy.

        Raises:
            PolicyError: with the first problem as one sentence.
        """
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise PolicyError(_first_message(exc)) from exc

    @classmethod
    def from_toml(cls, table: dict[str, Any], *, base: Path) -> SandboxPolicy:
        """Build a policy from the ``[sandbox]`` table of ``errand.toml``.

        Folders are given as ``{path = "...", mode = "rw", name = "..."}``; relative paths are
        refused, since what they would mean depends on where Errand happens to start.
        """
        fields = dict(table)
        folders = []
        for entry in fields.pop("folders", []):
            if isinstance(entry, dict) and not Path(str(entry.get("path", ""))).is_absolute():
                raise PolicyError(f"folder {entry.get('path')!r} in {base} must be absolute")
            folders.append(entry)
        fields["folders"] = folders
        return cls.build(**fields)


def session_home(session: str) -> str:
    """The session's home directory inside the sandbox: ``/sessions/<session>``."""
    return f"/sessions/{session}"


def mount_path(session: str, name: str) -> str:
    """Where the granted folder ``name`` appears inside the sandbox of ``session``."""
    return f"{session_home(session)}/mnt/{name}"


def _first_message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    msg = str(err.get("msg", "invalid policy"))
    msg = msg.removeprefix("Value error, ")
    where = ".".join(str(p) for p in err.get("loc", ()))
    return f"{where}: {msg}" if where and "folder" not in msg else msg


def policy_from_request(
    config: dict[str, Any],
    *,
    folders: list[str],
    allow_domains: list[str],
    deny_domains: list[str] | None = None,
    allow_cidrs: list[str] | None = None,
    session: str = "default",
    timeout: float | None = None,
    config_file: Path | None = None,
) -> SandboxPolicy:
    """The policy for one request: the ``[sandbox]`` table of ``errand.toml`` widened by what
    the user asked for on this request (folders as ``PATH[:ro|:rw]``, domains, ranges).

    Raises:
        PolicyError: anything invalid, in one sentence.
    """
    base = SandboxPolicy.from_toml(config, base=config_file or Path(".")) if config else None
    base = base or SandboxPolicy()
    limits = base.limits.model_dump()
    if timeout is not None:
        limits["timeout_seconds"] = timeout
    return SandboxPolicy.build(
        session=session,
        folders=[*base.folders, *(FolderGrant.parse(spec) for spec in folders)],
        network={
            "allow_domains": [*base.network.allow_domains, *allow_domains],
            "deny_domains": [*base.network.deny_domains, *(deny_domains or [])],
            "allow_cidrs": [*map(str, base.network.allow_cidrs), *(allow_cidrs or [])],
        },
        limits=limits,
    )
