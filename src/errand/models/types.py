"""Errand's one canonical message model: what the agent loop and every model adapter share.

Everything here is a frozen dataclass. Adapters convert to and from these types at their
edge; nothing provider-shaped crosses into the agent loop.

Conventions a reader needs to know:

- Tool calls keep the model's arguments exactly as sent, as a JSON *string*
  (`ToolCall.arguments_json`). Models sometimes emit malformed JSON; keeping the raw text
  means such a call is still representable, can be stored, shown, and answered with a
  `ToolResult(is_error=True)` that tells the model what went wrong. `ToolCall.arguments()`
  parses on demand and raises `MalformedToolArguments` with a sentence fit to send back.
- Tool results travel in a message of role ``"tool"`` holding one `ToolResult` per call
  answered. The Anthropic dialect turns that into a user message of ``tool_result`` blocks;
  the OpenAI dialect into one ``role="tool"`` message per result.
- A request's system prompt is `ModelRequest.system`; ``"system"`` messages inside the
  conversation are allowed (mid-task notes) and each dialect places them as it can.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias, assert_never

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"
JsonObject: TypeAlias = "dict[str, JsonValue]"

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]
StopReason: TypeAlias = Literal["end_turn", "tool_use", "max_tokens", "refusal", "other"]


class MalformedToolArguments(ValueError):
    """A tool call's arguments are not a JSON object; the message is fit to show the model."""


@dataclass(frozen=True)
class TextPart:
    """Plain text from the user, the system or the assistant."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """The assistant asks for a tool to be run.

    `arguments_json` is the model's text verbatim (possibly malformed); use `arguments()`.
    """

    id: str
    name: str
    arguments_json: str

    def arguments(self) -> JsonObject:
        """Return the arguments as a JSON object.

        An empty string counts as ``{}`` (some servers send no argument text for a
        call without parameters).

        Raises:
            MalformedToolArguments: the text is not JSON, or is JSON but not an object.
        """
        text = self.arguments_json.strip()
        if not text:
            return {}
        try:
            value: JsonValue = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MalformedToolArguments(
                f"The arguments for tool {self.name!r} are not valid JSON ({exc.msg} at "
                f"position {exc.pos}); send the call again with a JSON object."
            ) from exc
        if not isinstance(value, dict):
            raise MalformedToolArguments(
                f"The arguments for tool {self.name!r} must be a JSON object, "
                f"not {type(value).__name__}; send the call again with a JSON object."
            )
        return value


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one tool call, answered in a ``"tool"`` message."""

    call_id: str
    content: str
    is_error: bool = False


Part: TypeAlias = TextPart | ToolCall | ToolResult


@dataclass(frozen=True)
class Message:
    """One turn of the conversation.

    Which parts a role may hold: system and user hold `TextPart`; assistant holds
    `TextPart` and `ToolCall`; tool holds `ToolResult`. Construction checks this.
    """

    role: Role
    parts: tuple[Part, ...]

    def __post_init__(self) -> None:
        allowed: tuple[type, ...]
        match self.role:
            case "system" | "user":
                allowed = (TextPart,)
            case "assistant":
                allowed = (TextPart, ToolCall)
            case "tool":
                allowed = (ToolResult,)
            case _:
                assert_never(self.role)
        for part in self.parts:
            if not isinstance(part, allowed):
                raise ValueError(f"{self.role} messages cannot hold a {type(part).__name__}")

    @property
    def text(self) -> str:
        """All text parts joined, in order."""
        return "".join(part.text for part in self.parts if isinstance(part, TextPart))

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The tool calls in this message, in order."""
        return tuple(part for part in self.parts if isinstance(part, ToolCall))

    @property
    def tool_results(self) -> tuple[ToolResult, ...]:
        """The tool results in this message, in order."""
        return tuple(part for part in self.parts if isinstance(part, ToolResult))


def user_text(text: str) -> Message:
    """A user message holding one text part."""
    return Message(role="user", parts=(TextPart(text),))


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: its name, what it does, and its input JSON schema."""

    name: str
    description: str
    input_schema: Mapping[str, JsonValue]


@dataclass(frozen=True)
class ModelRequest:
    """Everything one model call needs. `max_tokens` bounds the assistant's reply."""

    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int = 4096
    temperature: float | None = None


@dataclass(frozen=True)
class Usage:
    """Tokens the call consumed. `reported` is False when the server sent no figures."""

    input_tokens: int = 0
    output_tokens: int = 0
    reported: bool = True


@dataclass(frozen=True)
class TextDelta:
    """A piece of assistant text, in order; concatenated they equal the final text."""

    text: str


@dataclass(frozen=True)
class ToolCallStarted:
    """The model began a tool call; its arguments follow in `ToolCallDelta` events."""

    id: str
    name: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A fragment of a started call's argument text, for live display only."""

    id: str
    arguments_fragment: str


@dataclass(frozen=True)
class Completed:
    """The last event of every successful stream: the whole assistant message and usage."""

    message: Message
    stop_reason: StopReason
    usage: Usage = Usage(reported=False)


StreamEvent: TypeAlias = TextDelta | ToolCallStarted | ToolCallDelta | Completed


class ModelAdapter(Protocol):
    """The one contract every model (real or scripted) fulfils.

    `stream(request)` returns an async generator of events: any number of `TextDelta`,
    `ToolCallStarted` and `ToolCallDelta`, then exactly one `Completed` carrying the whole
    assistant message and the usage. Failures raise `errand.models.ModelError` subclasses.
    Cancelling the consuming task while it awaits the next event closes the HTTP stream;
    a consumer that stops early for another reason should close the generator
    (``contextlib.aclosing``) so the connection is released at once.
    """

    def stream(self, request: ModelRequest) -> AsyncGenerator[StreamEvent, None]:
        """Stream the assistant's reply to `request`."""
        ...
