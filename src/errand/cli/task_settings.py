"""What ``errand.toml`` says about the tasks a process runs: ``errand serve``'s runner and
``errand worker`` read it the same way.

Imports of what the settings hold wait for first use, so that the CLI starts quickly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from errand.config import ConfigError, config_path, configured_worker, load_config

if TYPE_CHECKING:
    from errand.agent import TaskOptions
    from errand.intake import IntakeSettings
    from errand.mcp import McpConfig
    from errand.notify import NotifySettings
    from errand.store import Store, TaskRecord


@dataclass(frozen=True)
class TaskSettings:
    """What ``errand.toml`` says about the tasks this process starts and runs."""

    config: Mapping[str, Any]
    intake: IntakeSettings
    mcp: McpConfig
    notify: NotifySettings
    worker_name: str | None = None
    """This host's ``[worker] name``: its folders carry it as their worker label."""

    def options_factory(self, store: Store) -> Callable[[TaskRecord], TaskOptions]:
        """Each task's options: approvals, trusted skill folders among its grants, and the
        toolsets it asked for (the browser, MCP servers), whose events go to ``store``."""
        from errand.agent import options_for_spec

        return lambda task: options_for_spec(self.config, self.mcp, task.spec, store=store)


def task_settings(config: Mapping[str, Any]) -> TaskSettings:
    """Raises ValueError (PolicyError included) for a malformed table, in one sentence."""
    from errand.agent import options_from_config
    from errand.intake import IntakeSettings
    from errand.mcp import load_sdk, mcp_config
    from errand.notify import NotifySettings
    from errand.tasks import check_worker_name

    mcp = mcp_config(config)
    if mcp.servers:
        load_sdk()  # now, before the loop runs tasks whose leases it must keep
    intake = replace(
        IntakeSettings.from_config(config),
        toolsets_available=frozenset({"browser", *(f"mcp:{name}" for name in mcp.servers)}),
    )
    options_from_config(config)  # refuse a malformed [approvals] now, not per task
    worker_name = configured_worker(dict(config))
    return TaskSettings(
        config=config,
        intake=intake,
        mcp=mcp,
        notify=NotifySettings.from_config(config),
        worker_name=None if worker_name is None else check_worker_name(worker_name),
    )


def read_task_settings(err: Console) -> TaskSettings:
    """This host's settings from ``errand.toml``; a malformed file is one line on ``err``
    and exit status 2."""
    try:
        config = load_config()
    except ConfigError as exc:
        err.print(f"errand: {exc}", markup=False)
        raise typer.Exit(2) from exc
    try:
        return task_settings(config)
    except ValueError as exc:
        err.print(f"errand: {config_path()}: {exc}", markup=False)
        raise typer.Exit(2) from exc
