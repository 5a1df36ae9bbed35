"""The gateway's ASGI app: the API of docs/api.md and the web app, behind the security checks.

``create_app(gateway)`` wires the routers, the error shape, the security middleware, the
count of requests being answered (``errand.priority``) and the web app's static files. The
app does not own the store, the runner or the pairing service: whoever starts it (``errand
serve``, a test) opens and closes them, and sets ``gateway.closing`` before stopping the
server so open streams end at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles

import errand
from errand.access import PairingService
from errand.automation import Automation
from errand.intake import Intake
from errand.notify import Notifier
from errand.priority import Foreground
from errand.runner import TaskRunner
from errand.server import (
    routes_approvals,
    routes_automation,
    routes_changes,
    routes_devices,
    routes_events,
    routes_files,
    routes_hooks,
    routes_maintenance,
    routes_mcp,
    routes_pairing,
    routes_push,
    routes_tasks,
    routes_workers,
)
from errand.server.errors import install_error_handlers
from errand.server.gateway import Gateway, GatewayConfig
from errand.server.requests_first import RequestsFirst
from errand.server.security import SecurityMiddleware
from errand.server.sse import TaskListWatcher
from errand.server.task_views import TaskViews
from errand.store import Store

WEB_DIR = Path(errand.__file__).parent / "web"


def build_gateway(
    store: Store,
    runner: TaskRunner,
    pairing: PairingService,
    config: GatewayConfig,
    automation: Automation | None = None,
    notifier: Notifier | None = None,
    foreground: Foreground | None = None,
) -> Gateway:
    """The gateway state for an app (the caller still owns store, runner and pairing).

    ``automation`` defaults to one whose background loops are not started (the routes only
    manage schedules, hooks and webhooks); ``errand serve`` passes one it starts and stops,
    and the ``notifier`` it starts (without one, devices cannot subscribe to pushes).
    ``foreground`` is the one the runner's tasks defer to (``errand.priority``); the app
    counts its requests there.
    """

    views = TaskViews(store, runs_here=runner.folder_workers)
    watcher = TaskListWatcher(store=store, view=views, settings=config.streams)
    intake = Intake(store, config=config.intake, wake=runner.submit)
    if automation is None:
        automation = build_automation(store, runner, config)
    return Gateway(
        store=store,
        runner=runner,
        intake=intake,
        pairing=pairing,
        config=config,
        watcher=watcher,
        views=views,
        automation=automation,
        notifier=notifier,
        foreground=foreground or Foreground(),
    )


def build_automation(store: Store, runner: TaskRunner, config: GatewayConfig) -> Automation:
    """Schedules, hooks and webhooks whose tasks go through intake to ``runner``."""
    intake = Intake(store, config=config.intake, wake=runner.submit)
    return Automation(store, intake, cancel=runner.cancel, base_url=config.base_url)


def create_app(gateway: Gateway) -> FastAPI:
    """The ASGI app serving ``gateway``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            gateway.closing.set()
            await gateway.watcher.aclose()

    app = FastAPI(
        title="Errand",
        version=errand.__version__,
        summary="Send a self-hosted, sandboxed AI agent on errands.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.gateway = gateway
    install_error_handlers(app)
    for module in (
        routes_pairing,
        routes_tasks,
        routes_events,
        routes_approvals,
        routes_files,
        routes_changes,
        routes_devices,
        routes_push,
        routes_automation,
        routes_hooks,
        routes_mcp,
        routes_maintenance,
        routes_workers,
    ):
        app.include_router(module.router)
    web_dir = gateway.config.web_dir or WEB_DIR
    index = web_dir / "index.html"

    @app.get("/pair", include_in_schema=False)
    async def pairing_page() -> Response:
        # The same app as "/": it reads the code from the URL fragment, which never
        # reaches this server; loading the page has no side effect.
        if not index.is_file():
            return Response("Errand's web app is not installed.", status_code=404)
        return FileResponse(index, media_type="text/html")

    if web_dir.is_dir():
        app.mount("/", StaticFiles(directory=web_dir, html=True), name="web")
    app.add_middleware(SecurityMiddleware, settings=gateway.config.security)
    app.add_middleware(RequestsFirst, foreground=gateway.foreground)
    return app
