"""Pairing a phone over HTTP, its devices, forgetting it, and secrets kept out of logs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from server.gateway_harness import ADMIN_SECRET, LiveGateway, live_gateway, read_some, running_task


@pytest.fixture
async def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveGateway]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    async for running in live_gateway(tmp_path, start_runner=False):
        yield running


async def new_code(client: httpx.AsyncClient) -> str:
    answer = await client.post(
        "/api/v1/admin/pairing-codes", headers={"X-Errand-Admin": ADMIN_SECRET}
    )
    assert answer.status_code == 200, answer.text
    link: str = answer.json()["link"]
    return link.partition("#")[2]


async def pair(client: httpx.AsyncClient, name: str) -> tuple[int, dict[str, object]]:
    secret = await new_code(client)
    page = await client.get("/pair")  # opening the link has no side effect
    assert page.status_code in (200, 404)
    claim = await client.post("/api/v1/pair", json={"secret": secret, "device_name": name})
    assert claim.status_code == 202, claim.text
    body = claim.json()
    assert len(body["confirmation"]) == 6
    for _ in range(5):
        waited = await client.post(
            f"/api/v1/pair/{body['claim_id']}/wait", json={"claim_token": body["claim_token"]}
        )
        if waited.status_code != 202:
            return waited.status_code, waited.json()
    raise AssertionError("the pairing never finished")


async def test_a_phone_pairs_lists_devices_and_forgets_itself(live: LiveGateway) -> None:
    async with httpx.AsyncClient(base_url=live.url, trust_env=False, timeout=30) as anonymous:
        status, paired = await pair(anonymous, "Ana's phone")
    assert status == 200
    assert [p.device_name for p in live.host.asked] == ["Ana's phone"]
    token = str(paired["device_token"])
    assert token.startswith("errand_dev_")
    async with live.client(token) as phone:
        devices = (await phone.get("/api/v1/devices")).json()["devices"]
        assert [(d["name"], d["current"]) for d in devices] == [("Ana's phone", True)]
        task_id = await running_task(live, 0)
        streaming = asyncio.ensure_future(read_some(phone, task_id, None, None))
        await asyncio.sleep(0.3)
        forget = await phone.delete(f"/api/v1/devices/{devices[0]['id']}")
        assert forget.status_code == 204
        loop = asyncio.get_running_loop()
        forgotten_at = loop.time()
        _, ended = await asyncio.wait_for(streaming, 3)
        assert ended and loop.time() - forgotten_at < 1.0
        assert (await phone.get("/api/v1/tasks")).status_code == 401


async def test_a_refused_pairing_gives_no_token(live: LiveGateway) -> None:
    live.host.answer = False
    async with httpx.AsyncClient(base_url=live.url, trust_env=False, timeout=30) as anonymous:
        status, body = await pair(anonymous, "Someone")
    assert status == 403
    assert body == {
        "error": {
            "code": "pairing_refused",
            "message": "The computer did not approve this pairing.",
        }
    }


async def test_a_wrong_secret_is_refused_with_a_pairing_code(live: LiveGateway) -> None:
    async with httpx.AsyncClient(base_url=live.url, trust_env=False, timeout=30) as anonymous:
        await new_code(anonymous)
        answer = await anonymous.post(
            "/api/v1/pair", json={"secret": "v1.AAAAAAAAAAAAAAAAAAAAAA", "device_name": "x"}
        )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "pairing_invalid"


async def test_pairing_secrets_never_reach_a_log(
    live: LiveGateway, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    async with httpx.AsyncClient(base_url=live.url, trust_env=False, timeout=30) as anonymous:
        secret = await new_code(anonymous)
        claim = await anonymous.post(
            "/api/v1/pair", json={"secret": secret, "device_name": "Logged phone"}
        )
        body = claim.json()
        waited = await anonymous.post(
            f"/api/v1/pair/{body['claim_id']}/wait", json={"claim_token": body["claim_token"]}
        )
    token = waited.json()["device_token"]
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert "/api/v1/pair" in logged  # the access log was captured
    for value in (secret.removeprefix("v1."), body["claim_token"], token):
        assert value not in logged
