"""The Anthropic adapter, through the official SDK, against a fake Messages endpoint."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest

from errand.models import (
    AnthropicMessagesAdapter,
    Endpoint,
    MalformedToolArguments,
    Message,
    ModelAuthError,
    ModelNotFound,
    ModelOverloaded,
    ModelProtocolError,
    ModelRateLimited,
    ModelRequest,
    ModelUnavailable,
    RetryPolicy,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallStarted,
    ToolResult,
    ToolSpec,
    Usage,
    user_text,
)
from fakes.anthropic_server import (
    AnthropicFakeServer,
    CutStream,
    ErrorEvent,
    FakeToolCall,
    FakeTurn,
    HttpFault,
    StallStream,
)
from fakes.collect import collect, streamed_text

FAST = RetryPolicy(attempts=3, backoff_base=0.001, max_delay=1.0, timeout=5.0)
READ_FILE = ToolSpec(
    name="read_file",
    description="Read a text file.",
    input_schema={"type": "object", "properties": {"path": {"type": "string"}}},
)


@pytest.fixture
def server() -> Iterator[AnthropicFakeServer]:
    with AnthropicFakeServer() as fake:
        yield fake


def adapter_for(
    server: AnthropicFakeServer, key: str | None = "test-key"
) -> AnthropicMessagesAdapter:
    endpoint = Endpoint("Anthropic", server.origin, key, "ANTHROPIC_API_KEY")
    return AnthropicMessagesAdapter("test-model", endpoint, FAST)


def ask(text: str = "Hello?") -> ModelRequest:
    return ModelRequest(system="You are terse.", messages=(user_text(text),), tools=(READ_FILE,))


async def test_text_streams_in_order_and_completes_with_usage(server: AnthropicFakeServer) -> None:
    server.enqueue(FakeTurn(text="The answer is forty-two.", input_tokens=30, output_tokens=8))

    events, done = await collect(adapter_for(server), ask())

    assert len([e for e in events if isinstance(e, TextDelta)]) > 1
    assert streamed_text(events) == "The answer is forty-two."
    assert done.message == Message("assistant", (TextPart("The answer is forty-two."),))
    assert done.stop_reason == "end_turn"
    assert done.usage == Usage(input_tokens=30, output_tokens=8)
    sent = server.posts[0]
    assert sent["model"] == "test-model"
    assert sent["stream"] is True
    assert sent["system"] == "You are terse."
    assert sent["tools"][0]["input_schema"]["properties"]["path"] == {"type": "string"}


async def test_several_tool_calls_in_one_turn(server: AnthropicFakeServer) -> None:
    server.enqueue(
        FakeTurn(
            text="Reading both.",
            tool_calls=(
                FakeToolCall("read_file", '{"path": "a.txt"}', id="toolu_a"),
                FakeToolCall("read_file", '{"path": "b.txt"}', id="toolu_b"),
            ),
        )
    )

    events, done = await collect(adapter_for(server), ask())

    started = [e for e in events if isinstance(e, ToolCallStarted)]
    assert [(s.id, s.name) for s in started] == [("toolu_a", "read_file"), ("toolu_b", "read_file")]
    assert done.stop_reason == "tool_use"
    assert done.message.text == "Reading both."
    assert [(c.id, c.arguments()) for c in done.message.tool_calls] == [
        ("toolu_a", {"path": "a.txt"}),
        ("toolu_b", {"path": "b.txt"}),
    ]


async def test_malformed_tool_arguments_are_kept_for_the_agent_to_report(
    server: AnthropicFakeServer,
) -> None:
    server.enqueue(
        FakeTurn(tool_calls=(FakeToolCall("read_file", '{"path": "a.txt"', id="toolu_x"),)),
        FakeTurn(text="Sorry, retrying."),
    )
    adapter = adapter_for(server)

    _, done = await collect(adapter, ask())
    (call,) = done.message.tool_calls
    assert call.arguments_json == '{"path": "a.txt"'
    with pytest.raises(MalformedToolArguments, match="read_file"):
        call.arguments()

    error = ToolResult(call.id, "Your arguments were not valid JSON.", is_error=True)
    follow_up = ModelRequest(
        system="", messages=(user_text("Go"), done.message, Message("tool", (error,)))
    )
    await collect(adapter, follow_up)
    wire = server.posts[1]["messages"]
    assert wire[1]["content"][0] == {
        "type": "tool_use",
        "id": "toolu_x",
        "name": "read_file",
        "input": {},
    }
    assert wire[2]["content"][0]["is_error"] is True


async def test_conversation_with_tool_results_reaches_the_wire_as_the_dialect_wants(
    server: AnthropicFakeServer,
) -> None:
    server.enqueue(FakeTurn(text="Done."))
    history = (
        user_text("Summarise a.txt and b.txt"),
        Message(
            "assistant",
            (
                TextPart("Reading."),
                ToolCall("toolu_1", "read_file", '{"path": "a.txt"}'),
                ToolCall("toolu_2", "read_file", '{"path": "b.txt"}'),
            ),
        ),
        Message(
            "tool", (ToolResult("toolu_1", "alpha"), ToolResult("toolu_2", "no such file", True))
        ),
        Message("system", (TextPart("The user is watching."),)),
        user_text("Be quick."),
    )

    await collect(adapter_for(server), ModelRequest(system="Base prompt.", messages=history))

    sent = server.posts[0]
    assert sent["system"] == "Base prompt.\n\nThe user is watching."
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assistant = sent["messages"][1]["content"]
    assert assistant[0] == {"type": "text", "text": "Reading."}
    assert assistant[1]["input"] == {"path": "a.txt"}
    results = sent["messages"][2]["content"]
    assert results[0] == {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": "alpha",
        "is_error": False,
    }
    assert results[1]["tool_use_id"] == "toolu_2"
    assert results[1]["is_error"] is True
    assert results[2] == {"type": "text", "text": "Be quick."}


async def test_rate_limit_is_retried_after_the_servers_retry_after(
    server: AnthropicFakeServer,
) -> None:
    server.enqueue(HttpFault(429, retry_after="0.3"), FakeTurn(text="ok"))

    started = time.monotonic()
    _, done = await collect(adapter_for(server), ask())

    assert done.message.text == "ok"
    assert len(server.posts) == 2
    assert time.monotonic() - started >= 0.3


async def test_overloaded_then_success(server: AnthropicFakeServer) -> None:
    server.enqueue(HttpFault(529), HttpFault(529), FakeTurn(text="ok"))

    _, done = await collect(adapter_for(server), ask())

    assert done.message.text == "ok"
    assert len(server.posts) == 3


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(429, ModelRateLimited), (529, ModelOverloaded), (500, ModelUnavailable)],
)
async def test_retries_exhausted_raise_a_typed_error(
    server: AnthropicFakeServer, status: int, error_type: type[Exception]
) -> None:
    server.enqueue(*[HttpFault(status)] * 3)

    with pytest.raises(error_type) as caught:
        await collect(adapter_for(server), ask())

    assert len(server.posts) == 3
    assert "Anthropic" in str(caught.value)
    assert "gave up after 3 attempts" in str(caught.value)


async def test_stream_cut_after_text_is_a_protocol_error_not_a_replay(
    server: AnthropicFakeServer,
) -> None:
    # message_start, ping, block start, first text delta: then the connection drops.
    server.enqueue(CutStream(FakeTurn(text="Partial answer here"), after_events=4), FakeTurn())
    seen: list[str] = []

    with pytest.raises(ModelProtocolError, match="Anthropic"):
        async for event in adapter_for(server).stream(ask()):
            if isinstance(event, TextDelta):
                seen.append(event.text)

    assert seen, "some text arrived before the cut"
    assert len(server.posts) == 1


async def test_stream_cut_before_any_output_is_retried(server: AnthropicFakeServer) -> None:
    server.enqueue(CutStream(FakeTurn(text="lost"), after_events=2), FakeTurn(text="whole"))

    events, _ = await collect(adapter_for(server), ask())

    assert streamed_text(events) == "whole"
    assert len(server.posts) == 2


async def test_bad_key_is_one_clear_sentence_and_not_retried(server: AnthropicFakeServer) -> None:
    with pytest.raises(ModelAuthError) as caught:
        await collect(adapter_for(server, key="wrong"), ask())

    message = str(caught.value)
    assert message.startswith("Anthropic rejected the API key")
    assert "ANTHROPIC_API_KEY" in message
    assert message.count(". ") == 0 and message.endswith(".")
    assert len(server.posts) == 1


async def test_missing_key_fails_before_any_request(server: AnthropicFakeServer) -> None:
    with pytest.raises(ModelAuthError, match="set ANTHROPIC_API_KEY"):
        await collect(adapter_for(server, key=None), ask())

    assert server.posts == []


async def test_unknown_model_raises_model_not_found(server: AnthropicFakeServer) -> None:
    endpoint = Endpoint("Anthropic", server.origin, "test-key", "ANTHROPIC_API_KEY")
    adapter = AnthropicMessagesAdapter("no-such-model", endpoint, FAST)

    with pytest.raises(ModelNotFound, match="'no-such-model'"):
        await collect(adapter, ask())

    assert len(server.posts) == 1


async def test_cancelling_the_consumer_closes_the_http_stream(server: AnthropicFakeServer) -> None:
    server.enqueue(StallStream(FakeTurn(text="one two three four"), after_events=4))
    first = asyncio.Event()

    async def consume() -> None:
        async for event in adapter_for(server).stream(ask()):
            if isinstance(event, TextDelta):
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await asyncio.to_thread(server.disconnected.wait, 3)


async def test_wire_body_is_json_with_max_tokens(server: AnthropicFakeServer) -> None:
    server.enqueue(FakeTurn(text="ok"))
    request = ModelRequest(system="", messages=(user_text("hi"),), max_tokens=77, temperature=0.2)

    await collect(adapter_for(server), request)

    sent = server.posts[0]
    assert sent["max_tokens"] == 77
    assert sent["temperature"] == 0.2
    assert "system" not in sent
    assert "tools" not in sent
    assert json.dumps(sent)


async def test_overload_reported_inside_the_stream_is_retried_before_output(
    server: AnthropicFakeServer,
) -> None:
    server.enqueue(ErrorEvent(FakeTurn(text="lost"), after_events=2), FakeTurn(text="second try"))

    _, done = await collect(adapter_for(server), ask())

    assert done.message.text == "second try"
    assert len(server.posts) == 2


async def test_overload_reported_inside_the_stream_after_text_is_a_protocol_error(
    server: AnthropicFakeServer,
) -> None:
    server.enqueue(ErrorEvent(FakeTurn(text="some words here"), after_events=4), FakeTurn())

    with pytest.raises(ModelProtocolError, match="overloaded"):
        await collect(adapter_for(server), ask())

    assert len(server.posts) == 1


async def test_a_silent_server_times_out_as_unavailable(server: AnthropicFakeServer) -> None:
    server.enqueue(*[StallStream(FakeTurn(text="never"), after_events=0)] * 2)
    endpoint = Endpoint("Anthropic", server.origin, "test-key", "ANTHROPIC_API_KEY")
    policy = RetryPolicy(attempts=2, backoff_base=0.001, timeout=0.3)

    with pytest.raises(ModelUnavailable, match="gave up after 2 attempts"):
        await collect(AnthropicMessagesAdapter("test-model", endpoint, policy), ask())

    assert len(server.posts) == 2
