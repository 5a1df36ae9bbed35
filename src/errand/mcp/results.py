"""An MCP tool result as the model reads it.

Text comes through as is; images, audio and binary resources are described (type and size)
rather than pasted as base64, which would only cost tokens; embedded text resources are shown
with their URI; resource links are named. A result the server marked as an error stays an
error. Structured content is shown as JSON when the server sent no content blocks.
"""

from __future__ import annotations

import base64
import binascii
import json

import mcp_types as types

from errand.tools import ToolOutput

_MAX_URI = 300


def tool_output(tool: str, result: types.CallToolResult) -> ToolOutput:
    """The model's view of ``result`` from ``tool`` (the exposed name)."""
    parts = [_block(block) for block in result.content]
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, indent=1))
    text = "\n".join(part for part in parts if part)
    if result.is_error:
        detail = text.strip() or "no details given"
        return ToolOutput(f"{tool} reported an error: {detail}", is_error=True)
    return ToolOutput(text or "(the tool returned nothing)")


def _block(block: types.ContentBlock) -> str:
    match block:
        case types.TextContent():
            return block.text
        case types.ImageContent():
            return f"[image: {block.mime_type}, {_size(block.data)}; not shown to the model]"
        case types.AudioContent():
            return f"[audio: {block.mime_type}, {_size(block.data)}; not played to the model]"
        case types.ResourceLink():
            mime = f", {block.mime_type}" if block.mime_type else ""
            return f"[resource link: {block.uri!s:.{_MAX_URI}} ({block.name}{mime})]"
        case types.EmbeddedResource():
            return _resource(block.resource)


def _resource(resource: types.TextResourceContents | types.BlobResourceContents) -> str:
    uri = f"{resource.uri!s:.{_MAX_URI}}"
    mime = f" ({resource.mime_type})" if resource.mime_type else ""
    if isinstance(resource, types.TextResourceContents):
        return f"[resource {uri}{mime}]\n{resource.text}"
    return f"[resource {uri}{mime}: binary, {_size(resource.blob)}; not shown to the model]"


def _size(data: str) -> str:
    try:
        count = len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        count = len(data) * 3 // 4
    if count < 1024:
        return f"{count} bytes"
    return f"{count / 1024:.1f} KB"
