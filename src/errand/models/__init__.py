"""Model adapters: one canonical message model, one adapter per wire dialect.

The whole public contract of this package is re-exported here. An adapter is obtained with
`resolve_model("PROVIDER:MODEL")` and used as `ModelAdapter.stream(ModelRequest)`, which
yields `TextDelta` / `ToolCallStarted` / `ToolCallDelta` events and ends with one
`Completed`; failures are `ModelError` subclasses whose text is one sentence for the user.
"""

from errand.models.anthropic_messages import AnthropicMessagesAdapter
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
from errand.models.openai_chat import LOCAL_SERVER_QUIRKS, ChatQuirks, OpenAIChatAdapter
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
