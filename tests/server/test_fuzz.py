"""Fuzzing every operation of /openapi.json against a real gateway: no input makes it fail
with a server error. Streams are left out (they stay open by design; tests in test_sse)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from server.gateway_harness import LiveGateway, live_gateway

T = TypeVar("T")


class _ServerThread:
    """A gateway on its own event loop, so the synchronous fuzzer can call it."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.ready = threading.Event()
        self.live: LiveGateway | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        script = self.tmp_path / "script.json"
        script.write_text('{"turns": [{"text": "ok"}]}', encoding="utf-8")
        async for live in live_gateway(
            self.tmp_path,
            default_model=f"script:{script}",
            access_log=False,
            start_runner=False,
        ):
            self.live = live
            self.ready.set()
            await self.stop.wait()

    def __enter__(self) -> _ServerThread:
        self.thread.start()
        assert self.ready.wait(20), "the gateway did not start"
        return self

    @property
    def url(self) -> str:
        assert self.live is not None
        return self.live.url

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the gateway's loop and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(10)

    def __exit__(self, *exc: object) -> None:
        assert self.loop is not None and self.stop is not None
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(20)


@pytest.fixture(scope="module")
def gateway_for_fuzzing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_ServerThread]:
    with _ServerThread(tmp_path_factory.mktemp("fuzz")) as server:
        yield server


def test_no_request_makes_the_gateway_fail(gateway_for_fuzzing: _ServerThread) -> None:
    live = gateway_for_fuzzing.live
    assert live is not None
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    operations = []
    for result in schema.exclude(path_regex=r"/events$").get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,  # per operation: about 40 operations
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def call(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(
                base_url=live.url,
                headers={"Authorization": f"Bearer {live.token}"},
                checks=[not_a_server_error],
                timeout=10,
            )

        call()
    created = gateway_for_fuzzing.run(live.store.list_tasks())
    assert created, "no fuzzed request got through to create a task"


HOSTILE_TEXT = [
    "é" * 40,
    "\u202e\u0000\u0007",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢" * 20,
    "' OR 1=1 --",
    "../../../../etc/passwd",
    "%00%ff",
    "١٢٣",
    "x" * 5000,
]
HOSTILE_HEADERS: list[dict[bytes, bytes]] = [
    {b"Authorization": "Bearer é".encode()},
    {b"Authorization": "Bearer errand_dev_é_ü".encode()},
    {b"Idempotency-Key": "ключ".encode()},
    {b"Last-Event-ID": "١٢٣".encode()},
    {b"Last-Event-ID": b"\xff\xfe"},
    {b"X-Errand-Admin": "secret-é".encode()},
    {b"Content-Type": "application/json; charset=ü".encode()},
    {b"Origin": "http://é.example".encode()},
]


def _hostile_bodies(schema: dict[str, Any], components: dict[str, Any]) -> list[bytes]:
    """Raw bodies that break every rule: invalid UTF-8, wrong JSON, and the operation's own
    fields each filled with hostile text."""
    bodies = [b"\xff\xfe\xfd", b"{", b"[]", b'{"a":' * 200, '"é"'.encode()]
    ref = schema.get("$ref")
    if isinstance(ref, str):
        schema = components.get(ref.rsplit("/", 1)[-1], {})
    fields = list(schema.get("properties", {}))
    for text in HOSTILE_TEXT[::2]:
        bodies.append(json.dumps({name: text for name in fields}).encode())
    return bodies


def test_hostile_headers_and_bodies_never_make_a_server_error(
    gateway_for_fuzzing: _ServerThread,
) -> None:
    live = gateway_for_fuzzing.live
    assert live is not None
    document = httpx.get(f"{live.url}/openapi.json", trust_env=False).json()
    components = document.get("components", {}).get("schemas", {})
    auth = {b"Authorization": f"Bearer {live.token}".encode()}
    tried = 0
    with httpx.Client(base_url=live.url, trust_env=False, timeout=10) as client:
        for path, operations in document["paths"].items():
            if path.endswith("/events"):
                continue  # streams stay open by design (tests in test_sse)
            for method, operation in operations.items():
                # Each hostile header once, on a path whose parameters are hostile too.
                for hostile, headers in zip(HOSTILE_TEXT, HOSTILE_HEADERS, strict=False):
                    target = re.sub(r"\{[^}]+\}", quote(hostile, safe=""), path)
                    answer = client.request(method, target, headers={**auth, **headers})
                    assert answer.status_code < 500, (method, target, headers, answer.text)
                    tried += 1
                body_schema = (
                    operation.get("requestBody", {})
                    .get("content", {})
                    .get("application/json", {})
                    .get("schema", {})
                )
                target = re.sub(r"\{[^}]+\}", "x", path)
                for body in _hostile_bodies(body_schema, components):
                    answer = client.request(
                        method,
                        target,
                        content=body,
                        headers={**auth, b"Content-Type": b"application/json"},
                    )
                    assert answer.status_code < 500, (method, target, body[:80], answer.text)
                    tried += 1
    assert tried > 100
