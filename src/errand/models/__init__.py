"""Model adapters: one canonical message model, one adapter per wire dialect.

The whole public contract of this package is re-exported here. An adapter is obtained with
`resolve_model("PROVIDER:MODEL")` and used as `ModelAdapter.stream(ModelRequest)`, which
yields `TextDelta` / `ToolCallStarted` / `ToolCallDelta` events and ends with one
`Completed`; failures are `ModelError` subclasses whose text is one sentence for the user.
"""

from typing import TYPE_CHECKING, Any

from errand.models.endpoints import Endpoint
from errand.models.errors import (
    ModelAuthError,
    ModelError,
    ModelNotFound,
    ModelOverloaded,
    ModelProtocolError,
    ModelRateLimited,
    ModelRequestRejected,
    ModelUnavailable,
)
from errand.models.registry import (
    ModelSettings,
    ProviderInfo,
    UnknownProvider,
    known_providers,
    resolve_model,
)
from errand.models.retry import RetryPolicy
from errand.models.scripted_model import InvalidScript, ScriptedModel, ScriptMismatch
from errand.models.types import (
    Completed,
    JsonObject,
    JsonValue,
    MalformedToolArguments,
    Message,
    ModelAdapter,
    ModelRequest,
    Part,
    Role,
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
    user_text,
)

__all__ = [
    "LOCAL_SERVER_QUIRKS",
    "AnthropicMessagesAdapter",
    "ChatQuirks",
    "Completed",
    "Endpoint",
    "InvalidScript",
    "JsonObject",
    "JsonValue",
    "MalformedToolArguments",
    "Message",
    "ModelAdapter",
    "ModelAuthError",
    "ModelError",
    "ModelNotFound",
    "ModelOverloaded",
    "ModelProtocolError",
    "ModelRateLimited",
    "ModelRequest",
    "ModelRequestRejected",
    "ModelSettings",
    "ModelUnavailable",
    "OpenAIChatAdapter",
    "Part",
    "ProviderInfo",
    "RetryPolicy",
    "Role",
    "ScriptMismatch",
    "ScriptedModel",
    "StopReason",
    "StreamEvent",
    "TextDelta",
    "TextPart",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallStarted",
    "ToolResult",
    "ToolSpec",
    "UnknownProvider",
    "Usage",
    "known_providers",
    "resolve_model",
    "user_text",
]

if TYPE_CHECKING:
    from errand.models.anthropic_messages import AnthropicMessagesAdapter
    from errand.models.openai_chat import LOCAL_SERVER_QUIRKS, ChatQuirks, OpenAIChatAdapter

# The adapters (and their SDKs) load on first use; see registry.py.
_LAZY = {
    "AnthropicMessagesAdapter": "errand.models.anthropic_messages",
    "ChatQuirks": "errand.models.openai_chat",
    "LOCAL_SERVER_QUIRKS": "errand.models.openai_chat",
    "OpenAIChatAdapter": "errand.models.openai_chat",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'errand.models' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
