"""``errand serve``: the gateway and the runner in one process, until Ctrl-C.

Start-up opens the store (migrating it), starts the runner and automation (the scheduler
and the webhook deliverer), binds the gateway (loopback unless an exposure is chosen),
writes ``server.json`` for ``errand pair`` and says what a new user needs: whether a phone
can reach this address at all, whether a model is configured, and a pairing QR code (only
while no device is paired: ``errand pair`` makes one later). The notifier sends pushes and
ntfy messages while it runs. Pairing confirmations are answered in this terminal. Ctrl-C or
SIGTERM stops cleanly: automation stops, streams end, running tasks are recorded as
interrupted (resumable), the server stops and the store closes.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from errand.cli.heap import freeze_startup_heap
from errand.cli.task_settings import TaskSettings, read_task_settings
from errand.config import data_dir
from errand.server import SERVER_FILE, AlreadyServing, ServeLock

if TYPE_CHECKING:
    # Imported where used: other commands must not pay for the agent and the store.
    from errand.access import PendingPairing

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default 127.0.0.1; 0.0.0.0 with --lan).")
    ] = None,
    port: Annotated[
        int, typer.Option(min=0, max=65535, envvar="ERRAND_PORT", help="Port to listen on.")
    ] = 8765,
    lan: Annotated[
        bool, typer.Option("--lan", help="Serve plain HTTP on the LAN address (warned).")
    ] = False,
    public_url: Annotated[
        str | None,
        typer.Option(help="The HTTPS URL of your own tunnel or proxy in front of this port."),
    ] = None,
    tailscale: Annotated[
        bool, typer.Option("--tailscale", help="Reach this computer over your tailnet (HTTPS).")
    ] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=32, help="Tasks run at once.")] = 2,
    no_runner: Annotated[
        bool,
        typer.Option(
            "--no-runner",
            help="Only serve; `errand worker` processes run the tasks (needs PostgreSQL).",
        ),
    ] = False,
) -> None:
    """Serve the phone app and the API, and run tasks, until Ctrl-C."""
    settings = read_task_settings(err)
    lock = ServeLock(data_dir())
    try:
        lock.acquire()
    except AlreadyServing as exc:
        err.print(f"errand: {exc}", markup=False)
        raise typer.Exit(2) from exc
    try:
        code = asyncio.run(
            _serve(
                host=host,
                port=port,
                lan=lan,
                public_url=public_url,
                tailscale=tailscale,
                concurrency=concurrency,
                no_runner=no_runner,
                settings=settings,
            )
        )
    finally:
        lock.release()
    raise typer.Exit(code)


async def _serve(
    *,
    host: str | None,
    port: int,
    lan: bool,
    public_url: str | None,
    tailscale: bool,
    concurrency: int,
    no_runner: bool,
    settings: TaskSettings,
) -> int:
    from errand.access import DEVICE_INACTIVE_AFTER, PairingService
    from errand.notify import build_notifier
    from errand.priority import Foreground
    from errand.runner import LocalRunner, StoreRunner, TaskRunner
    from errand.server import (
        ExposureError,
        GatewayConfig,
        GatewayServer,
        SecuritySettings,
        StreamSettings,
        bind_host_for,
        bind_socket,
        build_automation,
        build_gateway,
        clients_answer,
        plan,
        start_tailscale_serve,
        stop_tailscale_serve,
    )
    from errand.store import AccessStore, StoreError, open_store

    bind_host = bind_host_for(host, lan=lan)
    try:
        sock = bind_socket(bind_host, port)
    except OSError as exc:
        err.print(f"errand: cannot listen on {bind_host}:{port}: {exc.strerror}", markup=False)
        return 2
    bound_port: int = sock.getsockname()[1]
    tailnet_name = None
    try:
        if tailscale:
            tailnet_name = await asyncio.to_thread(start_tailscale_serve, bound_port)
        exposure = plan(
            host=bind_host,
            port=bound_port,
            lan=lan,
            public_url=public_url,
            tailscale_name=tailnet_name,
        )
    except ExposureError as exc:
        sock.close()
        err.print(f"errand: {exc}", markup=False)
        return 2
    for warning in exposure.warnings:
        err.print(f"[bold yellow]warning:[/] {warning}")
    try:
        store = await open_store()
    except StoreError as exc:
        sock.close()
        err.print(f"errand: {exc}", markup=False)
        return 1
    if no_runner and store.is_sqlite:
        from errand.cli.worker import SQLITE_REFUSED

        sock.close()
        await store.aclose()
        err.print(SQLITE_REFUSED.format(what="errand serve --no-runner"), markup=False)
        return 2
    err.print(f"errand: tasks are stored in {store.url}", markup=False)
    admin_secret = secrets.token_urlsafe(32)
    streams = StreamSettings()
    pairing = PairingService(store, confirm=_confirm_in_terminal, on_warning=_warn)
    config = GatewayConfig(
        base_url=exposure.base_url,
        security=SecuritySettings(
            allowed_hosts=exposure.allowed_hosts, app_origins=exposure.app_origins
        ),
        intake=settings.intake,
        streams=streams,
        admin_secret=admin_secret,
        admin_hosts=exposure.admin_hosts,
        exposed=exposure.exposed,
        mcp=settings.mcp,
    )
    # The runner's tasks let the gateway's requests go first (errand.priority).
    foreground = Foreground()
    runner: TaskRunner = (
        StoreRunner(store)
        if no_runner
        else LocalRunner(
            store,
            concurrency=concurrency,
            options_factory=settings.options_factory(store),
            responder_factory=clients_answer,
            worker_name=settings.worker_name,
            foreground=foreground,
        )
    )
    automation = build_automation(store, runner, config)
    try:
        notifier = build_notifier(
            store, settings.notify, data_dir=data_dir(), base_url=exposure.base_url
        )
    except (ValueError, OSError) as exc:
        sock.close()
        await store.aclose()
        err.print(f"errand: {exc}", markup=False)
        return 2
    gateway = build_gateway(store, runner, pairing, config, automation, notifier, foreground)
    server = GatewayServer(gateway, sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server_file = data_dir() / SERVER_FILE
    try:
        await runner.start()
        await automation.start()
        await notifier.start()
        freeze_startup_heap()
        await server.start()
        _write_server_file(server_file, f"http://127.0.0.1:{bound_port}", admin_secret)
        out.print(f"Errand is serving at {exposure.base_url} ({exposure.mode}).")
        if not exposure.exposed:
            out.print(LOCAL_ONLY, markup=False)
        out.print(_model_line(settings.intake.default_model), markup=False)
        if notifier.web_push is not None and settings.notify.contact_for(exposure.base_url) is None:
            out.print(NO_CONTACT, markup=False)
        paired = await AccessStore(store).count_active_devices(
            now=datetime.now(UTC), inactive_after=DEVICE_INACTIVE_AFTER
        )
        if paired:
            out.print(
                f"{paired} device{'s are' if paired != 1 else ' is'} paired. "
                "To pair another, run `errand pair`.",
                markup=False,
            )
        else:
            code = await pairing.new_code(exposure.base_url)
            show_pairing(code.link, code.expires_at.astimezone().strftime("%H:%M"))
        await stop.wait()
        err.print("errand: stopping…")
    finally:
        gateway.closing.set()
        await notifier.aclose()
        await automation.aclose()
        await runner.aclose()
        await server.stop()
        await pairing.aclose()
        await store.aclose()
        server_file.unlink(missing_ok=True)
        if tailnet_name:
            await asyncio.to_thread(stop_tailscale_serve)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0


LOCAL_ONLY = (
    "Only this computer can open that address: a phone cannot. To use your phone, restart "
    "with --tailscale (recommended), --public-url URL (your own HTTPS tunnel) or --lan."
)
NO_CONTACT = (
    "iPhones drop pushes without a real contact address: set contact = "
    '"mailto:you@example.com" under [notify] in errand.toml.'
)


def _model_line(model: str | None) -> str:
    if model:
        return f"Model: {model}."
    return (
        "No model is configured: tasks will be refused until you set "
        'model = "anthropic:claude-sonnet-4-5" (or another) in errand.toml or ERRAND_MODEL.'
    )


def show_pairing(link: str, expires: str) -> None:
    """Print the pairing QR code and the same link as text."""
    import segno

    out.print("Scan this code with your phone's camera to pair it:")
    segno.make(link, error="m").terminal(out=sys.stdout, compact=True)
    sys.stdout.flush()
    out.print(f"or open {link}", markup=False)
    out.print(f"The code works once, until {expires}. Make another with `errand pair`.")


async def _confirm_in_terminal(pending: PendingPairing) -> bool:
    """Ask the owner to type the number the phone shows. Typing the number (not "y") binds
    the answer to this phone: an answer meant for another phone cannot approve this one."""
    from errand.cli.terminal import terminal

    who = f'"{pending.device_name}" (from {pending.client_id})'
    if not sys.stdin.isatty():
        out.print(
            f"A phone {who} asks to pair. To approve it, run `errand devices approve NUMBER` "
            "with the number the phone shows.",
            markup=False,
        )
        await asyncio.Event().wait()  # decided by `errand devices approve`, or times out
    answer = await terminal().ask(
        f"\nA phone {who} asks to pair.\n"
        "Type the number it shows to pair it, or press Enter to refuse: ",
        withdrawn=f"(The pairing request of {who} is no longer waiting; ignore it.)",
    )
    typed = "".join(answer.split())
    if typed == pending.confirmation:
        return True
    if typed:
        out.print("That is not the number this phone shows: pairing refused.", markup=False)
    return False


def _warn(message: str) -> None:
    err.print(f"[bold yellow]warning:[/] {message}")


def _write_server_file(path: Path, url: str, admin_secret: str) -> None:
    """Owner-only: the admin secret lets ``errand pair`` open pairing codes."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"url": url, "admin_secret": admin_secret, "pid": os.getpid()}, fh)
    os.chmod(path, 0o600)
