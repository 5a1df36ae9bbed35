"""A real gateway on loopback for the API tests: uvicorn in this event loop on port 0, a
SQLite store in a temporary directory, the in-process runner and the scripted model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from errand.access import PairingService, PendingPairing, create_token
from errand.agent import ApprovalPolicy, TaskOptions
from errand.intake import IntakeSettings
from errand.priority import Foreground
from errand.runner import LocalRunner
from errand.server.app import build_gateway
from errand.server.exposure import plan
from errand.server.gateway import Gateway, GatewayConfig, clients_answer
from errand.server.running import GatewayServer, bind_socket
from errand.server.security import SecuritySettings
from errand.server.sse import StreamSettings
from errand.store import Store, TaskStatus, open_store
from errand.tasks import TaskSpec
from sqlite_db import migrated_sqlite

ADMIN_SECRET = "admin-secret-for-tests-0123456789"


@dataclass
class Host:
    """The terminal side of pairing: answers confirmations, keeps warnings."""

    answer: bool = True
    asked: list[PendingPairing] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    async def confirm(self, pending: PendingPairing) -> bool:
        self.asked.append(pending)
        return self.answer

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@dataclass
class LiveGateway:
    """A running gateway and what a test needs to talk to it."""

    store: Store
    gateway: Gateway
    server: GatewayServer
    host: Host
    token: str
    tmp_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        headers.update(kwargs.pop("headers", {}))
        return httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=30.0, trust_env=False, **kwargs
        )

    def script(self, turns: list[Any]) -> str:
        """A ``script:PATH`` model replaying ``turns``."""
        path = self.tmp_path / f"script-{len(list(self.tmp_path.glob('script-*')))}.json"
        path.write_text(json.dumps({"turns": turns}), encoding="utf-8")
        return f"script:{path}"

    async def wait_status(self, task_id: str, *statuses: TaskStatus, timeout: float = 20) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (await self.store.get_task(task_id)).status not in statuses:
            if loop.time() > deadline:
                raise AssertionError(f"task {task_id} never reached {statuses}")
            await asyncio.sleep(0.02)


def stream_settings() -> StreamSettings:
    return StreamSettings(heartbeat_seconds=0.5, recheck_seconds=0.2, task_list_poll_seconds=0.1)


async def live_gateway(
    tmp_path: Path,
    *,
    default_model: str | None = None,
    lan_public_url: str | None = None,
    access_log: bool = True,
    start_runner: bool = True,
    approvals: ApprovalPolicy | None = None,
) -> AsyncIterator[LiveGateway]:
    """Start a gateway; yields it running and stops everything afterwards.

    Without ``start_runner`` no task runs: the test writes task logs itself. ``approvals``
    is every task's approval policy (the default otherwise)."""
    store = await open_store(migrated_sqlite(tmp_path / "errand.db"))
    host = Host()
    pairing = PairingService(store, confirm=host.confirm, on_warning=host.warn)
    policy = approvals
    foreground = Foreground()  # as errand serve: tasks let the requests go first
    runner = LocalRunner(
        store,
        concurrency=2,
        responder_factory=clients_answer,
        options_factory=(lambda task: TaskOptions(approvals=policy)) if policy else None,
        foreground=foreground,
    )
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    exposure = plan(host="127.0.0.1", port=port, public_url=lan_public_url)
    config = GatewayConfig(
        base_url=exposure.base_url,
        security=SecuritySettings(
            allowed_hosts=exposure.allowed_hosts, app_origins=exposure.app_origins
        ),
        intake=IntakeSettings(default_model=default_model, allow_scripted_models=True),
        streams=stream_settings(),
        admin_secret=ADMIN_SECRET,
        admin_hosts=exposure.admin_hosts,
        exposed=exposure.exposed,
    )
    gateway = build_gateway(store, runner, pairing, config, foreground=foreground)
    server = GatewayServer(gateway, sock, access_log=access_log)
    token = (await create_token(store, "tests")).token
    if start_runner:
        await runner.start()
    await server.start()
    try:
        yield LiveGateway(store, gateway, server, host, token, tmp_path)
    finally:
        gateway.closing.set()
        await runner.aclose()
        await server.stop()
        await pairing.aclose()
        await store.aclose()


@dataclass
class SseEvent:
    id: str | None
    event: str | None
    data: str


async def read_sse(response: httpx.Response) -> AsyncIterator[SseEvent | str]:
    """Parse an SSE body: yields events, and comment lines as plain strings."""
    event_id: str | None = None
    name: str | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield line
        elif line == "":
            if data or name:
                yield SseEvent(event_id, name, "\n".join(data))
            event_id, name, data = None, None, []
        else:
            key, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if key == "id":
                event_id = value
            elif key == "event":
                name = value
            elif key == "data":
                data.append(value)


async def running_task(live: LiveGateway, events: int) -> str:
    task = await live.store.create_task("stream me", spec=TaskSpec(model="script:unused"))
    await live.store.set_task_status(task.id, TaskStatus.RUNNING)
    for n in range(events):
        await live.store.append_event(task.id, "message.delta", {"text": f"early {n}"})
    return task.id


async def read_some(
    client: httpx.AsyncClient, task_id: str, last: str | None, count: int | None
) -> tuple[list[SseEvent], bool]:
    """Read up to ``count`` events (all when None); True when the server ended the stream."""
    headers = {"Last-Event-ID": last} if last else {}
    seen: list[SseEvent] = []
    async with client.stream("GET", f"/api/v1/tasks/{task_id}/events", headers=headers) as r:
        assert r.status_code == 200, (r.status_code, await r.aread())
        async for item in read_sse(r):
            if isinstance(item, SseEvent):
                seen.append(item)
                if count is not None and len(seen) >= count:
                    return seen, False
    return seen, True


async def pair_phone(live: LiveGateway, name: str) -> tuple[str, str]:
    """Pair a phone through the API as the app does; returns its device token and id."""
    async with httpx.AsyncClient(base_url=live.url, trust_env=False, timeout=30) as anonymous:
        code = await anonymous.post(
            "/api/v1/admin/pairing-codes", headers={"X-Errand-Admin": ADMIN_SECRET}
        )
        secret = code.json()["link"].partition("#")[2]
        claim = (
            await anonymous.post("/api/v1/pair", json={"secret": secret, "device_name": name})
        ).json()
        for _ in range(5):
            waited = await anonymous.post(
                f"/api/v1/pair/{claim['claim_id']}/wait",
                json={"claim_token": claim["claim_token"]},
            )
            if waited.status_code == 200:
                body = waited.json()
                return str(body["device_token"]), str(body["device"]["id"])
    raise AssertionError("the pairing never finished")
