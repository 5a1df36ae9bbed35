"""The Anthropic Messages dialect, spoken through the official ``anthropic`` SDK.

Conversion rules (canonical → wire):
- ``system`` messages inside the conversation are appended to the system prompt, in order,
  because this dialect takes one system prompt per request.
- A ``tool`` message becomes a user message of ``tool_result`` blocks; consecutive messages
  that land on the same wire role are merged, as the API wants roles to alternate.
- A tool call whose arguments are malformed JSON is sent back with ``input: {}``; the
  paired tool result (an error) is what tells the model what went wrong.

On the way back, ``text_delta`` events become `TextDelta`, ``tool_use`` blocks become
`ToolCallStarted` / `ToolCallDelta` and finally a `ToolCall` whose `arguments_json` is the
concatenated ``input_json_delta`` text, exactly as streamed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import assert_never

import anthropic
import httpx2
from anthropic.types import (
    MessageParam,
    RawMessageStreamEvent,
    TextBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
)

from errand.models.endpoints import Endpoint
from errand.models.errors import (
    ModelAuthError,
    ModelError,
    ModelOverloaded,
    ModelProtocolError,
    ModelUnavailable,
    error_for_status,
)
from errand.models.retry import RetryPolicy, retry_after_seconds, stream_with_retries
from errand.models.types import (
    Completed,
    MalformedToolArguments,
    Message,
    ModelRequest,
    Part,
    StopReason,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolCallStarted,
    ToolResult,
    ToolSpec,
    Usage,
)

_WireBlock = TextBlockParam | ToolUseBlockParam | ToolResultBlockParam

_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "stop_sequence": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "model_context_window_exceeded": "max_tokens",
    "refusal": "refusal",
}

# In-stream ``event: error`` arrives on an HTTP 200 response; its error type says what it is.
_STATUS_FOR_ERROR_TYPE = {
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "overloaded_error": 529,
    "api_error": 500,
}


def to_anthropic_messages(request: ModelRequest) -> tuple[str, list[MessageParam]]:
    """Return the system prompt and the wire messages for `request`."""
    system_texts = [request.system] if request.system else []
    wire: list[tuple[str, list[_WireBlock]]] = []
    for message in request.messages:
        if message.role == "system":
            system_texts.append(message.text)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = [_to_block(part) for part in message.parts]
        blocks = [b for b in blocks if not (b["type"] == "text" and not b.get("text"))]
        if not blocks:
            continue
        if wire and wire[-1][0] == role:
            wire[-1][1].extend(blocks)
        else:
            wire.append((role, blocks))
    params: list[MessageParam] = []
    for role, blocks in wire:
        if role == "assistant":
            params.append({"role": "assistant", "content": blocks})
        else:
            params.append({"role": "user", "content": blocks})
    return "\n\n".join(system_texts), params


def to_anthropic_tools(tools: tuple[ToolSpec, ...]) -> list[ToolParam]:
    """The wire form of the tools the model may call."""
    return [
        {"name": t.name, "description": t.description, "input_schema": dict(t.input_schema)}
        for t in tools
    ]


def _to_block(part: Part) -> _WireBlock:
    match part:
        case TextPart(text=text):
            return {"type": "text", "text": text}
        case ToolCall(id=call_id, name=name):
            arguments: dict[str, object]
            try:
                arguments = dict(part.arguments())
            except MalformedToolArguments:
                arguments = {}
            return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}
        case ToolResult(call_id=call_id, content=content, is_error=is_error):
            return {
                "type": "tool_result",
                "tool_use_id": call_id,
                "content": content,
                "is_error": is_error,
            }
        case _:
            assert_never(part)


@dataclass
class _ToolBlock:
    id: str
    name: str
    initial_input: str
    fragments: list[str] = field(default_factory=list)

    def to_call(self) -> ToolCall:
        text = "".join(self.fragments) if self.fragments else self.initial_input
        return ToolCall(id=self.id, name=self.name, arguments_json=text)


class _Accumulator:
    """Builds the final assistant message from raw stream events, block by block."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.blocks: dict[int, list[str] | _ToolBlock] = {}
        self.stop_reason: StopReason = "other"
        self.input_tokens = 0
        self.output_tokens = 0
        self.started = False
        self.finished = False

    def feed(self, event: RawMessageStreamEvent) -> list[StreamEvent]:
        match event.type:
            case "message_start":
                self.started = True
                usage = event.message.usage
                self.input_tokens = (
                    usage.input_tokens
                    + (usage.cache_creation_input_tokens or 0)
                    + (usage.cache_read_input_tokens or 0)
                )
                self.output_tokens = usage.output_tokens
            case "content_block_start":
                block = event.content_block
                if block.type == "text":
                    self.blocks[event.index] = [block.text] if block.text else []
                    return [TextDelta(block.text)] if block.text else []
                if block.type == "tool_use":
                    initial = json.dumps(block.input) if block.input else ""
                    self.blocks[event.index] = _ToolBlock(block.id, block.name, initial)
                    return [ToolCallStarted(id=block.id, name=block.name)]
            case "content_block_delta":
                target = self.blocks.get(event.index)
                delta = event.delta
                if delta.type == "text_delta" and isinstance(target, list):
                    target.append(delta.text)
                    return [TextDelta(delta.text)] if delta.text else []
                if delta.type == "input_json_delta" and isinstance(target, _ToolBlock):
                    target.fragments.append(delta.partial_json)
                    if delta.partial_json:
                        return [ToolCallDelta(id=target.id, arguments_fragment=delta.partial_json)]
            case "message_delta":
                if event.delta.stop_reason is not None:
                    self.stop_reason = _STOP_REASONS.get(event.delta.stop_reason, "other")
                self.output_tokens = event.usage.output_tokens
                if event.usage.input_tokens is not None:
                    self.input_tokens = max(self.input_tokens, event.usage.input_tokens)
            case "message_stop":
                self.finished = True
            case _:
                pass
        return []

    def completed(self) -> Completed:
        if not (self.started and self.finished):
            raise ModelUnavailable(
                f"The stream from {self.provider} ended before the response was complete.",
                provider=self.provider,
            )
        parts: list[Part] = []
        for index in sorted(self.blocks):
            block = self.blocks[index]
            if isinstance(block, _ToolBlock):
                parts.append(block.to_call())
            elif text := "".join(block):
                parts.append(TextPart(text))
        return Completed(
            message=Message(role="assistant", parts=tuple(parts)),
            stop_reason=self.stop_reason,
            usage=Usage(input_tokens=self.input_tokens, output_tokens=self.output_tokens),
        )


class AnthropicMessagesAdapter:
    """A `ModelAdapter` for one model behind an Anthropic Messages endpoint.

    Each call makes its own SDK client and closes it when the stream ends, so an adapter
    holds no sockets between turns (a turn takes seconds; a new connection, milliseconds).
    """

    def __init__(self, model: str, endpoint: Endpoint, policy: RetryPolicy | None = None) -> None:
        self.model = model
        self.endpoint = endpoint
        self.policy = policy or RetryPolicy()

    def stream(self, request: ModelRequest) -> AsyncGenerator[StreamEvent, None]:
        """Stream the assistant's reply; see `errand.models.ModelAdapter`."""
        return stream_with_retries(lambda: self._attempt(request), self.policy)

    async def _attempt(self, request: ModelRequest) -> AsyncGenerator[StreamEvent, None]:
        provider = self.endpoint.label
        if self.endpoint.api_key is None:
            raise ModelAuthError(
                f"{provider} needs an API key; set {self.endpoint.key_hint}.", provider=provider
            )
        system, messages = to_anthropic_messages(request)
        client = anthropic.AsyncAnthropic(
            api_key=self.endpoint.api_key,
            base_url=self.endpoint.base_url,
            max_retries=0,
            timeout=self.policy.timeout,
        )
        accumulator = _Accumulator(provider)
        try:
            async with client:
                stream = await client.messages.create(
                    model=self.model,
                    max_tokens=request.max_tokens,
                    messages=messages,
                    system=system or anthropic.omit,
                    tools=to_anthropic_tools(request.tools) or anthropic.omit,
                    extra_body=(
                        None
                        if request.temperature is None
                        else {"temperature": request.temperature}
                    ),
                    stream=True,
                )
                async with stream:
                    async for raw in stream:
                        for event in accumulator.feed(raw):
                            yield event
        except anthropic.APIStatusError as exc:
            raise self._status_error(exc) from exc
        except (anthropic.APIConnectionError, httpx2.TransportError) as exc:
            raise ModelUnavailable(
                f"Could not reach {provider} at {self.endpoint.base_url} ({type(exc).__name__}).",
                provider=provider,
            ) from exc
        except (ValueError, anthropic.APIResponseValidationError) as exc:
            raise ModelProtocolError(
                f"{provider} sent a response Errand could not read ({exc}).", provider=provider
            ) from exc
        yield accumulator.completed()

    def _status_error(self, exc: anthropic.APIStatusError) -> ModelError:
        status = exc.status_code
        if status < 400:
            status = _STATUS_FOR_ERROR_TYPE.get(exc.type or "", 500)
        error = error_for_status(
            self.endpoint.label,
            status,
            exc.api_message,
            model=self.model,
            key_hint=self.endpoint.key_hint,
            retry_after=retry_after_seconds(exc.response.headers),
        )
        if exc.type == "overloaded_error" and not isinstance(error, ModelOverloaded):
            return ModelOverloaded(error.message, provider=error.provider)
        return error
