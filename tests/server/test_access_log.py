"""Secrets that a client puts in a URL never reach the access log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from errand.server.access_log import REDACTED, redact_target
from server.gateway_harness import LiveGateway, live_gateway

SECRET = "s3cr3t-VALUE-0123456789abcdef"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def access_lines() -> Iterator[_Lines]:
    handler = _Lines()
    logger = logging.getLogger("uvicorn.access")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@pytest.fixture
async def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveGateway]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    async for running in live_gateway(tmp_path, start_runner=False, access_log=True):
        yield running


async def test_misused_urls_leave_no_secret_in_the_access_log(
    live: LiveGateway, access_lines: _Lines
) -> None:
    async with httpx.AsyncClient(base_url=live.url, trust_env=False, timeout=30) as anonymous:
        refused = await anonymous.get(f"/api/v1/tasks?token={SECRET}")
        assert refused.status_code == 401
        await anonymous.get(f"/pair?v1.{SECRET}")
        await anonymous.post(f"/api/v1/admin/pairing-codes?admin_secret={SECRET}")
        await anonymous.get(f"/api/v1/tasks?access_token={SECRET}&limit=5")
    async with live.client() as owner:
        listed = await owner.get("/api/v1/tasks?limit=5")
        assert listed.status_code == 200
        leaked = await owner.get(f"/api/v1/tasks?api_key={SECRET}")
        assert leaked.status_code in (200, 422)
    logged = "\n".join(access_lines.lines)
    assert len(access_lines.lines) >= 6, logged
    assert SECRET not in logged
    assert f"/api/v1/tasks?{REDACTED}" in logged
    assert f"/pair?{REDACTED}" in logged
    assert "/api/v1/tasks?limit=5" in logged  # a harmless query stays readable


@pytest.mark.parametrize(
    ("target", "status", "logged"),
    [
        ("/api/v1/tasks?limit=20", 200, "/api/v1/tasks?limit=20"),
        ("/api/v1/tasks?limit=20", 401, f"/api/v1/tasks?{REDACTED}"),
        ("/api/v1/tasks?Token=x", 200, f"/api/v1/tasks?{REDACTED}"),
        ("/api/v1/tasks?limit=1&sig=x", 200, f"/api/v1/tasks?{REDACTED}"),
        ("/pair?v1.abc", 200, f"/pair?{REDACTED}"),
        ("/api/v1/admin/pairing-codes?x=1", 403, f"/api/v1/admin/pairing-codes?{REDACTED}"),
        ("/api/v1/tasks", 200, "/api/v1/tasks"),
        ("/?justasecret", 200, f"/?{REDACTED}"),
    ],
)
def test_which_targets_are_redacted(target: str, status: int, logged: str) -> None:
    assert redact_target(target, status) == logged
