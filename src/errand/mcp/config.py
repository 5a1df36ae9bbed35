"""MCP servers as the owner configures them in ``errand.toml``.

::

    [mcp]
    tool_budget = 8000                 # characters of tool schemas before find_tools takes over

    [mcp.servers.git]
    command = ["mcp-server-git"]       # stdio, run inside Errand's sandbox
    programs = ["/opt/mcp/venv"]       # host folders holding the server's own program (read-only)
    folders = [{ name = "site", mode = "ro" }]   # allowed folders, by name
    allow_domains = []
    env = { GIT_AUTHOR_NAME = "Errand" }         # explicit; nothing else of the host's environment
    secrets = ["GITHUB_TOKEN"]                   # host environment variables passed in by name
    approval = "ask"                             # allow | ask | deny for every tool of the server
    tools = { git_commit = "ask" }               # per tool, by the server's own tool name

    [mcp.servers.notes]
    url = "https://mcp.example.com/mcp"          # streamable HTTP, through the egress proxy
    allow_domains = ["mcp.example.com"]          # must allow the URL's host
    secrets = ["NOTES_TOKEN"]
    headers = { Authorization = "Bearer ${NOTES_TOKEN}" }   # ${NAME}: a secret named above

A remote server's URL must be ``https://`` to a host in its ``allow_domains``; plain
``http://`` is accepted only to an address inside its ``allow_cidrs`` (a server on the
owner's own network, or a test host), where no name needs to be trusted.

Every problem is reported as one sentence that names the key to fix
(:class:`McpConfigError`).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

import tomlkit
import tomlkit.exceptions

from errand.sandbox import (
    FolderMode,
    HostnameError,
    NetworkPolicy,
    PolicyError,
    normalize_host,
    parse_domain_pattern,
)

SERVER_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]|_(?!_)){0,30}$")
"""Server names appear inside tool names (``mcp__<server>__<tool>``): lowercase letters,
digits, ``-`` and single ``_``, at most 31 characters."""
_TOOL_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
_RESERVED_HEADERS = frozenset(
    {
        "host",
        "connection",
        "content-length",
        "content-type",
        "accept",
        "transfer-encoding",
        "proxy-authorization",
        "mcp-session-id",
        "mcp-protocol-version",
        "last-event-id",
    }
)
"""Headers the HTTP client and the MCP transport set themselves."""
_STDIO_ONLY = ("programs", "folders", "env")
DEFAULT_TOOL_BUDGET = 8000
DEFAULT_START_TIMEOUT = 30.0
DEFAULT_CALL_TIMEOUT = 300.0
_SERVER_KEYS = frozenset(
    {
        "command",
        "url",
        "programs",
        "folders",
        "allow_domains",
        "allow_cidrs",
        "headers",
        "env",
        "secrets",
        "approval",
        "tools",
        "start_timeout",
        "call_timeout",
    }
)


class McpConfigError(ValueError):
    """The ``[mcp]`` table cannot be used; the message is one sentence naming the key."""


class Approval(StrEnum):
    """Whether a server's tool calls run, wait for the user, or are refused."""

    ALLOW = "allow"
    ASK = "ask"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class ServerFolder:
    """An allowed folder (by its name) the server may see, and how."""

    name: str
    mode: FolderMode = FolderMode.READ_ONLY


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """One configured MCP server: exactly one of ``command`` (stdio) and ``url`` (HTTP)."""

    name: str
    command: tuple[str, ...] = ()
    url: str | None = None
    programs: tuple[Path, ...] = ()
    """Host folders with the server's program, shown read-only at the same path inside."""
    folders: tuple[ServerFolder, ...] = ()
    allow_domains: tuple[str, ...] = ()
    allow_cidrs: tuple[str, ...] = ()
    """Private address ranges it may reach (as the sandbox's ``allow_cidrs``)."""
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    """A remote server's extra HTTP headers; ``${NAME}`` stands for the secret ``NAME``."""
    approval: Approval = Approval.ASK
    tools: Mapping[str, Approval] = field(default_factory=dict)
    start_timeout: float = DEFAULT_START_TIMEOUT
    call_timeout: float = DEFAULT_CALL_TIMEOUT

    @property
    def toolset_name(self) -> str:
        """How tasks name this server: ``mcp:<name>``."""
        return f"mcp:{self.name}"

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"

    def secret_values(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The named secrets from the host environment.

        Raises:
            McpConfigError: a named secret is not set.
        """
        environ = os.environ if environ is None else environ
        missing = [name for name in self.secrets if name not in environ]
        if missing:
            raise McpConfigError(
                f"MCP server {self.name!r} needs the environment variable {missing[0]}, "
                "which is not set"
            )
        return {name: environ[name] for name in self.secrets}

    def header_values(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """A remote server's headers with each ``${NAME}`` replaced by that secret's value.

        Raises:
            McpConfigError: a named secret is not set, or its value cannot be in a header.
        """
        values = self.secret_values(environ)
        out: dict[str, str] = {}
        for header, template in self.headers.items():
            value = _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
            if any(c in value for c in "\r\n\0"):
                raise McpConfigError(
                    f"MCP server {self.name!r}: a secret in header {header} holds a line break"
                )
            out[header] = value
        return out


@dataclass(frozen=True, slots=True)
class McpConfig:
    """Every configured server, by name, and the prompt budget for their tool schemas."""

    servers: Mapping[str, ServerConfig] = field(default_factory=dict)
    tool_budget: int = DEFAULT_TOOL_BUDGET

    def select(self, names: Sequence[str] | None) -> list[ServerConfig]:
        """The servers a task asked for: ``None`` means all of them; names may be given as
        ``git`` or ``mcp:git``.

        Raises:
            McpConfigError: a name that is not configured.
        """
        if names is None:
            return list(self.servers.values())
        chosen: list[ServerConfig] = []
        for raw in names:
            name = raw.removeprefix("mcp:")
            server = self.servers.get(name)
            if server is None:
                known = ", ".join(self.servers) or "none are configured"
                raise McpConfigError(f"there is no MCP server named {name!r} ({known})")
            if server not in chosen:
                chosen.append(server)
        return chosen


def mcp_config(config: Mapping[str, object]) -> McpConfig:
    """Read the ``[mcp]`` table of a loaded ``errand.toml`` (absent: no servers).

    Raises:
        McpConfigError: the first problem, in one sentence.
    """
    table = config.get("mcp", {})
    if not isinstance(table, Mapping):
        raise McpConfigError("mcp must be a table")
    unknown = set(table) - {"servers", "tool_budget"}
    if unknown:
        raise McpConfigError(f"mcp.{sorted(unknown)[0]} is not a setting (servers, tool_budget)")
    budget = table.get("tool_budget", DEFAULT_TOOL_BUDGET)
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
        raise McpConfigError("mcp.tool_budget must be a whole number of characters (0 or more)")
    servers_table = table.get("servers", {})
    if not isinstance(servers_table, Mapping):
        raise McpConfigError("mcp.servers must be a table of servers")
    servers = {name: server_config(name, body) for name, body in servers_table.items()}
    return McpConfig(servers=servers, tool_budget=budget)


def server_config(name: str, body: object) -> ServerConfig:
    """Validate one ``[mcp.servers.NAME]`` table.

    Raises:
        McpConfigError: the first problem, in one sentence.
    """
    where = f"mcp.servers.{name}"
    if not SERVER_NAME.match(name):
        raise McpConfigError(
            f"{where}: server names are lowercase letters, digits, '-' or single '_' "
            "(at most 31 characters)"
        )
    if not isinstance(body, Mapping):
        raise McpConfigError(f"{where} must be a table")
    unknown = set(body) - _SERVER_KEYS
    if unknown:
        raise McpConfigError(f"{where}.{sorted(unknown)[0]} is not a setting")
    command = _strings(body.get("command", []), f"{where}.command")
    url = body.get("url")
    if bool(command) == (url is not None):
        raise McpConfigError(f"{where} needs exactly one of command (a list) and url")
    env = _env(body.get("env", {}), f"{where}.env")
    secrets = _strings(body.get("secrets", []), f"{where}.secrets")
    for secret in secrets:
        if not _ENV_NAME.match(secret):
            raise McpConfigError(f"{where}.secrets: {secret!r} is not an environment name")
    allow_domains = _domains(body.get("allow_domains", []), f"{where}.allow_domains")
    allow_cidrs = _cidrs(body.get("allow_cidrs", []), f"{where}.allow_cidrs")
    headers = _headers(body.get("headers", {}), secrets, f"{where}.headers")
    if url is not None:
        url = _url(url, f"{where}.url")
        _check_remote(body, url, allow_domains, allow_cidrs, where)
    elif headers:
        raise McpConfigError(f"{where}.headers is for remote servers (url), not stdio ones")
    return ServerConfig(
        name=name,
        command=command,
        url=url,
        programs=tuple(
            _program(p, f"{where}.programs")
            for p in _strings(body.get("programs", []), f"{where}.programs")
        ),
        folders=_folders(body.get("folders", []), f"{where}.folders"),
        allow_domains=allow_domains,
        allow_cidrs=allow_cidrs,
        env=env,
        secrets=secrets,
        headers=headers,
        approval=_approval(body.get("approval", Approval.ASK.value), f"{where}.approval"),
        tools=_tool_rules(body.get("tools", {}), f"{where}.tools"),
        start_timeout=_seconds(
            body.get("start_timeout", DEFAULT_START_TIMEOUT), where, "start_timeout"
        ),
        call_timeout=_seconds(
            body.get("call_timeout", DEFAULT_CALL_TIMEOUT), where, "call_timeout"
        ),
    )


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise McpConfigError(f"{where} must be a list of non-empty strings")
    if any("\0" in v for v in value):
        raise McpConfigError(f"{where} must not contain NUL characters")
    return tuple(value)


def _url(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise McpConfigError(f"{where} must be a string")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise McpConfigError(f"{where} must be an http(s) URL with a host")
    if parts.username or parts.password:
        raise McpConfigError(f"{where} must not hold credentials; name them in secrets")
    return value


def _check_remote(
    body: Mapping[str, object],
    url: str,
    allow_domains: tuple[str, ...],
    allow_cidrs: tuple[str, ...],
    where: str,
) -> None:
    """A remote server's URL must be reachable under its own network rules, and over TLS
    unless it is an address the owner allowed by range."""
    for key in _STDIO_ONLY:
        if body.get(key):
            raise McpConfigError(
                f"{where}.{key} is for stdio servers (command); a remote server runs elsewhere"
            )
    parts = urlsplit(url)
    try:
        host = normalize_host(parts.hostname or "")
    except HostnameError as exc:
        raise McpConfigError(f"{where}.url: {exc}") from exc
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        if not any(literal in ipaddress.ip_network(cidr) for cidr in allow_cidrs):
            raise McpConfigError(
                f"{where}.url: {host} is an address outside allow_cidrs; add its range there"
            )
        return
    if parts.scheme != "https":
        raise McpConfigError(
            f"{where}.url must use https:// (plain http:// only to an address in allow_cidrs)"
        )
    if not any(parse_domain_pattern(d).matches(host) for d in allow_domains):
        raise McpConfigError(
            f"{where}.url: {host} is not in allow_domains; add it there "
            f"(errand mcp add --allow-domain {host})"
        )


def _headers(value: object, secrets: tuple[str, ...], where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise McpConfigError(
            f'{where} must be a table like {{ Authorization = "Bearer ${{TOKEN}}" }}'
        )
    out: dict[str, str] = {}
    for key, item in value.items():
        name = str(key)
        if not _HEADER_NAME.match(name):
            raise McpConfigError(f"{where}: {name!r} is not a header name")
        if name.lower() in _RESERVED_HEADERS:
            raise McpConfigError(f"{where}: {name} is set by Errand itself")
        if not isinstance(item, str) or any(c in item for c in "\r\n\0"):
            raise McpConfigError(f"{where}.{name} must be a string on one line")
        for placeholder in _PLACEHOLDER.findall(item):
            if placeholder not in secrets:
                raise McpConfigError(
                    f"{where}.{name}: ${{{placeholder}}} must name one of the server's secrets"
                )
        out[name] = item
    return out


def _cidrs(value: object, where: str) -> tuple[str, ...]:
    ranges = _strings(value, where)
    try:
        network = NetworkPolicy.model_validate({"allow_cidrs": list(ranges)})
    except (ValueError, PolicyError) as exc:
        first = str(exc).splitlines()
        detail = first[2].strip() if len(first) > 2 else str(exc)
        raise McpConfigError(f"{where}: {detail.removeprefix('Value error, ')}") from exc
    return tuple(str(net) for net in network.allow_cidrs)


def _env(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise McpConfigError(f'{where} must be a table of NAME = "value"')
    out: dict[str, str] = {}
    for key, item in value.items():
        if not _ENV_NAME.match(str(key)):
            raise McpConfigError(f"{where}: {key!r} is not an environment name")
        if not isinstance(item, str) or "\0" in item:
            raise McpConfigError(f"{where}.{key} must be a string")
        out[str(key)] = item
    return out


def _program(text: str, where: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise McpConfigError(f"{where}: {text!r} must be an absolute path")
    if path.resolve() == Path("/"):
        raise McpConfigError(f"{where}: the whole file system cannot be a program folder")
    return path


def _folders(value: object, where: str) -> tuple[ServerFolder, ...]:
    if not isinstance(value, list):
        raise McpConfigError(f'{where} must be a list like [{{ name = "site", mode = "ro" }}]')
    out: list[ServerFolder] = []
    for item in value:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise McpConfigError(f"{where}: each folder needs a name (an allowed folder's)")
        if set(item) - {"name", "mode"}:
            raise McpConfigError(f"{where}: a folder has only name and mode")
        try:
            mode = FolderMode(item.get("mode", "ro"))
        except ValueError as exc:
            raise McpConfigError(f'{where}: mode must be "ro" or "rw"') from exc
        if any(f.name == item["name"] for f in out):
            raise McpConfigError(f"{where}: folder {item['name']!r} is named twice")
        out.append(ServerFolder(name=item["name"], mode=mode))
    return tuple(out)


def _domains(value: object, where: str) -> tuple[str, ...]:
    domains = _strings(value, where)
    try:
        return NetworkPolicy(allow_domains=domains).allow_domains
    except (ValueError, PolicyError) as exc:
        first = str(exc).splitlines()
        detail = first[2].strip() if len(first) > 2 else str(exc)
        raise McpConfigError(f"{where}: {detail.removeprefix('Value error, ')}") from exc


def _approval(value: object, where: str) -> Approval:
    try:
        return Approval(str(value))
    except ValueError as exc:
        raise McpConfigError(f"{where} must be allow, ask or deny") from exc


def _tool_rules(value: object, where: str) -> dict[str, Approval]:
    if not isinstance(value, Mapping):
        raise McpConfigError(f'{where} must be a table like {{ git_commit = "ask" }}')
    return {str(k): _approval(v, f"{where}.{k}") for k, v in value.items()}


def _seconds(value: object, where: str, key: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 3600:
        raise McpConfigError(f"{where}.{key} must be a number of seconds between 0 and 3600")
    return float(value)


def add_server(path: Path, name: str, table: Mapping[str, object]) -> ServerConfig:
    """Write ``[mcp.servers.NAME]`` into the config file at ``path`` (created if absent),
    keeping the rest of the file as it was.

    Raises:
        McpConfigError: the server is invalid, already configured, or the file is not TOML.
    """
    config = server_config(name, table)
    document = _read_document(path)
    servers = document.setdefault("mcp", tomlkit.table()).setdefault("servers", tomlkit.table())
    if name in servers:
        raise McpConfigError(f"an MCP server named {name!r} is already configured; remove it first")
    entry = tomlkit.table()
    for key, value in table.items():
        entry[key] = value
    servers[name] = entry
    _write_document(path, document)
    return config


def remove_server(path: Path, name: str) -> None:
    """Delete ``[mcp.servers.NAME]`` from the config file at ``path``.

    Raises:
        McpConfigError: no such server, or the file is not TOML.
    """
    document = _read_document(path)
    servers = document.get("mcp", {}).get("servers", {})
    if name not in servers:
        raise McpConfigError(f"there is no MCP server named {name!r}")
    del servers[name]
    _write_document(path, document)


def _read_document(path: Path) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return tomlkit.document()
    except tomlkit.exceptions.ParseError as exc:
        raise McpConfigError(f"{path} is not valid TOML: {exc}") from exc


def _write_document(path: Path, document: tomlkit.TOMLDocument) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(tomlkit.dumps(document), encoding="utf-8")
    temporary.replace(path)


def approval_rules(config: McpConfig) -> dict[str, str]:
    """Approval rules by exposed tool name: ``mcp__<server>__*`` for each server's default
    and ``mcp__<server>__<tool>`` for its per-tool settings (``allow``, ``ask``, ``deny``)."""
    rules: dict[str, str] = {}
    for server in config.servers.values():
        rules[f"mcp__{server.name}__*"] = server.approval.value
        for tool, verdict in server.tools.items():
            rules[f"mcp__{server.name}__{_TOOL_CHARS.sub('_', tool)}"] = verdict.value
    return rules
