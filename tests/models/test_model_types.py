"""The canonical message model: what each role may hold and how tool arguments parse."""

from __future__ import annotations

import pytest

from errand.models import (
    MalformedToolArguments,
    Message,
    TextPart,
    ToolCall,
    ToolResult,
)


def test_parts_are_checked_against_the_role() -> None:
    with pytest.raises(ValueError, match="user messages cannot hold a ToolCall"):
        Message("user", (ToolCall("c", "t", "{}"),))
    with pytest.raises(ValueError, match="tool messages cannot hold a TextPart"):
        Message("tool", (TextPart("x"),))
    with pytest.raises(ValueError, match="assistant messages cannot hold a ToolResult"):
        Message("assistant", (ToolResult("c", "x"),))


def test_message_accessors_keep_order() -> None:
    message = Message(
        "assistant",
        (TextPart("a"), ToolCall("1", "t", "{}"), TextPart("b"), ToolCall("2", "t", "{}")),
    )

    assert message.text == "ab"
    assert [c.id for c in message.tool_calls] == ["1", "2"]


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [("", {}), ("  ", {}), ('{"a": [1, null]}', {"a": [1, None]})],
)
def test_tool_arguments_parse(raw: str, parsed: object) -> None:
    assert ToolCall("c", "t", raw).arguments() == parsed


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [('{"a": ', "not valid JSON"), ("[1, 2]", "must be a JSON object, not list"), ("3", "not int")],
)
def test_malformed_arguments_raise_a_message_fit_for_the_model(raw: str, complaint: str) -> None:
    with pytest.raises(MalformedToolArguments, match=complaint) as caught:
        ToolCall("c", "write_file", raw).arguments()

    assert "'write_file'" in str(caught.value)
    assert "send the call again" in str(caught.value)
