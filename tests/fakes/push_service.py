"""A Web Push service on loopback that checks what it gets the way a real one does, and
reads it the way the phone does.

Each :class:`FakeSubscription` is a browser's subscription: a real P-256 key pair and a
16-byte auth secret, with an endpoint on this service. For every POST the service

* checks the VAPID ``Authorization: vapid t=<JWT>, k=<key>`` header (RFC 8292): the JWT is
  ES256-signed by ``k``, its ``aud`` is this service's origin, ``exp`` is in the next 24 h,
  ``sub`` is a ``mailto:`` or ``https:`` contact;
* decrypts the ``aes128gcm`` body (RFC 8188 / RFC 8291) with the subscription's private key
  and auth secret, written here from the RFCs with ``cryptography`` primitives (not with the
  library the gateway encrypts with, so a shared bug cannot hide);
* answers the status lined up for that subscription (201 by default; 404 or 410 say the
  subscription is gone).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class FakeSubscription:
    """A browser's push subscription, with the private half only the browser has."""

    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def p256dh(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(raw)

    @property
    def auth_b64(self) -> str:
        return b64url(self.auth)

    def to_json(self) -> dict[str, object]:
        """What ``PushSubscription.toJSON()`` gives the app."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth_b64}}


@dataclass
class Push:
    """One POST the service accepted or refused, and what it read from it."""

    subscription_id: str
    headers: dict[str, str]
    vapid_key: str | None
    claims: dict[str, object] | None
    payload: dict[str, object] | None
    problem: str | None
    status: int


@dataclass
class FakePushService:
    port: int = 0
    statuses: dict[str, list[int]] = field(default_factory=dict)
    """Statuses to answer per subscription id, in turn (then 201)."""
    pushes: list[Push] = field(default_factory=list)
    subscriptions: dict[str, FakeSubscription] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    hold: asyncio.Event | None = None
    """While set to an unset event, pushes are read and recorded but not answered."""

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def subscribe(self, name: str) -> FakeSubscription:
        sub = FakeSubscription(
            id=name,
            endpoint=f"{self.origin}/push/{name}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth=os.urandom(16),
        )
        self.subscriptions[name] = sub
        return sub

    def good(self) -> list[Push]:
        """Pushes that passed every check."""
        return [p for p in self.pushes if p.problem is None]

    async def wait_for(self, count: int, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.pushes) < count:
                self.arrived.clear()
                await self.arrived.wait()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            method, path, _ = request_line.split(" ", 2)
            sub_id = path.removeprefix("/push/")
            push = self._read(method, sub_id, headers, body)
            self.pushes.append(push)
            self.arrived.set()
            if self.hold is not None:
                await self.hold.wait()
            answer = f"HTTP/1.1 {push.status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            writer.write(answer.encode())
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _read(self, method: str, sub_id: str, headers: dict[str, str], body: bytes) -> Push:
        sub = self.subscriptions.get(sub_id)
        push = Push(sub_id, headers, None, None, None, None, 404)
        if method != "POST" or sub is None:
            push.problem = "no such subscription"
            return push
        queued = self.statuses.get(sub_id)
        status = queued.pop(0) if queued else 201
        try:
            push.vapid_key, push.claims = self._check_vapid(headers.get("authorization", ""))
            if headers.get("content-encoding") != "aes128gcm":
                raise ValueError("content-encoding is not aes128gcm")
            if not headers.get("ttl", "").isdigit():
                raise ValueError("no TTL header")
            push.payload = json.loads(decrypt(body, sub.private_key, sub.auth))
        except (ValueError, InvalidSignature, KeyError) as exc:
            push.problem = f"{type(exc).__name__}: {exc}"
            push.status = 401 if "vapid" in str(exc).lower() else 400
            return push
        push.status = status
        return push

    def _check_vapid(self, header: str) -> tuple[str, dict[str, object]]:
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError("vapid: no vapid authorization")
        parts = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
        token, key = parts["t"], parts["k"]
        signing_input, _, signature = token.rpartition(".")
        head_b64, _, claims_b64 = signing_input.partition(".")
        if json.loads(unb64url(head_b64)).get("alg") != "ES256":
            raise ValueError("vapid: the JWT is not ES256")
        raw = unb64url(signature)
        if len(raw) != 64:
            raise ValueError("vapid: the signature is not 64 bytes")
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
        public.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        claims = json.loads(unb64url(claims_b64))
        if claims.get("aud") != self.origin:
            raise ValueError(f"vapid: aud {claims.get('aud')!r} is not {self.origin}")
        expires = claims.get("exp")
        if not isinstance(expires, int) or not time.time() < expires <= time.time() + 86400:
            raise ValueError("vapid: exp is not within the next 24 hours")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub.startswith(("mailto:", "https:")):
            raise ValueError("vapid: sub is not a mailto: or https: contact")
        return key, claims


def decrypt(body: bytes, private_key: ec.EllipticCurvePrivateKey, auth: bytes) -> bytes:
    """RFC 8291 message decryption of one ``aes128gcm`` record (RFC 8188)."""
    salt, (record_size,), key_length = body[:16], struct.unpack(">I", body[16:20]), body[20]
    sender_raw = body[21 : 21 + key_length]
    ciphertext = body[21 + key_length :]
    if key_length != 65 or len(ciphertext) > record_size:
        raise ValueError("not one aes128gcm record with the sender's key as key id")
    sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_raw)
    shared = private_key.exchange(ec.ECDH(), sender)
    receiver_raw = private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    key_info = b"WebPush: info\x00" + receiver_raw + sender_raw
    ikm = HKDF(hashes.SHA256(), 32, salt=auth, info=key_info).derive(shared)
    cek = HKDF(hashes.SHA256(), 16, salt=salt, info=b"Content-Encoding: aes128gcm\x00").derive(ikm)
    nonce = HKDF(hashes.SHA256(), 12, salt=salt, info=b"Content-Encoding: nonce\x00").derive(ikm)
    padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
    content = padded.rstrip(b"\x00")
    if not content.endswith(b"\x02"):
        raise ValueError("the last record's delimiter is missing")
    return content[:-1]


@contextlib.asynccontextmanager
async def running(service: FakePushService) -> AsyncIterator[FakePushService]:
    server = await asyncio.start_server(service._handle, "127.0.0.1", 0)
    service.port = server.sockets[0].getsockname()[1]
    try:
        yield service
    finally:
        server.close()
        await server.wait_closed()
