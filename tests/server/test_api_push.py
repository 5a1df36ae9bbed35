"""A phone turning notifications on and off over the API, and attacks on the push endpoint it
gives: a device must not be able to make the gateway send requests anywhere but a push
service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from errand.notify import Notifier, VapidKey, WebPushChannel
from errand.store import PushStore
from fakes.push_service import FakePushService, running
from server.gateway_harness import LiveGateway, live_gateway, pair_phone

GOOD_KEYS = {"p256dh": "B" + "A" * 86, "auth": "A" * 22}


@pytest.fixture
async def service() -> AsyncIterator[FakePushService]:
    async with running(FakePushService()) as started:
        yield started


@pytest.fixture
async def live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service: FakePushService
) -> AsyncIterator[LiveGateway]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    async for started in live_gateway(tmp_path, start_runner=False):
        key = VapidKey.load_or_create(tmp_path)
        notifier = Notifier(
            started.store,
            web_push=WebPushChannel(key, subject="mailto:owner@example.com"),
            push_services=frozenset({service.origin}),
        )
        started.gateway.notifier = notifier
        try:
            yield started
        finally:
            await notifier.aclose()


async def test_a_phone_subscribes_chooses_kinds_and_unsubscribes(
    live: LiveGateway, service: FakePushService
) -> None:
    token, device_id = await pair_phone(live, "Ana's phone")
    sub = service.subscribe("ana")
    async with live.client(token) as phone:
        state = (await phone.get("/api/v1/push")).json()
        assert state["available"] and not state["subscribed"]
        assert state["public_key"] == live.gateway.notifier.web_push.key.public_key  # type: ignore[union-attr]
        answer = await phone.put("/api/v1/push/subscription", json=sub.to_json())
        assert answer.status_code == 200, answer.text
        assert answer.json()["kinds"] == ["failed", "finished", "needs_you"]
        answer = await phone.put("/api/v1/push/kinds", json={"kinds": ["needs_you"]})
        assert answer.json()["kinds"] == ["needs_you"]
        stored = await PushStore(live.store).subscription_of(device_id)
        assert stored is not None and stored.kinds == {"needs_you"}
        bad = await phone.put("/api/v1/push/kinds", json={"kinds": ["everything"]})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_kinds"
        assert (await phone.put("/api/v1/push/presence", json={"visible": True})).status_code == 204
        assert live.gateway.notifier is not None
        assert live.gateway.notifier.presence.visible(device_id)
        assert (await phone.delete("/api/v1/push/subscription")).status_code == 204
        assert await PushStore(live.store).subscription_of(device_id) is None


async def test_forgetting_a_device_removes_its_subscription_at_once(
    live: LiveGateway, service: FakePushService
) -> None:
    token, device_id = await pair_phone(live, "Ana's phone")
    async with live.client(token) as phone:
        await phone.put("/api/v1/push/subscription", json=service.subscribe("ana").to_json())
        assert await PushStore(live.store).subscription_of(device_id) is not None
        assert (await phone.delete(f"/api/v1/devices/{device_id}")).status_code == 204
    assert await PushStore(live.store).subscription_of(device_id) is None


async def test_an_api_token_cannot_subscribe(live: LiveGateway, service: FakePushService) -> None:
    async with live.client() as script:
        answer = await script.put(
            "/api/v1/push/subscription", json=service.subscribe("x").to_json()
        )
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "device_only"


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://fcm.googleapis.com/fcm/send/abc",  # not https
        "https://fcm.googleapis.com:8443/fcm/send/abc",  # another port
        "https://127.0.0.1/push/abc",  # the computer itself
        "https://localhost/push",
        "https://169.254.169.254/latest/meta-data",  # cloud metadata
        "https://192.168.1.1/admin",
        "https://[::1]/push",
        "https://fcm.googleapis.com.evil.example/fcm/send/abc",  # suffix trick
        "https://evil.example/fcm.googleapis.com",
        "https://fcm.googleapis.com@evil.example/x",  # user info trick
        "https://user:pw@fcm.googleapis.com/fcm/send/abc",
        "https://evil.example#@fcm.googleapis.com/",
        "https://evil.example\\@fcm.googleapis.com/",
        "https://fcm.googleapis.com./fcm/send/abc",  # trailing dot
        "https://notify.windows.com/x",  # the bare suffix is no push service
        "https://fcm.googleapis.xn--com-9o0a/x",
        "https://fсm.googleapis.com/x",  # a Cyrillic letter
        "file:///etc/passwd",
        "ftp://fcm.googleapis.com/x",
        "https://fcm.googleapis.com/x\r\nHost: evil.example",
        "//fcm.googleapis.com/x",
        "https:///x",
        "https://" + "a" * 2000 + ".example/",
    ],
)
async def test_a_push_endpoint_off_the_push_services_is_refused(
    live: LiveGateway, endpoint: str
) -> None:
    token, device_id = await pair_phone(live, "Mallory's phone")
    async with live.client(token) as phone:
        answer = await phone.put(
            "/api/v1/push/subscription", json={"endpoint": endpoint, "keys": GOOD_KEYS}
        )
    assert answer.status_code in (400, 422), answer.text
    assert await PushStore(live.store).subscription_of(device_id) is None


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/abc:def",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAA",
        "https://web.push.apple.com/QGx",
        "https://wns2-par02p.notify.windows.com/w/?token=BQY",
    ],
)
async def test_the_push_services_browsers_use_are_accepted(
    live: LiveGateway, endpoint: str
) -> None:
    token, device_id = await pair_phone(live, "Ana's phone")
    async with live.client(token) as phone:
        answer = await phone.put(
            "/api/v1/push/subscription", json={"endpoint": endpoint, "keys": GOOD_KEYS}
        )
    assert answer.status_code == 200, answer.text
    stored = await PushStore(live.store).subscription_of(device_id)
    assert stored is not None and stored.endpoint == endpoint


async def test_keys_that_are_not_a_p256_key_and_a_secret_are_refused(
    live: LiveGateway, service: FakePushService
) -> None:
    token, _ = await pair_phone(live, "Ana's phone")
    endpoint = service.subscribe("ana").endpoint
    async with live.client(token) as phone:
        for keys in (
            {"p256dh": "AAAA", "auth": "A" * 22},
            {"p256dh": GOOD_KEYS["p256dh"], "auth": "!!"},
        ):
            answer = await phone.put(
                "/api/v1/push/subscription", json={"endpoint": endpoint, "keys": keys}
            )
            assert answer.status_code == 400
            assert answer.json()["error"]["code"] == "invalid_push_keys"
