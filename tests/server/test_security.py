"""What every request passes: Host and Origin checks, the body limit, security headers, and
no trust in loopback or forwarding headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from errand.access import create_token
from errand.server.exposure import ExposureError, plan, start_tailscale_serve
from server.gateway_harness import ADMIN_SECRET, LiveGateway, live_gateway

PUBLIC = "https://errand.example.net"


@pytest.fixture
async def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveGateway]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    async for running in live_gateway(tmp_path, lan_public_url=PUBLIC, start_runner=False):
        yield running


async def test_a_rebound_host_name_is_refused(live: LiveGateway) -> None:
    async with live.client() as client:
        rebound = await client.get("/api/v1/tasks", headers={"Host": "attacker.example"})
        assert rebound.status_code == 421
        assert rebound.json()["error"]["code"] == "misdirected_request"
        page = await client.get("/", headers={"Host": f"attacker.example:{live.server.port}"})
        assert page.status_code == 421
        assert (await client.get("/api/v1/tasks")).status_code == 200
        public = await client.get("/api/v1/tasks", headers={"Host": "errand.example.net"})
        assert public.status_code == 200


async def test_cross_site_origins_are_refused_on_writes_and_streams(live: LiveGateway) -> None:
    evil = {"Origin": "https://attacker.example"}
    async with live.client() as client:
        post = await client.post("/api/v1/tasks", json={"prompt": "x"}, headers=evil)
        assert post.status_code == 403
        assert post.json()["error"]["code"] == "origin_refused"
        stream = await client.get("/api/v1/events", headers=evil)
        assert stream.status_code == 403
        own = await client.get("/api/v1/folders", headers={"Origin": PUBLIC})
        assert own.status_code == 200
    assert await live.store.list_tasks() == []


async def test_forwarding_headers_from_loopback_grant_nothing(live: LiveGateway) -> None:
    forwarded = {"X-Forwarded-For": "127.0.0.1", "Forwarded": "for=127.0.0.1"}
    async with httpx.AsyncClient(base_url=live.url, trust_env=False, timeout=30) as anonymous:
        answer = await anonymous.get("/api/v1/tasks", headers=forwarded)
        assert answer.status_code == 401
        admin = {"X-Errand-Admin": ADMIN_SECRET}
        proxied = await anonymous.post(
            "/api/v1/admin/pairing-codes", headers={**admin, "X-Forwarded-For": "10.0.0.9"}
        )
        assert proxied.status_code == 403
        via_public_name = await anonymous.post(
            "/api/v1/admin/pairing-codes", headers={**admin, "Host": "errand.example.net"}
        )
        assert via_public_name.status_code == 403
        wrong_secret = await anonymous.post(
            "/api/v1/admin/pairing-codes", headers={"X-Errand-Admin": "guess"}
        )
        assert wrong_secret.status_code == 403
        local = await anonymous.post("/api/v1/admin/pairing-codes", headers=admin)
        assert local.status_code == 200
        assert local.json()["link"].startswith(f"{PUBLIC}/pair#v1.")


async def test_oversized_bodies_are_refused_without_being_read(live: LiveGateway) -> None:
    big = b'{"prompt": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    async with live.client() as client:
        declared = await client.post(
            "/api/v1/tasks", content=big, headers={"Content-Type": "application/json"}
        )
        assert declared.status_code == 413
        assert declared.json()["error"]["code"] == "body_too_large"

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(big), 64 * 1024):
                yield big[start : start + 64 * 1024]

        # Without a length the server answers as soon as the limit is passed and closes the
        # connection; the client may see the 413 or only the closed connection.
        try:
            streamed = await client.post(
                "/api/v1/tasks", content=chunks(), headers={"Content-Type": "application/json"}
            )
            assert streamed.status_code == 413
        except httpx.TransportError:
            pass
        assert (await client.get("/api/v1/health")).status_code == 200
    assert await live.store.list_tasks() == []


async def test_responses_carry_security_headers_and_the_app_a_strict_policy(
    live: LiveGateway,
) -> None:
    async with live.client() as client:
        api = await client.get("/api/v1/health")
        assert api.json()["status"] == "ok"
        page = await client.get("/")
        pairing_page = await client.get("/pair")
    for response in (api, page, pairing_page):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in api.headers["content-security-policy"]
    if page.status_code == 200:
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy
        assert "frame-src blob:" in policy
        assert pairing_page.text == page.text


async def test_errors_have_one_shape_with_stable_codes(live: LiveGateway) -> None:
    async with live.client() as client:
        invalid = await client.post("/api/v1/tasks", json={"prompt": 3, "extra": True})
        missing = await client.get("/api/v1/nothing-here")
        wrong_method = await client.put("/api/v1/tasks")
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "invalid_request"
    assert missing.json()["error"]["code"] == "not_found"
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    for answer in (invalid, missing, wrong_method):
        assert set(answer.json()["error"]) == {"code", "message"}


def test_exposures_answer_only_to_their_own_names() -> None:
    local = plan(host="127.0.0.1", port=8765)
    assert local.mode == "local" and not local.exposed
    assert local.base_url == "http://127.0.0.1:8765"
    assert local.allowed_hosts == {"127.0.0.1:8765", "localhost:8765"}
    public = plan(host="127.0.0.1", port=8765, public_url="https://errand.example.net/")
    assert public.exposed and public.base_url == "https://errand.example.net"
    assert "errand.example.net" in public.allowed_hosts
    assert "https://errand.example.net" in public.app_origins
    assert public.admin_hosts == local.allowed_hosts
    tailnet = plan(host="127.0.0.1", port=8765, tailscale_name="box.tail1.ts.net")
    assert tailnet.base_url == "https://box.tail1.ts.net"
    assert "box.tail1.ts.net" in tailnet.allowed_hosts
    with pytest.raises(ExposureError):
        plan(host="127.0.0.1", port=8765, public_url="ftp://example.net")
    with pytest.raises(ExposureError):
        plan(host="127.0.0.1", port=8765, public_url="https://example.net/errand")


def test_lan_mode_warns_that_traffic_is_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("errand.server.exposure.lan_address", lambda: "192.168.1.20")
    lan = plan(host="0.0.0.0", port=8765, lan=True)
    assert lan.base_url == "http://192.168.1.20:8765"
    assert "192.168.1.20:8765" in lan.allowed_hosts
    assert any("plain HTTP" in warning for warning in lan.warnings)


def test_tailscale_without_its_command_says_how_to_set_it_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("errand.server.exposure.shutil.which", lambda name: None)
    with pytest.raises(ExposureError, match="install Tailscale"):
        start_tailscale_serve(8765)


async def test_a_token_acts_only_within_its_permissions(live: LiveGateway) -> None:
    reader = await create_token(live.store, "read only", ["tasks:read"])
    async with live.client(reader.token) as client:
        assert (await client.get("/api/v1/tasks")).status_code == 200
        refused = await client.post("/api/v1/tasks", json={"prompt": "x"})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "insufficient_scope"
        assert (await client.get("/api/v1/devices")).status_code == 403
        assert (await client.get("/api/v1/approvals")).status_code == 403
    assert await live.store.list_tasks() == []
