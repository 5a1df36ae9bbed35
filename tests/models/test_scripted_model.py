"""The scripted model replays a documented JSON file of turns, deterministically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from errand.models import (
    InvalidScript,
    Message,
    ModelRequest,
    ScriptedModel,
    ScriptMismatch,
    TextDelta,
    ToolCallStarted,
    ToolResult,
    Usage,
    user_text,
)
from fakes.collect import collect, streamed_text

SCRIPT = {
    "version": 1,
    "turns": [
        {
            "text": "Let me read both files for you.",
            "tool_calls": [
                {"name": "read_file", "arguments": {"path": "a.txt"}},
                {"name": "read_file", "arguments_raw": '{"path": '},
            ],
            "usage": [12, 5],
        },
        {
            "text": "Done: alpha.",
            "expect_tool_results": [
                {"contains": "alpha", "is_error": False},
                {"contains": "not valid JSON", "is_error": True},
            ],
        },
    ],
}


def write(tmp_path: Path, script: object) -> Path:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(script), encoding="utf-8")
    return path


async def test_first_turn_streams_text_in_pieces_and_tool_calls(tmp_path: Path) -> None:
    model = ScriptedModel.from_file(write(tmp_path, SCRIPT))

    events, done = await collect(model, ModelRequest(system="", messages=(user_text("go"),)))

    assert len([e for e in events if isinstance(e, TextDelta)]) >= 2
    assert streamed_text(events) == "Let me read both files for you."
    assert [e.id for e in events if isinstance(e, ToolCallStarted)] == ["call_1_1", "call_1_2"]
    first, second = done.message.tool_calls
    assert first.arguments() == {"path": "a.txt"}
    assert second.arguments_json == '{"path": '
    assert done.stop_reason == "tool_use"
    assert done.usage == Usage(12, 5)


async def test_turn_is_chosen_by_the_conversation_and_tool_results_are_checked(
    tmp_path: Path,
) -> None:
    model = ScriptedModel.from_file(write(tmp_path, SCRIPT))
    _, first = await collect(model, ModelRequest(system="", messages=(user_text("go"),)))
    results = Message(
        "tool",
        (
            ToolResult("call_1_1", "alpha\n"),
            ToolResult("call_1_2", "arguments were not valid JSON", is_error=True),
        ),
    )
    request = ModelRequest(system="", messages=(user_text("go"), first.message, results))

    _, second = await collect(model, request)
    _, again = await collect(model, request)

    assert second.message.text == "Done: alpha."
    assert second.stop_reason == "end_turn"
    assert again == second


async def test_unexpected_tool_result_is_a_clear_mismatch(tmp_path: Path) -> None:
    model = ScriptedModel.from_file(write(tmp_path, SCRIPT))
    _, first = await collect(model, ModelRequest(system="", messages=(user_text("go"),)))
    results = Message("tool", (ToolResult("call_1_1", "beta"), ToolResult("call_1_2", "x", True)))

    with pytest.raises(ScriptMismatch, match="turn 2 expected tool result 1 to contain 'alpha'"):
        await collect(
            model, ModelRequest(system="", messages=(user_text("go"), first.message, results))
        )


async def test_running_past_the_last_turn_is_a_mismatch(tmp_path: Path) -> None:
    model = ScriptedModel.from_file(write(tmp_path, {"turns": [{"text": "only"}]}))
    _, done = await collect(model, ModelRequest(system="", messages=(user_text("a"),)))

    later = ModelRequest(system="", messages=(user_text("a"), done.message, user_text("b")))
    with pytest.raises(ScriptMismatch, match="has 1 turns but was asked for turn 2"):
        await collect(model, later)


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("not json", "not valid"),
        (json.dumps({"turns": []}), "turns"),
        (json.dumps({"turns": [{"txt": "typo"}]}), "turns.0.txt"),
        (json.dumps({"version": 2, "turns": [{"text": "x"}]}), "version"),
    ],
)
def test_invalid_scripts_are_refused_with_where(
    tmp_path: Path, content: str, complaint: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(InvalidScript, match=complaint):
        ScriptedModel.from_file(path)


def test_missing_script_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidScript, match="Cannot read the model script"):
        ScriptedModel.from_file(tmp_path / "absent.json")


def test_docs_example_is_a_valid_script(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "scripted-model.md"
    text = docs.read_text(encoding="utf-8")
    example = text.split("```json\n", 1)[1].split("```", 1)[0]

    model = ScriptedModel.from_file(write(tmp_path, json.loads(example)))

    assert len(model.script.turns) >= 2
