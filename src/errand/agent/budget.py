"""Keeping the conversation inside the model's context window.

Token counts are estimated (about four characters a token) because the exact tokenizer differs
per provider; the estimate only has to be good enough to stop well before the limit. When the
conversation grows past the budget, the oldest tool results are replaced by a short note,
newest kept; the user's request and the assistant's own words are never dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from errand.models import Message, TextPart, ToolCall, ToolResult

CHARS_PER_TOKEN = 4
DEFAULT_BUDGET_TOKENS = 120_000
_ELIDED = "[earlier output removed to save context; run the tool again if you need it]"


def estimate_tokens(text: str) -> int:
    """A rough token count: characters divided by four, rounded up."""
    return -(-len(text) // CHARS_PER_TOKEN)


def message_chars(message: Message) -> int:
    total = 0
    for part in message.parts:
        if isinstance(part, TextPart):
            total += len(part.text)
        elif isinstance(part, ToolCall):
            total += len(part.name) + len(part.arguments_json)
        elif isinstance(part, ToolResult):
            total += len(part.content)
    return total


def fit(
    messages: Sequence[Message],
    *,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    reserved_chars: int = 0,
) -> tuple[Message, ...]:
    """Return the messages with the oldest tool results elided until they fit the budget.

    ``reserved_chars`` accounts for what is sent besides the messages (system prompt, tool
    schemas). The newest tool message is never elided.
    """
    limit = budget_tokens * CHARS_PER_TOKEN - reserved_chars
    out = list(messages)
    total = sum(message_chars(m) for m in out)
    tool_indices = [i for i, m in enumerate(out) if m.role == "tool"][:-1]
    for index in tool_indices:
        if total <= limit:
            break
        before = message_chars(out[index])
        elided = tuple(
            replace(part, content=_ELIDED)
            if isinstance(part, ToolResult) and len(part.content) > len(_ELIDED)
            else part
            for part in out[index].parts
        )
        out[index] = Message(role="tool", parts=elided)
        total -= before - message_chars(out[index])
    return tuple(out)
