"""The user of an eval task: answers its approvals and questions as the task's script says."""

from __future__ import annotations

import contextlib

from errand.evals.suite import UserScript
from errand.store import (
    AlreadyAnswered,
    AlreadyDecided,
    ApprovalRecord,
    QuestionRecord,
    Store,
)

_NO_ANSWER = "I cannot answer that now; use your best judgement."


class ScriptedUser:
    """The task's user: answers approvals (in the script's order, then no) and questions
    (in order, then a note that no answer is known) through the store, as a phone would."""

    def __init__(self, store: Store, script: UserScript) -> None:
        self.store = store
        self._approvals = list(script.approvals)
        self._answers = list(script.answers)

    async def approval_requested(self, approval: ApprovalRecord) -> None:
        approve = bool(self._approvals) and self._approvals.pop(0) == "approve"
        with contextlib.suppress(AlreadyDecided):
            await self.store.decide_approval(
                approval.id, approve=approve, decided_by="eval script", digest=approval.digest
            )

    async def question_asked(self, question: QuestionRecord) -> None:
        answer = self._answers.pop(0) if self._answers else _NO_ANSWER
        with contextlib.suppress(AlreadyAnswered):
            await self.store.answer_question(question.id, answer, answered_by="eval script")
