"""A fake OpenAI Chat Completions endpoint: ``POST /v1/chat/completions`` with streaming.

Streams ``chat.completion.chunk`` objects as ``data:`` lines: a role chunk, content
deltas, ``tool_calls`` deltas (the first carrying index, id, type and name, the rest only
index and argument text), a chunk with ``finish_reason``, a usage chunk with empty
``choices`` when ``stream_options.include_usage`` was asked for, then ``data: [DONE]``.
Errors use the ``{"error": {"message", "type", "param", "code"}}`` body. Authentication
is ``Authorization: Bearer KEY``. ``GET /v1/models`` lists the known models.

`CompatQuirks` turns on the habits of local OpenAI-compatible servers, for the
``openai-compat`` adapter: whole calls in one chunk, missing or constant indexes, missing
call ids, no usage chunk, and ``finish_reason: "stop"`` after tool calls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

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
    "CompatQuirks",
    "CutStream",
    "ErrorEvent",
    "FakeToolCall",
    "FakeTurn",
    "HttpFault",
    "OpenAIFakeServer",
    "StallStream",
]

_ERRORS = {
    400: ("invalid_request_error", "Invalid request.", None),
    401: ("invalid_request_error", "Incorrect API key provided.", "invalid_api_key"),
    404: ("invalid_request_error", "The model does not exist.", "model_not_found"),
    429: ("requests", "Rate limit reached for requests.", "rate_limit_exceeded"),
    500: ("server_error", "The server had an error while processing your request.", None),
    503: ("server_error", "The engine is currently overloaded.", None),
}


@dataclass(frozen=True)
class CompatQuirks:
    """Which local-server habits to imitate (all off: behave like the real API)."""

    whole_call_in_one_chunk: bool = False
    omit_index: bool = False
    index_always_zero: bool = False
    omit_ids: bool = False
    omit_usage: bool = False
    finish_stop_with_tools: bool = False


OLLAMA_LIKE = CompatQuirks(
    whole_call_in_one_chunk=True,
    index_always_zero=True,
    omit_usage=True,
    finish_stop_with_tools=True,
)


class OpenAIFakeServer(FakeModelServer):
    """Point ``AsyncOpenAI(base_url=server.base_url)`` (or OPENAI_BASE_URL) here."""

    stream_path = "/v1/chat/completions"

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        models: tuple[str, ...] = ("test-model",),
        quirks: CompatQuirks = CompatQuirks(),
    ) -> None:
        super().__init__(api_key=api_key, models=models)
        self.quirks = quirks

    @property
    def base_url(self) -> str:
        """The ``/v1`` base URL the SDK expects."""
        return f"{self.origin}/v1"

    def authorised(self, headers: Mapping[str, str]) -> bool:
        return headers.get("authorization") == f"Bearer {self.api_key}"

    def error_body(self, status: int, message: str | None, model: str) -> bytes:
        kind, default, code = _ERRORS.get(status, ("server_error", "Server error.", None))
        if status == 404 and message is None:
            message = f"The model `{model}` does not exist or you do not have access to it."
        error = {"message": message or default, "type": kind, "param": None, "code": code}
        return json.dumps({"error": error}).encode()

    def error_event(self, status: int) -> bytes:
        kind, message, code = _ERRORS.get(status, ("server_error", "Server error.", None))
        return sse({"error": {"message": message, "type": kind, "param": None, "code": code}})

    def handle_get(self, path: str) -> tuple[int, WireJson]:
        if path.rstrip("/") == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "errand"}
                for m in self.models
            ]
            return 200, {"object": "list", "data": data}
        return super().handle_get(path)

    def render(self, turn: FakeTurn, body: WireJson) -> list[bytes]:
        model = body["model"]
        q = self.quirks

        def chunk(delta: WireJson, finish: str | None = None) -> bytes:
            return sse(
                {
                    "id": "chatcmpl-fake01",
                    "object": "chat.completion.chunk",
                    "created": 1_700_000_000,
                    "model": model,
                    "system_fingerprint": "fp_fake",
                    "choices": [
                        {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                    ],
                }
            )

        events = [chunk({"role": "assistant", "content": "", "refusal": None})]
        events += [chunk({"content": piece}) for piece in split_evenly(turn.text, 3)]
        for position, call in enumerate(turn.tool_calls):
            events += [chunk({"tool_calls": [d]}) for d in self._call_deltas(position, call)]
        if turn.stop_reason is not None:
            finish = turn.stop_reason
        elif turn.tool_calls and not q.finish_stop_with_tools:
            finish = "tool_calls"
        else:
            finish = "stop"
        events.append(chunk({}, finish))
        include_usage = isinstance(body.get("stream_options"), dict) and body["stream_options"].get(
            "include_usage"
        )
        if include_usage and not q.omit_usage:
            events.append(
                sse(
                    {
                        "id": "chatcmpl-fake01",
                        "object": "chat.completion.chunk",
                        "created": 1_700_000_000,
                        "model": model,
                        "choices": [],
                        "usage": {
                            "prompt_tokens": turn.input_tokens,
                            "completion_tokens": turn.output_tokens,
                            "total_tokens": turn.input_tokens + turn.output_tokens,
                        },
                    }
                )
            )
        events.append(sse("[DONE]"))
        return events

    def _call_deltas(self, position: int, call: FakeToolCall) -> list[WireJson]:
        q = self.quirks
        head: dict[str, WireJson] = {}
        if not q.omit_index:
            head["index"] = 0 if q.index_always_zero else position
        call_id = call.id or f"call_fake{position + 1:02d}"
        first: dict[str, WireJson] = dict(head)
        if not q.omit_ids:
            first["id"] = call_id
        first["type"] = "function"
        if q.whole_call_in_one_chunk:
            first["function"] = {"name": call.name, "arguments": call.arguments_json}
            return [first]
        first["function"] = {"name": call.name, "arguments": ""}
        rest = [
            {**head, "function": {"arguments": p}} for p in split_evenly(call.arguments_json, 3)
        ]
        return [first, *rest]
