"""``ask_user``: put a question to the user and wait for the answer.

The task shows as waiting meanwhile; how the question reaches the user (phone, CLI) and how
long it may wait is the business of whoever built the :class:`~errand.tools.base.ToolContext`.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from errand.tools.base import Action, ActionKind, ToolContext, ToolOutput
from errand.tools.errors import ToolError
from errand.tools.text_output import cut_line

MAX_QUESTION_CHARS = 2_000


class AskUserArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="One clear question.")


class AskUser:
    """Ask the user a question; the answer is the result."""

    name: ClassVar[str] = "ask_user"
    description: ClassVar[str] = (
        "Ask the user a question and wait for the answer. Only when you cannot go on without it."
    )
    Args: ClassVar[type[BaseModel]] = AskUserArgs

    def describe(self, args: BaseModel, ctx: ToolContext) -> Action:
        assert isinstance(args, AskUserArgs)
        return Action(self.name, ActionKind.ASK, cut_line(" ".join(args.question.split()), 200))

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolOutput:
        assert isinstance(args, AskUserArgs)
        question = args.question.strip()
        if not question:
            raise ToolError("The question is empty.")
        if len(question) > MAX_QUESTION_CHARS:
            raise ToolError(f"The question is longer than {MAX_QUESTION_CHARS} characters.")
        answer = await ctx.ask_user(question)
        return ToolOutput(answer if answer.strip() else "(The user answered with nothing.)")
