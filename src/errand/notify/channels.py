"""The two ways a notification leaves this computer: Web Push to a device, and ntfy.

Each ``send`` makes one HTTP request and returns what came back (``Sent``), never raising
for network trouble: the notifier decides what a status means (retry, prune, give up).
Redirects are never followed, so a push service cannot bounce the gateway elsewhere.

What a push carries is ``PushMessage``: the kind of news, the task's id and title, and the
notification's id (the app uses it as the notification's tag, so a push sent twice after
a crash still shows once). Nothing else: no output, no prompt, no token.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import httpx
from pywebpush import WebPusher  # type: ignore[import-untyped]

import errand
from errand.notify.vapid import VapidKey
from errand.store import SubscriptionRecord

TIMEOUT_SECONDS = 15.0
MAX_ERROR = 300
TTL_SECONDS = 12 * 3600
DEFAULT_SUBJECT = "mailto:errand@localhost"
"""Used only when neither ``[notify] contact`` nor an https address is known; push
services other than Apple's accept it (start-up warns about iPhones)."""

HEADINGS = {"needs_you": "Needs you", "finished": "Finished", "failed": "Failed"}


@dataclass(frozen=True, slots=True)
class PushMessage:
    """What a notification says, the same through every channel."""

    notification_id: str
    kind: str
    """``needs_you``, ``finished`` or ``failed``."""
    task_id: str | None
    title: str

    @property
    def heading(self) -> str:
        return HEADINGS.get(self.kind, "Errand")

    @property
    def path(self) -> str:
        """Where tapping it leads in the app."""
        return f"/#/tasks/{self.task_id}" if self.task_id else "/#/"

    def payload(self) -> bytes:
        body = {
            "v": 1,
            "id": self.notification_id,
            "kind": self.kind,
            "heading": self.heading,
            "title": self.title,
            "task_id": self.task_id,
            "url": self.path,
        }
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class Sent:
    """The receiver's status, or None and why no answer came."""

    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False)


class WebPushChannel:
    """Encrypts (RFC 8291, ``aes128gcm``) and signs (VAPID) one push per call."""

    def __init__(self, key: VapidKey, *, subject: str | None) -> None:
        self.key = key
        self.subject = subject or DEFAULT_SUBJECT
        self._http = _client()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, subscription: SubscriptionRecord, message: PushMessage) -> Sent:
        info = {
            "endpoint": subscription.endpoint,
            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
        }
        try:
            body = WebPusher(info).encode(message.payload(), "aes128gcm")["body"]
        except Exception as exc:  # the library raises bare errors for bad keys
            return Sent(None, f"could not encrypt for this device: {type(exc).__name__}")
        headers = {
            "authorization": self.key.authorization(subscription.endpoint, self.subject),
            "content-encoding": "aes128gcm",
            "content-type": "application/octet-stream",
            "ttl": str(TTL_SECONDS),
            "urgency": "high" if message.kind == "needs_you" else "normal",
            # A newer push about the same task replaces one the phone has not fetched yet.
            "topic": _topic(message),
            "user-agent": f"Errand/{errand.__version__}",
        }
        return await _post(self._http, subscription.endpoint, bytes(body), headers)


class NtfyChannel:
    """Publishes to an ntfy topic URL (``[notify] ntfy``) with a title and a click link."""

    def __init__(self, topic_url: str, *, base_url: str | None) -> None:
        self.topic_url = topic_url
        self._base_url = base_url.rstrip("/") if base_url else None
        self._http = _client()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, message: PushMessage) -> Sent:
        headers = {
            "title": _header_text(f"Errand: {message.heading}"),
            "priority": "high" if message.kind == "needs_you" else "default",
            "tags": {"needs_you": "bell", "finished": "white_check_mark", "failed": "x"}.get(
                message.kind, "bell"
            ),
            "user-agent": f"Errand/{errand.__version__}",
        }
        if self._base_url is not None:
            headers["click"] = self._base_url + message.path
        return await _post(self._http, self.topic_url, message.title.encode(), headers)


async def _post(http: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]) -> Sent:
    try:
        response = await http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return Sent(None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR])
    return Sent(response.status_code)


def _topic(message: PushMessage) -> str:
    """RFC 8030 topic: at most 32 URL-safe base64 characters."""
    seed = (message.task_id or message.notification_id).encode()
    return base64.urlsafe_b64encode(seed).rstrip(b"=").decode()[:32]


def _header_text(text: str) -> str:
    """ntfy reads headers as Latin-1; anything else is dropped rather than garbled."""
    return text.encode("latin-1", "ignore").decode("latin-1")
