"""The scripted model (``script:PATH``): a deterministic test double that replays turns.

The file format is documented in ``docs/scripted-model.md``. Which turn answers a request
is decided by the request alone: turn *n* answers the request whose conversation already
holds *n* assistant messages. So a replay needs no state and survives a restart of the
runner in the middle of a task.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from errand.models.errors import ModelError
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
    ToolResult,
    Usage,
)

PROVIDER_LABEL = "The scripted model"
_MAX_SCRIPT_BYTES = 4 * 1024 * 1024
_DELTAS_PER_TEXT = 3


class InvalidScript(ValueError):
    """The script file is missing or does not follow the documented format."""


class ScriptMismatch(ModelError):
    """A request did not match what the script expected (turn count or tool results)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScriptedToolCall(_Strict):
    """One tool call to make; `arguments_raw`, when set, is sent verbatim (may be malformed)."""

    name: str
    arguments: dict[str, JsonValue] = Field(default_factory=dict)
    arguments_raw: str | None = None
    id: str | None = None


class ExpectedToolResult(_Strict):
    """A check on one tool result in the request a turn answers."""

    contains: str = ""
    is_error: bool | None = None


class ScriptedTurn(_Strict):
    """One assistant turn: text and/or tool calls, plus optional checks on the request."""

    text: str = ""
    tool_calls: list[ScriptedToolCall] = Field(default_factory=list)
    stop_reason: StopReason | None = None
    expect_tool_results: list[ExpectedToolResult] | None = None
    usage: tuple[int, int] = (0, 0)


class Script(_Strict):
    """A whole script file."""

    version: Literal[1] = 1
    turns: list[ScriptedTurn] = Field(min_length=1)


def load_script(path: Path) -> Script:
    """Read and validate a script file.

    Raises:
        InvalidScript: the file cannot be read or does not follow the format.
    """
    try:
        with path.open("r", encoding="utf-8") as fh:
            text = fh.read(_MAX_SCRIPT_BYTES + 1)
    except OSError as exc:
        raise InvalidScript(f"Cannot read the model script {path}: {exc.strerror}.") from exc
    if len(text) > _MAX_SCRIPT_BYTES:
        raise InvalidScript(f"The model script {path} is larger than 4 MiB.")
    try:
        return Script.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the top level"
        raise InvalidScript(
            f"The model script {path} is not valid at {where}: {first['msg']}."
        ) from exc


def split_text(text: str, pieces: int = _DELTAS_PER_TEXT) -> list[str]:
    """Cut `text` into at most `pieces` consecutive chunks at spaces (deterministic)."""
    if not text:
        return []
    words = text.split(" ")
    size = max(1, -(-len(words) // pieces))
    groups = [words[i : i + size] for i in range(0, len(words), size)]
    chunks = [" ".join(g) for g in groups]
    return [c + " " for c in chunks[:-1]] + [chunks[-1]]


class ScriptedModel:
    """A `ModelAdapter` that answers from a script instead of a model."""

    def __init__(self, script: Script, *, name: str = "script") -> None:
        self.script = script
        self.name = name

    @classmethod
    def from_file(cls, path: Path) -> ScriptedModel:
        """Load `path` (see `load_script`)."""
        return cls(load_script(path), name=str(path))

    async def stream(self, request: ModelRequest) -> AsyncGenerator[StreamEvent, None]:
        """Replay the turn for `request`.

        Raises:
            ScriptMismatch: the script has no turn left, or the request's tool results do
                not satisfy the turn's `expect_tool_results`.
        """
        number = sum(1 for m in request.messages if m.role == "assistant")
        if number >= len(self.script.turns):
            raise ScriptMismatch(
                f"{PROVIDER_LABEL} {self.name} has {len(self.script.turns)} turns but was asked "
                f"for turn {number + 1}.",
                provider=PROVIDER_LABEL,
            )
        turn = self.script.turns[number]
        if turn.expect_tool_results is not None:
            self._check_results(number, turn.expect_tool_results, request)
        parts: list[Part] = []
        for chunk in split_text(turn.text):
            yield TextDelta(chunk)
        if turn.text:
            parts.append(TextPart(turn.text))
        for position, scripted in enumerate(turn.tool_calls, start=1):
            call_id = scripted.id or f"call_{number + 1}_{position}"
            arguments = (
                scripted.arguments_raw
                if scripted.arguments_raw is not None
                else json.dumps(scripted.arguments)
            )
            yield ToolCallStarted(id=call_id, name=scripted.name)
            yield ToolCallDelta(id=call_id, arguments_fragment=arguments)
            parts.append(ToolCall(id=call_id, name=scripted.name, arguments_json=arguments))
        stop = turn.stop_reason or ("tool_use" if turn.tool_calls else "end_turn")
        yield Completed(
            message=Message(role="assistant", parts=tuple(parts)),
            stop_reason=stop,
            usage=Usage(input_tokens=turn.usage[0], output_tokens=turn.usage[1]),
        )

    def _check_results(
        self, number: int, expected: list[ExpectedToolResult], request: ModelRequest
    ) -> None:
        last = request.messages[-1] if request.messages else None
        results: tuple[ToolResult, ...] = last.tool_results if last is not None else ()
        where = f"{PROVIDER_LABEL} {self.name}, turn {number + 1}"
        if len(results) != len(expected):
            raise ScriptMismatch(
                f"{where} expected {len(expected)} tool results but got {len(results)}.",
                provider=PROVIDER_LABEL,
            )
        for position, (want, got) in enumerate(zip(expected, results, strict=True), start=1):
            if want.contains not in got.content or (
                want.is_error is not None and want.is_error != got.is_error
            ):
                raise ScriptMismatch(
                    f"{where} expected tool result {position} to contain {want.contains!r}"
                    f"{'' if want.is_error is None else f' with is_error={want.is_error}'} but "
                    f"got {got.content[:200]!r} with is_error={got.is_error}.",
                    provider=PROVIDER_LABEL,
                )
