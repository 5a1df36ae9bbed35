"""The OpenAI Chat adapter, through the official SDK, against a fake Chat Completions endpoint.

Covers both the ``openai`` provider (strict dialect) and the ``openai-compat`` one, whose
declared quirks let it read what local servers actually send.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from errand.models import (
    LOCAL_SERVER_QUIRKS,
    ChatQuirks,
    Endpoint,
    Message,
    ModelAuthError,
    ModelNotFound,
    ModelProtocolError,
    ModelRateLimited,
    ModelRequest,
    ModelSettings,
    ModelUnavailable,
    OpenAIChatAdapter,
    RetryPolicy,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallStarted,
    ToolResult,
    ToolSpec,
    Usage,
    resolve_model,
    user_text,
)
from fakes.collect import collect, streamed_text
from fakes.openai_server import (
    OLLAMA_LIKE,
    CompatQuirks,
    CutStream,
    ErrorEvent,
    FakeToolCall,
    FakeTurn,
    HttpFault,
    OpenAIFakeServer,
    StallStream,
)

FAST = RetryPolicy(attempts=3, backoff_base=0.001, max_delay=1.0, timeout=5.0)
READ_FILE = ToolSpec(
    name="read_file",
    description="Read a text file.",
    input_schema={"type": "object", "properties": {"path": {"type": "string"}}},
)
TWO_CALLS = FakeTurn(
    text="Reading both.",
    tool_calls=(
        FakeToolCall("read_file", '{"path": "a.txt"}', id="call_a"),
        FakeToolCall("read_file", '{"path": "b.txt"}', id="call_b"),
    ),
)


@pytest.fixture
def server() -> Iterator[OpenAIFakeServer]:
    with OpenAIFakeServer() as fake:
        yield fake


def adapter_for(
    server: OpenAIFakeServer,
    key: str | None = "test-key",
    quirks: ChatQuirks = ChatQuirks(),  # noqa: B008
    model: str = "test-model",
) -> OpenAIChatAdapter:
    endpoint = Endpoint("OpenAI", server.base_url, key, "OPENAI_API_KEY")
    return OpenAIChatAdapter(model, endpoint, FAST, quirks)


def ask(text: str = "Hello?") -> ModelRequest:
    return ModelRequest(system="You are terse.", messages=(user_text(text),), tools=(READ_FILE,))


async def test_text_streams_and_usage_comes_from_the_usage_chunk(server: OpenAIFakeServer) -> None:
    server.enqueue(FakeTurn(text="The answer is forty-two.", input_tokens=30, output_tokens=8))

    events, done = await collect(adapter_for(server), ask())

    assert len([e for e in events if isinstance(e, TextDelta)]) > 1
    assert streamed_text(events) == "The answer is forty-two."
    assert done.message == Message("assistant", (TextPart("The answer is forty-two."),))
    assert done.stop_reason == "end_turn"
    assert done.usage == Usage(input_tokens=30, output_tokens=8)
    sent = server.posts[0]
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["max_completion_tokens"] == 4096
    assert sent["messages"][0] == {"role": "system", "content": "You are terse."}
    assert sent["tools"][0]["function"]["name"] == "read_file"


async def test_several_tool_calls_in_one_turn(server: OpenAIFakeServer) -> None:
    server.enqueue(TWO_CALLS)

    events, done = await collect(adapter_for(server), ask())

    started = [e for e in events if isinstance(e, ToolCallStarted)]
    assert [(s.id, s.name) for s in started] == [("call_a", "read_file"), ("call_b", "read_file")]
    assert done.stop_reason == "tool_use"
    assert done.message.text == "Reading both."
    assert [(c.id, c.arguments()) for c in done.message.tool_calls] == [
        ("call_a", {"path": "a.txt"}),
        ("call_b", {"path": "b.txt"}),
    ]


@pytest.mark.parametrize(
    "quirks",
    [
        CompatQuirks(),
        CompatQuirks(omit_index=True),
        CompatQuirks(index_always_zero=True),
        CompatQuirks(index_always_zero=True, omit_ids=True, whole_call_in_one_chunk=True),
        CompatQuirks(omit_index=True, omit_ids=True, whole_call_in_one_chunk=True),
        OLLAMA_LIKE,
    ],
    ids=[
        "well-behaved",
        "no-index",
        "index-always-0",
        "no-ids-whole-calls",
        "no-index-no-ids",
        "ollama-like",
    ],
)
async def test_local_server_quirks_still_yield_every_tool_call(quirks: CompatQuirks) -> None:
    with OpenAIFakeServer(quirks=quirks) as server:
        server.enqueue(TWO_CALLS)
        _, done = await collect(adapter_for(server, quirks=LOCAL_SERVER_QUIRKS), ask())

    calls = done.message.tool_calls
    assert [c.arguments() for c in calls] == [{"path": "a.txt"}, {"path": "b.txt"}]
    assert all(c.name == "read_file" for c in calls)
    assert len({c.id for c in calls}) == 2, "each call has its own id, made up if need be"
    assert done.stop_reason == "tool_use"
    assert server.posts[0]["max_tokens"] == 4096


@pytest.mark.parametrize(
    "quirks",
    [
        CompatQuirks(omit_ids=True),
        CompatQuirks(whole_call_in_one_chunk=True),
        CompatQuirks(index_always_zero=True, omit_ids=True, whole_call_in_one_chunk=True),
        CompatQuirks(omit_index=True, omit_ids=True, whole_call_in_one_chunk=True),
    ],
    ids=["no-ids", "whole-calls", "index-0-no-ids-whole-calls", "no-index-no-ids-whole-calls"],
)
async def test_the_openai_provider_reads_what_routers_and_proxies_send(
    quirks: CompatQuirks,
) -> None:
    with OpenAIFakeServer(quirks=quirks) as server:
        server.enqueue(TWO_CALLS)
        environ = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test-key"}
        model = resolve_model("openai:test-model", settings=ModelSettings(FAST, environ=environ))
        _, done = await collect(model, ask())

    calls = done.message.tool_calls
    assert [c.arguments() for c in calls] == [{"path": "a.txt"}, {"path": "b.txt"}]
    assert len({c.id for c in calls}) == 2 and all(c.id for c in calls)
    assert "max_completion_tokens" in server.posts[0]


async def test_missing_usage_is_reported_as_unreported() -> None:
    with OpenAIFakeServer(quirks=CompatQuirks(omit_usage=True)) as server:
        server.enqueue(FakeTurn(text="hi"))
        _, done = await collect(adapter_for(server, quirks=LOCAL_SERVER_QUIRKS), ask())

    assert done.usage == Usage(0, 0, reported=False)


async def test_strict_dialect_refuses_calls_without_an_index() -> None:
    with OpenAIFakeServer(quirks=CompatQuirks(omit_index=True)) as server:
        server.enqueue(TWO_CALLS)
        with pytest.raises(ModelProtocolError, match="without an index"):
            await collect(adapter_for(server), ask())


async def test_malformed_tool_arguments_survive_the_round_trip(server: OpenAIFakeServer) -> None:
    server.enqueue(
        FakeTurn(tool_calls=(FakeToolCall("read_file", '{"path": ', id="call_x"),)),
        FakeTurn(text="ok"),
    )
    adapter = adapter_for(server)

    _, done = await collect(adapter, ask())
    (call,) = done.message.tool_calls
    assert call.arguments_json == '{"path": '

    error = ToolResult("call_x", "arguments were not valid JSON", is_error=True)
    history = (user_text("go"), done.message, Message("tool", (error,)))
    await collect(adapter, ModelRequest(system="", messages=history))
    wire = server.posts[1]["messages"]
    assert wire[1]["tool_calls"][0]["function"]["arguments"] == '{"path": '
    assert wire[2] == {
        "role": "tool",
        "tool_call_id": "call_x",
        "content": "Error: arguments were not valid JSON",
    }


async def test_conversation_with_tool_results_reaches_the_wire_as_the_dialect_wants(
    server: OpenAIFakeServer,
) -> None:
    server.enqueue(FakeTurn(text="Done."))
    history = (
        user_text("Summarise a.txt and b.txt"),
        Message(
            "assistant",
            (
                ToolCall("call_1", "read_file", '{"path": "a.txt"}'),
                ToolCall("call_2", "read_file", '{"path": "b.txt"}'),
            ),
        ),
        Message("tool", (ToolResult("call_1", "alpha"), ToolResult("call_2", "beta"))),
        Message("system", (TextPart("The user is watching."),)),
        user_text("Be quick."),
    )

    await collect(adapter_for(server), ModelRequest(system="Base.", messages=history))

    wire = server.posts[0]["messages"]
    assert [m["role"] for m in wire] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "system",
        "user",
    ]
    assert wire[2]["content"] is None
    assert wire[2]["tool_calls"][1] == {
        "id": "call_2",
        "type": "function",
        "function": {"name": "read_file", "arguments": '{"path": "b.txt"}'},
    }
    assert wire[3] == {"role": "tool", "tool_call_id": "call_1", "content": "alpha"}
    assert wire[4]["tool_call_id"] == "call_2"
    assert wire[6] == {"role": "user", "content": "Be quick."}


async def test_rate_limit_is_retried_after_the_servers_retry_after(
    server: OpenAIFakeServer,
) -> None:
    server.enqueue(HttpFault(429, retry_after="0.3"), FakeTurn(text="ok"))

    started = time.monotonic()
    _, done = await collect(adapter_for(server), ask())

    assert done.message.text == "ok"
    assert len(server.posts) == 2
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(429, ModelRateLimited), (500, ModelUnavailable), (503, ModelUnavailable)],
)
async def test_retries_exhausted_raise_a_typed_error(
    server: OpenAIFakeServer, status: int, error_type: type[Exception]
) -> None:
    server.enqueue(*[HttpFault(status)] * 3)

    with pytest.raises(error_type, match=r"OpenAI .*gave up after 3 attempts"):
        await collect(adapter_for(server), ask())

    assert len(server.posts) == 3


async def test_server_error_then_success(server: OpenAIFakeServer) -> None:
    server.enqueue(HttpFault(500), FakeTurn(text="recovered"))

    _, done = await collect(adapter_for(server), ask())

    assert done.message.text == "recovered"


async def test_stream_cut_after_text_is_a_protocol_error_not_a_replay(
    server: OpenAIFakeServer,
) -> None:
    server.enqueue(CutStream(FakeTurn(text="Partial answer here"), after_events=2), FakeTurn())
    seen: list[str] = []

    with pytest.raises(ModelProtocolError, match="OpenAI"):
        async for event in adapter_for(server).stream(ask()):
            if isinstance(event, TextDelta):
                seen.append(event.text)

    assert seen
    assert len(server.posts) == 1


async def test_bad_key_is_one_clear_sentence(server: OpenAIFakeServer) -> None:
    with pytest.raises(ModelAuthError) as caught:
        await collect(adapter_for(server, key="wrong"), ask())

    message = str(caught.value)
    assert message.startswith("OpenAI rejected the API key")
    assert message.endswith("check OPENAI_API_KEY.")
    assert len(server.posts) == 1


async def test_unknown_model_raises_model_not_found(server: OpenAIFakeServer) -> None:
    with pytest.raises(ModelNotFound, match="'gpt-nope'"):
        await collect(adapter_for(server, model="gpt-nope"), ask())


async def test_unreachable_server_is_unavailable_after_retries() -> None:
    with OpenAIFakeServer() as server:
        base_url = server.base_url
    endpoint = Endpoint("OpenAI", base_url, "test-key", "OPENAI_API_KEY")

    with pytest.raises(ModelUnavailable, match="Could not reach OpenAI"):
        await collect(OpenAIChatAdapter("test-model", endpoint, FAST), ask())


async def test_cancelling_the_consumer_closes_the_http_stream(server: OpenAIFakeServer) -> None:
    server.enqueue(StallStream(FakeTurn(text="one two three four"), after_events=2))
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


async def test_error_inside_the_stream_is_retried_before_output(server: OpenAIFakeServer) -> None:
    server.enqueue(
        ErrorEvent(FakeTurn(text="lost"), after_events=1, status=500), FakeTurn(text="ok")
    )

    _, done = await collect(adapter_for(server), ask())

    assert done.message.text == "ok"
    assert len(server.posts) == 2


async def test_error_inside_the_stream_after_text_is_a_protocol_error(
    server: OpenAIFakeServer,
) -> None:
    server.enqueue(ErrorEvent(FakeTurn(text="some words here"), after_events=2, status=500))

    with pytest.raises(ModelProtocolError, match="reported an error during the response"):
        await collect(adapter_for(server), ask())
