"""A fake Anthropic Messages endpoint: ``POST /v1/messages`` with ``stream: true``.

Streams the event sequence the real API sends: ``message_start``, ``ping``, then per
content block ``content_block_start`` / ``content_block_delta`` (``text_delta`` or
``input_json_delta``) / ``content_block_stop``, then ``message_delta`` (stop reason and
cumulative usage) and ``message_stop``. Errors use the ``{"type": "error", "error":
{"type": ..., "message": ...}}`` body; 529 is ``overloaded_error``. Authentication is by
the ``x-api-key`` header or an ``Authorization: Bearer`` token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from fakes.sse_server import (
    CutStream,
    ErrorEvent,
    FakeModelServer,
    FakeToolCall,
    FakeTurn,
    HttpFault,
    StallStream,
    WireJson,
    split_evenly,
    sse,
)

__all__ = [
    "AnthropicFakeServer",
    "CutStream",
    "ErrorEvent",
    "FakeToolCall",
    "FakeTurn",
    "HttpFault",
    "StallStream",
]

_ERROR_TYPES = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "Not found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
    500: ("api_error", "Internal server error."),
    529: ("overloaded_error", "Overloaded"),
}


class AnthropicFakeServer(FakeModelServer):
    """Point ``AsyncAnthropic(base_url=server.origin)`` (or ANTHROPIC_BASE_URL) here."""

    stream_path = "/v1/messages"

    def authorised(self, headers: Mapping[str, str]) -> bool:
        # Older SDKs send the key as x-api-key, newer ones as a bearer token; accept both.
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        return self.api_key in (headers.get("x-api-key"), bearer)

    def error_body(self, status: int, message: str | None, model: str) -> bytes:
        kind, default = _ERROR_TYPES.get(status, ("api_error", "Internal server error."))
        if status == 404 and message is None:
            message = f"model: {model}"
        return json.dumps(
            {
                "type": "error",
                "error": {"type": kind, "message": message or default},
                "request_id": "req_fake",
            }
        ).encode()

    def error_event(self, status: int) -> bytes:
        kind, message = _ERROR_TYPES.get(status, ("api_error", "Internal server error."))
        return sse({"type": "error", "error": {"type": kind, "message": message}}, "error")

    def render(self, turn: FakeTurn, body: WireJson) -> list[bytes]:
        model = body["model"]
        events = [
            sse(
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_fake01",
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {
                            "input_tokens": turn.input_tokens,
                            "cache_creation_input_tokens": 0,
                            "cache_read_input_tokens": 0,
                            "output_tokens": 1,
                        },
                    },
                },
                "message_start",
            ),
            sse({"type": "ping"}, "ping"),
        ]
        index = 0
        if turn.text:
            events += _block(
                index,
                {"type": "text", "text": ""},
                [{"type": "text_delta", "text": piece} for piece in split_evenly(turn.text, 3)],
            )
            index += 1
        for number, call in enumerate(turn.tool_calls, start=1):
            events += _tool_block(index, call, number)
            index += 1
        stop = turn.stop_reason or ("tool_use" if turn.tool_calls else "end_turn")
        events.append(
            sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": turn.output_tokens},
                },
                "message_delta",
            )
        )
        events.append(sse({"type": "message_stop"}, "message_stop"))
        return events


def _block(index: int, start: WireJson, deltas: list[WireJson]) -> list[bytes]:
    events = [
        sse(
            {"type": "content_block_start", "index": index, "content_block": start},
            "content_block_start",
        )
    ]
    events += [
        sse({"type": "content_block_delta", "index": index, "delta": d}, "content_block_delta")
        for d in deltas
    ]
    events.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
    return events


def _tool_block(index: int, call: FakeToolCall, number: int) -> list[bytes]:
    start = {
        "type": "tool_use",
        "id": call.id or f"toolu_fake{number:02d}",
        "name": call.name,
        "input": {},
    }
    # The real API opens every tool input with an empty fragment.
    pieces = ["", *split_evenly(call.arguments_json, 3)]
    return _block(index, start, [{"type": "input_json_delta", "partial_json": p} for p in pieces])
