"""Where an MCP server runs: its own sandbox session, under a policy no wider than the task's.

Each stdio server gets a :class:`~errand.sandbox.Sandbox` of its own (a remote server gets
only the network part, through :mod:`errand.mcp.remote`):

- folders: only the allowed folders its configuration names, in at most the mode the allowed
  folder permits, and (inside a task) only folders the task itself was granted in at least
  that mode. A server never sees more of the disk than the task that uses it.
- programs: the host folders holding the server's program, read-only at the same path (never
  Errand's own data or config directory, nor a folder containing them).
- network: its own ``allow_domains`` (and private ranges in ``allow_cidrs``) through the
  session's egress proxy; the task's denied domains stay denied. Nothing else, loopback
  included.
- environment: the sandbox's minimal one (with the proxy settings), the server's ``env`` and
  its named ``secrets``; nothing else of the host's.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from errand.access import list_folders
from errand.config import config_path, data_dir
from errand.mcp.config import ServerConfig
from errand.mcp.connection import Launcher, ServerFailed, ServerProcess
from errand.sandbox import (
    DecisionSink,
    ExtraMount,
    FolderGrant,
    FolderMode,
    NetworkPolicy,
    PolicyError,
    Sandbox,
    SandboxPolicy,
    SandboxUnavailable,
)
from errand.store import Store

_RANK = {FolderMode.READ_ONLY: 0, FolderMode.READ_WRITE: 1}

AllowedFolders = Mapping[str, FolderGrant]
"""The owner's allowed folders by name, each with the most a task may get."""


def server_policy(
    config: ServerConfig, allowed: AllowedFolders, task: SandboxPolicy | None = None
) -> SandboxPolicy:
    """The sandbox policy of ``config``'s server, inside ``task`` when given.

    Raises:
        ServerFailed: a folder it names is not allowed, is wanted in a wider mode than
            allowed, or was not granted to the task (one sentence).
    """
    grants: list[FolderGrant] = []
    for folder in config.folders:
        limit = allowed.get(folder.name)
        if limit is None:
            raise ServerFailed(
                f"MCP server {config.name} names folder {folder.name!r}, which is not an allowed "
                "folder (see errand folders list)"
            )
        if _RANK[folder.mode] > _RANK[limit.mode]:
            raise ServerFailed(
                f"MCP server {config.name} wants folder {folder.name!r} {folder.mode.value}, but "
                f"it is allowed {limit.mode.value} only"
            )
        if task is not None and not _task_covers(task, limit.path, folder.mode):
            raise ServerFailed(
                f"MCP server {config.name} needs folder {folder.name!r} ({folder.mode.value}), "
                "which this task was not granted"
            )
        grants.append(FolderGrant(path=limit.path, mode=folder.mode, name=folder.name))
    deny = task.network.deny_domains if task is not None else ()
    try:
        return SandboxPolicy(
            session=f"mcp-{config.name}-{secrets.token_hex(3)}",
            folders=tuple(grants),
            network=NetworkPolicy.model_validate(
                {
                    "allow_domains": config.allow_domains,
                    "deny_domains": deny,
                    "allow_cidrs": config.allow_cidrs,
                }
            ),
            limits=task.limits if task is not None else SandboxPolicy().limits,
        )
    except (PolicyError, ValueError) as exc:
        raise ServerFailed(f"MCP server {config.name} cannot be sandboxed: {exc}") from exc


async def allowed_folders(store: Store) -> dict[str, FolderGrant]:
    """The owner's allowed folders that still exist, by name, each at its most."""
    grants: dict[str, FolderGrant] = {}
    for folder in await list_folders(store):
        try:
            grants[folder.name] = FolderGrant(path=folder.path, mode=folder.mode, name=folder.name)
        except ValueError:
            continue  # a folder gone from the disk cannot be granted
    return grants


def _task_covers(task: SandboxPolicy, path: Path, mode: FolderMode) -> bool:
    return any(
        path.is_relative_to(grant.path) and _RANK[grant.mode] >= _RANK[mode]
        for grant in task.folders
    )


def program_mounts(config: ServerConfig) -> list[ExtraMount]:
    """Read-only mounts of the server's program folders, at their own paths.

    Raises:
        ServerFailed: a folder is missing, or holds Errand's data or config directory.
    """
    private = [data_dir().resolve(), config_path().parent.resolve()]
    mounts: list[ExtraMount] = []
    for program in config.programs:
        resolved = program.resolve()
        if not resolved.is_dir():
            raise ServerFailed(f"MCP server {config.name}: program folder {program} is missing")
        if any(p == resolved or p.is_relative_to(resolved) for p in private):
            raise ServerFailed(
                f"MCP server {config.name}: program folder {program} holds Errand's own data "
                "or settings and cannot be shown to a server"
            )
        # At the path as written and as resolved: scripts name their interpreter either way.
        for path in dict.fromkeys([str(program), str(resolved)]):
            mounts.append(ExtraMount(host_path=resolved, sandbox_path=path))
    return mounts


def server_launcher(
    config: ServerConfig, policy: SandboxPolicy, *, on_decision: DecisionSink | None = None
) -> Launcher:
    """How ``config``'s server starts under ``policy``: a stdio server in a sandbox session of
    its own; a remote one reached through an egress proxy under ``policy.network``."""
    if config.url is not None:
        from errand.mcp.remote import proxied

        return proxied(config, policy, on_decision=on_decision)
    return sandboxed(config, policy, on_decision=on_decision)


def sandboxed(
    config: ServerConfig,
    policy: SandboxPolicy,
    *,
    on_decision: DecisionSink | None = None,
    environ: Mapping[str, str] | None = None,
) -> Launcher:
    """A launcher that runs ``config``'s command in a sandbox session of its own."""

    @contextlib.asynccontextmanager
    async def launch() -> AsyncIterator[ServerProcess]:
        if not config.command:
            raise ServerFailed(f"MCP server {config.name} is remote (url): it is not started")
        env = {**config.env, **_secrets(config, environ)}
        mounts = program_mounts(config)
        try:
            async with Sandbox(policy, on_decision=on_decision) as sandbox:
                process = await sandbox.spawn(
                    list(config.command),
                    call_id=f"mcp-{config.name}",
                    cwd=policy.workdir,
                    env=env,
                    extra_mounts=mounts,
                )
                try:
                    yield process
                finally:
                    await process.aclose()
        except SandboxUnavailable as exc:
            raise ServerFailed(
                f"the sandbox could not start MCP server {config.name}: {exc}"
            ) from exc

    return launch


def _secrets(config: ServerConfig, environ: Mapping[str, str] | None) -> dict[str, str]:
    try:
        return config.secret_values(environ)
    except ValueError as exc:
        raise ServerFailed(str(exc)) from exc
