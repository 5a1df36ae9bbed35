"""The OpenAI Chat Completions dialect, spoken through the official ``openai`` SDK.

One adapter serves OpenAI and every OpenAI-compatible server; what differs between them is
the endpoint and a `ChatQuirks` value declaring what the server is known to get wrong.

Conversion rules (canonical → wire): the system prompt and ``system`` messages become
``role="system"`` messages; a ``tool`` message becomes one ``role="tool"`` message per
result (this dialect has no error flag, so an error result's content is prefixed with
``"Error: "``); tool call arguments go back verbatim, as the dialect carries them as text.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Literal, assert_never

import openai
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionChunk,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
)
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from errand.models.endpoints import Endpoint
from errand.models.errors import (
    ModelAuthError,
    ModelError,
    ModelProtocolError,
    ModelUnavailable,
    error_for_status,
)
from errand.models.retry import RetryPolicy, retry_after_seconds, stream_with_retries
from errand.models.types import (
    Completed,
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
    ToolSpec,
    Usage,
)

_FINISH_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}


@dataclass(frozen=True)
class ChatQuirks:
    """What an endpoint speaking this dialect is known to do differently.

    - `unreliable_tool_call_index`: tool-call deltas may lack ``index``, or carry 0 for
      every call; a new call is then recognised by a new id or a second function name
      (distinct indexes, when a server does send them, are still honoured).
    - `may_omit_call_ids`: calls may come without an id; Errand makes one up.
    - `max_tokens_field`: the request field that bounds the reply's length.
    """

    unreliable_tool_call_index: bool = False
    may_omit_call_ids: bool = False
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_completion_tokens"


OPENAI_QUIRKS = ChatQuirks(unreliable_tool_call_index=True, may_omit_call_ids=True)
"""The ``openai`` provider's flags. ``OPENAI_BASE_URL`` often points at a router or proxy
(OpenRouter, LiteLLM, vLLM) that streams calls the way local servers do, so the dialect reads
calls without ids and whole calls in one chunk; what OpenAI itself sends reads the same."""
LOCAL_SERVER_QUIRKS = ChatQuirks(
    unreliable_tool_call_index=True, may_omit_call_ids=True, max_tokens_field="max_tokens"
)


def to_openai_messages(request: ModelRequest) -> list[ChatCompletionMessageParam]:
    """The wire messages for `request`, system prompt first."""
    wire: list[ChatCompletionMessageParam] = []
    if request.system:
        wire.append({"role": "system", "content": request.system})
    for message in request.messages:
        match message.role:
            case "system":
                wire.append({"role": "system", "content": message.text})
            case "user":
                wire.append({"role": "user", "content": message.text})
            case "assistant":
                wire.append(_assistant_param(message))
            case "tool":
                for result in message.tool_results:
                    content = f"Error: {result.content}" if result.is_error else result.content
                    wire.append(
                        {"role": "tool", "tool_call_id": result.call_id, "content": content}
                    )
            case _:
                assert_never(message.role)
    return wire


def _assistant_param(message: Message) -> ChatCompletionAssistantMessageParam:
    param: ChatCompletionAssistantMessageParam = {"role": "assistant", "content": message.text}
    calls: list[ChatCompletionMessageFunctionToolCallParam] = [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_json},
        }
        for call in message.tool_calls
    ]
    if calls:
        param["tool_calls"] = calls
        if not message.text:
            param["content"] = None
    return param


def to_openai_tools(tools: tuple[ToolSpec, ...]) -> list[ChatCompletionFunctionToolParam]:
    """The wire form of the tools the model may call."""
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": dict(t.input_schema),
            },
        }
        for t in tools
    ]


@dataclass
class _PendingCall:
    id: str
    name: str
    index: int | None
    fragments: list[str] = field(default_factory=list)


class _Accumulator:
    """Builds the final assistant message from chunks, tolerating declared quirks."""

    def __init__(self, provider: str, quirks: ChatQuirks) -> None:
        self.provider = provider
        self.quirks = quirks
        self.text: list[str] = []
        self.calls: list[_PendingCall] = []
        self.finish_reason: str | None = None
        self.usage: Usage = Usage(reported=False)

    def feed(self, chunk: ChatCompletionChunk) -> list[StreamEvent]:
        if chunk.usage is not None:
            self.usage = Usage(
                input_tokens=chunk.usage.prompt_tokens,
                output_tokens=chunk.usage.completion_tokens,
            )
        events: list[StreamEvent] = []
        for choice in chunk.choices[:1]:
            if choice.delta.content:
                self.text.append(choice.delta.content)
                events.append(TextDelta(choice.delta.content))
            for delta in choice.delta.tool_calls or ():
                events.extend(self._feed_call(delta))
            if choice.finish_reason is not None:
                self.finish_reason = choice.finish_reason
        return events

    def _feed_call(self, delta: ChoiceDeltaToolCall) -> list[StreamEvent]:
        # `index` is required by the dialect, but the SDK builds chunks without
        # validation, so a server that omits it yields an object without the attribute.
        index = delta.index if "index" in delta.model_fields_set else None
        name = delta.function.name if delta.function else None
        fragment = (delta.function.arguments if delta.function else None) or ""
        call = self._find_call(index, delta.id, name)
        events: list[StreamEvent] = []
        if call is None:
            if index is None and not self.quirks.unreliable_tool_call_index:
                raise ModelProtocolError(
                    f"{self.provider} sent a tool call without an index.", provider=self.provider
                )
            call_id = delta.id
            if not call_id:
                if not self.quirks.may_omit_call_ids:
                    raise ModelProtocolError(
                        f"{self.provider} sent a tool call without an id.", provider=self.provider
                    )
                call_id = f"call_{uuid.uuid4().hex[:24]}"
            call = _PendingCall(id=call_id, name=name or "", index=index)
            self.calls.append(call)
            events.append(ToolCallStarted(id=call.id, name=call.name))
        elif name and not call.name:
            call.name = name
        if fragment:
            call.fragments.append(fragment)
            events.append(ToolCallDelta(id=call.id, arguments_fragment=fragment))
        return events

    def _find_call(
        self, index: int | None, call_id: str | None, name: str | None
    ) -> _PendingCall | None:
        """The call a delta continues, or None when it starts a new one."""
        if not self.quirks.unreliable_tool_call_index:
            return next((c for c in self.calls if c.index == index), None)
        if not self.calls:
            return None
        current = self.calls[-1]
        if index is not None and current.index is not None and index != current.index:
            return next((c for c in self.calls if c.index == index), None)
        if call_id and call_id != current.id:
            return None
        if name and current.name and not call_id:
            return None
        return current

    def completed(self) -> Completed:
        if self.finish_reason is None:
            raise ModelUnavailable(
                f"The stream from {self.provider} ended before the response was complete.",
                provider=self.provider,
            )
        parts: list[Part] = []
        if text := "".join(self.text):
            parts.append(TextPart(text))
        for call in self.calls:
            if not call.name:
                raise ModelProtocolError(
                    f"{self.provider} sent a tool call without a name.", provider=self.provider
                )
            parts.append(
                ToolCall(id=call.id, name=call.name, arguments_json="".join(call.fragments))
            )
        # Some local servers report "stop" even when the turn ends in tool calls.
        stop = "tool_use" if self.calls else _FINISH_REASONS.get(self.finish_reason, "other")
        return Completed(
            message=Message(role="assistant", parts=tuple(parts)),
            stop_reason=stop,
            usage=self.usage,
        )


class OpenAIChatAdapter:
    """A `ModelAdapter` for one model behind an OpenAI Chat Completions endpoint.

    Each call makes its own SDK client and closes it when the stream ends, so an adapter
    holds no sockets between turns.
    """

    def __init__(
        self,
        model: str,
        endpoint: Endpoint,
        policy: RetryPolicy | None = None,
        quirks: ChatQuirks = OPENAI_QUIRKS,
    ) -> None:
        self.model = model
        self.endpoint = endpoint
        self.policy = policy or RetryPolicy()
        self.quirks = quirks

    def stream(self, request: ModelRequest) -> AsyncGenerator[StreamEvent, None]:
        """Stream the assistant's reply; see `errand.models.ModelAdapter`."""
        return stream_with_retries(lambda: self._attempt(request), self.policy)

    async def _attempt(self, request: ModelRequest) -> AsyncGenerator[StreamEvent, None]:
        provider = self.endpoint.label
        if self.endpoint.api_key is None:
            raise ModelAuthError(
                f"{provider} needs an API key; set {self.endpoint.key_hint}.", provider=provider
            )
        client = openai.AsyncOpenAI(
            api_key=self.endpoint.api_key,
            base_url=self.endpoint.base_url,
            max_retries=0,
            timeout=self.policy.timeout,
        )
        limit = {self.quirks.max_tokens_field: request.max_tokens}
        accumulator = _Accumulator(provider, self.quirks)
        try:
            async with client:
                stream = await client.chat.completions.create(
                    model=self.model,
                    messages=to_openai_messages(request),
                    tools=to_openai_tools(request.tools) or openai.omit,
                    temperature=openai.omit if request.temperature is None else request.temperature,
                    stream=True,
                    stream_options={"include_usage": True},
                    extra_body=limit,
                )
                async with stream:
                    async for chunk in stream:
                        for event in accumulator.feed(chunk):
                            yield event
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from exc
        except openai.APIConnectionError as exc:
            raise ModelUnavailable(
                f"Could not reach {provider} at {self.endpoint.base_url} ({type(exc).__name__}).",
                provider=provider,
            ) from exc
        except openai.APIError as exc:
            # An error event inside the stream: the server failed part-way.
            raise ModelUnavailable(
                f"{provider} reported an error during the response ({exc.message.rstrip('.')}).",
                provider=provider,
            ) from exc
        except ValueError as exc:
            raise ModelProtocolError(
                f"{provider} sent a response Errand could not read ({exc}).", provider=provider
            ) from exc
        yield accumulator.completed()

    def _status_error(self, exc: openai.APIStatusError) -> ModelError:
        detail = None
        body = exc.body
        if isinstance(body, dict):
            error = body.get("error", body)
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                detail = error["message"]
        return error_for_status(
            self.endpoint.label,
            exc.status_code,
            detail,
            model=self.model,
            key_hint=self.endpoint.key_hint,
            retry_after=retry_after_seconds(exc.response.headers),
        )
