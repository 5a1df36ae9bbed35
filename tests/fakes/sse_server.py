"""The shared machinery of the fake model servers: HTTP, recording, scripted replies, faults.

A `FakeModelServer` answers each POST with the next queued reply: a `FakeTurn` (streamed
in the dialect's SSE format), an `HttpFault` (an error status with the dialect's JSON error
body), an `ErrorEvent` (the turn's first events, then the dialect's in-stream error
event), a `CutStream` (the turn's first events, then the socket is closed without ending the
chunked body, as when a connection drops) or a `StallStream` (the first events, then
nothing until the client goes away; `disconnected` is set when it does). Every request is
recorded. A wrong API key gets 401 and an unknown model 404 whatever is queued, as the
real APIs behave.

Subclasses supply only the dialect: how a turn becomes SSE events and what errors look like.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

# Recorded bodies are the raw wire JSON the SDK sent; tests index into them freely.
WireJson = Any

_STALL_LIMIT_SECONDS = 10.0
_MAX_BODY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class FakeToolCall:
    """A tool call the fake model makes; `arguments_json` is sent verbatim (may be malformed)."""

    name: str
    arguments_json: str
    id: str | None = None


@dataclass(frozen=True)
class FakeTurn:
    """One scripted answer: text and/or tool calls, with the usage figures to report."""

    text: str = ""
    tool_calls: tuple[FakeToolCall, ...] = ()
    input_tokens: int = 21
    output_tokens: int = 9
    stop_reason: str | None = None


@dataclass(frozen=True)
class HttpFault:
    """Answer with an HTTP error in the dialect's JSON shape."""

    status: int
    retry_after: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class CutStream:
    """Send the turn's first `after_events` SSE events, then drop the connection."""

    turn: FakeTurn
    after_events: int


@dataclass(frozen=True)
class StallStream:
    """Send the turn's first `after_events` SSE events, then wait for the client to leave."""

    turn: FakeTurn
    after_events: int


@dataclass(frozen=True)
class ErrorEvent:
    """Send the turn's first `after_events` SSE events, then an in-stream error event."""

    turn: FakeTurn
    after_events: int
    status: int = 529


Reply = FakeTurn | HttpFault | CutStream | StallStream | ErrorEvent


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: WireJson


@dataclass
class _State:
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeModelServer:
    """Base of the dialect servers; use as a context manager (starts and stops the thread)."""

    #: The path the dialect's SDK posts to.
    stream_path = "/"

    def __init__(self, *, api_key: str = "test-key", models: Sequence[str] = ("test-model",)):
        self.api_key = api_key
        self.models = tuple(models)
        self.disconnected = threading.Event()
        self._state = _State()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll interval so that stopping the server (every test) is quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- what tests use -------------------------------------------------------------------

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def enqueue(self, *replies: Reply) -> None:
        """Queue replies, answered in order, one per POST."""
        with self._state.lock:
            self._state.replies.extend(replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, in order."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def posts(self) -> list[WireJson]:
        """The JSON bodies of every POST received so far."""
        return [r.body for r in self.requests if r.method == "POST"]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- what dialects supply -------------------------------------------------------------

    def authorised(self, headers: Mapping[str, str]) -> bool:
        """Whether the request carries the right key."""
        raise NotImplementedError

    def error_body(self, status: int, message: str | None, model: str) -> bytes:
        """The dialect's JSON error body for `status`."""
        raise NotImplementedError

    def render(self, turn: FakeTurn, body: WireJson) -> list[bytes]:
        """The complete SSE events (each ending in a blank line) that stream `turn`."""
        raise NotImplementedError

    def error_event(self, status: int) -> bytes:
        """The dialect's in-stream error event, sent on a 200 response."""
        raise NotImplementedError

    def handle_get(self, path: str) -> tuple[int, WireJson]:
        """Answer a GET (e.g. a model list); 404 by default."""
        return 404, {"error": {"message": f"no route {path}"}}

    # -- internals ------------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> Reply | None:
        with self._state.lock:
            self._state.requests.append(request)
            return self._state.replies.popleft() if self._state.replies else None

    def _stall(self, connection: socket.socket) -> None:
        waited = 0.0
        while waited < _STALL_LIMIT_SECONDS and not self._closing.is_set():
            readable, _, _ = select.select([connection], [], [], 0.05)
            waited += 0.05
            if readable:
                try:
                    data = connection.recv(1024)
                except OSError:
                    data = b""
                if not data:
                    self.disconnected.set()
                    return


def _handler_for(fake: FakeModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Silence per-request logging; tests read `fake.requests` instead."""

        def do_GET(self) -> None:
            fake._record(RecordedRequest("GET", self.path, dict(self.headers.items()), None))
            status, payload = fake.handle_get(self.path)
            self._send_json(status, json.dumps(payload).encode())

        def do_POST(self) -> None:
            length = min(int(self.headers.get("content-length") or 0), _MAX_BODY_BYTES)
            raw = self.rfile.read(length)
            try:
                body: WireJson = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                body = None
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = fake._record(RecordedRequest("POST", self.path, headers, body))
            model = str(body.get("model", "")) if isinstance(body, dict) else ""
            if not fake.authorised(headers):
                self._send_json(401, fake.error_body(401, None, model))
            elif model not in fake.models:
                self._send_json(404, fake.error_body(404, None, model))
            elif reply is None:
                self._send_json(400, fake.error_body(400, "the fake has no reply queued", model))
            elif isinstance(reply, HttpFault):
                extra = {"retry-after": reply.retry_after} if reply.retry_after else {}
                self._send_json(
                    reply.status, fake.error_body(reply.status, reply.message, model), extra
                )
            elif isinstance(reply, FakeTurn):
                self._stream(fake.render(reply, body))
            elif isinstance(reply, ErrorEvent):
                events = fake.render(reply.turn, body)[: reply.after_events]
                self._stream([*events, fake.error_event(reply.status)])
            elif isinstance(reply, CutStream):
                self._stream(fake.render(reply.turn, body)[: reply.after_events], finish=False)
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
            else:
                self._stream(fake.render(reply.turn, body)[: reply.after_events], finish=False)
                fake._stall(self.connection)
                self.close_connection = True

        def _send_json(self, status: int, payload: bytes, extra: Mapping[str, str] = {}) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.send_header("request-id", "req_fake")
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _stream(self, events: list[bytes], *, finish: bool = True) -> None:
            # Chunked like the real APIs, so a dropped connection is a truncated body.
            self.send_response(200)
            self.send_header("content-type", "text/event-stream; charset=utf-8")
            self.send_header("cache-control", "no-cache")
            self.send_header("transfer-encoding", "chunked")
            self.send_header("request-id", "req_fake")
            self.end_headers()
            for event in events:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            if finish:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

    return Handler


def sse(data: WireJson, event: str | None = None) -> bytes:
    """One SSE event: an optional ``event:`` line, a ``data:`` line, a blank line."""
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"{head}data: {payload}\n\n".encode()


def split_evenly(text: str, pieces: int) -> list[str]:
    """Cut `text` into up to `pieces` non-empty consecutive slices."""
    if not text:
        return []
    size = max(1, -(-len(text) // pieces))
    return [text[i : i + size] for i in range(0, len(text), size)]
