"""``errand mcp``: the MCP servers whose tools tasks may use: add, list, remove, check."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from errand.config import ConfigError, config_path, load_config

if TYPE_CHECKING:
    from errand.mcp import AllowedFolders, CheckReport, McpConfig

app = typer.Typer(help="MCP servers: add, list, remove, check.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)
EXIT_USAGE = 2


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="The server's name (used in tool names).")],
    command: Annotated[
        list[str] | None, typer.Argument(help="The command that starts a stdio server.")
    ] = None,
    url: Annotated[str | None, typer.Option(help="A streamable HTTP server's URL.")] = None,
    folder: Annotated[
        list[str] | None,
        typer.Option("--folder", help="NAME[:ro|:rw]: an allowed folder the server may see."),
    ] = None,
    program: Annotated[
        list[str] | None,
        typer.Option("--program", help="A host folder holding the server's program (read-only)."),
    ] = None,
    allow_domain: Annotated[
        list[str] | None, typer.Option("--allow-domain", help="A domain the server may reach.")
    ] = None,
    allow_cidr: Annotated[
        list[str] | None,
        typer.Option("--allow-cidr", help="A private address range the server may reach."),
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", help="NAME=VALUE set for the server.")
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header", help="NAME=VALUE sent to a remote server; ${SECRET} is a --secret."
        ),
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option("--secret", help="A host environment variable passed in by name."),
    ] = None,
    approval: Annotated[str, typer.Option(help="allow, ask or deny its tool calls.")] = "ask",
) -> None:
    """Add an MCP server: `errand mcp add git -- mcp-server-git` or `--url URL`."""
    from errand.mcp import McpConfigError, add_server

    table: dict[str, object] = {}
    if command:
        table["command"] = list(command)
    if url:
        table["url"] = url
    if program:
        table["programs"] = list(program)
    if folder:
        table["folders"] = [_folder(spec) for spec in folder]
    if allow_domain:
        table["allow_domains"] = list(allow_domain)
    if allow_cidr:
        table["allow_cidrs"] = list(allow_cidr)
    if env:
        table["env"] = dict(_pair(item, "--env") for item in env)
    if header:
        table["headers"] = dict(_pair(item, "--header") for item in header)
    if secret:
        table["secrets"] = list(secret)
    table["approval"] = approval
    try:
        add_server(config_path(), name, table)
    except McpConfigError as exc:
        _fail(str(exc))
    console.print(f"Added MCP server {name!r}. Try it with `errand mcp check {name}`.")


@app.command("list")
def list_() -> None:
    """The configured MCP servers."""
    config = _config()
    if not config.servers:
        console.print("No MCP servers. Add one with `errand mcp add NAME -- COMMAND`.")
        return
    table = Table("name", "runs", "folders", "domains", "approval", box=None)
    for server in config.servers.values():
        runs = " ".join(server.command) if server.command else str(server.url)
        folders = ", ".join(f"{f.name}:{f.mode.value}" for f in server.folders) or "-"
        table.add_row(
            server.name, runs, folders, ", ".join(server.allow_domains) or "-", server.approval
        )
    console.print(table)


@app.command()
def remove(name: Annotated[str, typer.Argument(help="The server's name.")]) -> None:
    """Remove an MCP server from errand.toml."""
    from errand.mcp import McpConfigError, remove_server

    try:
        remove_server(config_path(), name)
    except McpConfigError as exc:
        _fail(str(exc))
    console.print(f"Removed MCP server {name!r}.")


@app.command()
def check(name: Annotated[str, typer.Argument(help="The server's name.")]) -> None:
    """Start the server in its sandbox, list its tools and say exactly what failed."""
    from errand.mcp import McpConfigError

    config = _config()
    try:
        server = config.select([name])[0]
    except McpConfigError as exc:
        _fail(str(exc))
    report = asyncio.run(_check(server.name, config))
    if not report.ok:
        errors.print(f"errand: {report.failure}", markup=False)
        raise typer.Exit(1)
    who = f" ({report.server_name})" if report.server_name else ""
    console.print(
        f"MCP server {name}{who}: ready with {len(report.tools)} tools in {report.seconds:.1f} s",
        markup=False,
    )
    for tool in report.tools:
        console.print(f"  {tool.name}  {tool.summary}", markup=False)
    for reason in report.skipped:
        console.print(f"  left out: {reason}", markup=False)


async def _check(name: str, config: McpConfig) -> CheckReport:
    from errand.mcp import check_server

    return await check_server(config.servers[name], await _allowed())


async def _allowed() -> AllowedFolders:
    from errand.mcp import allowed_folders
    from errand.store import open_store

    async with await open_store() as store:
        return await allowed_folders(store)


def _config() -> McpConfig:
    from errand.mcp import McpConfigError, mcp_config

    try:
        return mcp_config(load_config())
    except (ConfigError, McpConfigError) as exc:
        _fail(str(exc))


def _folder(spec: str) -> dict[str, str]:
    name, _, mode = spec.partition(":")
    return {"name": name, "mode": mode or "ro"}


def _pair(item: str, option: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep:
        _fail(f"{option} {item!r} must be NAME=VALUE")
    return key, value


def _fail(message: str) -> NoReturn:
    errors.print(f"errand: {message}", markup=False)
    raise typer.Exit(EXIT_USAGE)
