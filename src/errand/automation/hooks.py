"""Inbound hooks: ``POST /hooks/{name}`` starts the hook's task, once per ``webhook-id``.

Requests are verified with the Standard Webhooks scheme (the ``standardwebhooks`` package:
HMAC-SHA256 over ``id.timestamp.body`` with the hook's own ``whsec_`` secret, five minutes
of tolerance). An unknown hook, a missing or wrong signature and a stale timestamp all get
the same answer, so hook names cannot be probed. A redelivery (same ``webhook-id``) gets the
first answer again and starts nothing.

The payload is data, never instructions: the task's prompt is the hook's template, and the
payload travels as an attachment marked untrusted.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from standardwebhooks.webhooks import Webhook

from errand.automation.schedules import MAX_PROMPT_CHARS, AutomationError, check_name
from errand.automation.template import TaskTemplate
from errand.automation.timing import Clock, system_clock
from errand.intake import Intake, IntakeError
from errand.store import AutomationStore, HookRecord, NameTaken, Store
from errand.tasks import Attachment, SourceKind, TaskSource

REFUSED_STATUS = 401
REFUSED_BODY = {
    "error": {
        "code": "hook_refused",
        "message": "Unknown hook, or a missing, wrong or stale Standard Webhooks signature.",
    }
}
RATE_PER_MINUTE = 60
RATE_BURST = 20
MAX_MESSAGE_ID = 200
PAYLOAD_NAME = "webhook-payload"

# Verifying against this throwaway key makes an unknown hook cost what a known one does.
_DECOY = Webhook("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())


def new_secret() -> str:
    """A fresh ``whsec_`` signing secret (24 random bytes, base64)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass(frozen=True, slots=True)
class HookAnswer:
    """What ``POST /hooks/{name}`` answers: a status and a JSON body."""

    status: int
    body: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class NewHook:
    """A created hook and its secret, which is shown this once."""

    record: HookRecord
    secret: str = field(repr=False)


@dataclass
class _Bucket:
    tokens: float
    at: float


class Hooks:
    """The user's inbound hooks, and the handling of their requests."""

    def __init__(
        self,
        store: Store,
        intake: Intake | None = None,
        *,
        clock: Clock = system_clock,
        monotonic: Callable[[], float] = time.monotonic,
        rate_per_minute: int = RATE_PER_MINUTE,
        burst: int = RATE_BURST,
    ) -> None:
        self._store = AutomationStore(store)
        self._intake = intake
        self._clock = clock
        self._monotonic = monotonic
        self._rate = rate_per_minute / 60.0
        self._burst = float(burst)
        self._buckets: dict[str, _Bucket] = {}

    async def add(self, name: str, prompt_template: str, template: TaskTemplate) -> NewHook:
        """Raises ``AutomationError`` (``invalid_hook``, ``hook_exists``)."""
        check_name(name, "hook")
        if not prompt_template.strip() or len(prompt_template) > MAX_PROMPT_CHARS:
            raise AutomationError("invalid_hook", "the hook needs a prompt template")
        secret = new_secret()
        try:
            record = await self._store.add_hook(
                name,
                prompt_template=prompt_template,
                request=template.to_json(),
                secret=secret,
                now=self._clock(),
            )
        except NameTaken as exc:
            raise AutomationError("hook_exists", f"a hook is already named {name!r}") from exc
        return NewHook(record, secret)

    async def list_all(self) -> list[HookRecord]:
        return await self._store.list_hooks()

    async def show(self, name: str) -> HookRecord:
        """Raises ``AutomationError`` (``hook_not_found``)."""
        hook = await self._store.get_hook(name)
        if hook is None:
            raise AutomationError("hook_not_found", f"no hook is named {name!r}")
        return hook

    async def rotate_secret(self, name: str) -> NewHook:
        """A new secret replaces the old one at once; shown this once."""
        hook = await self.show(name)
        secret = new_secret()
        await self._store.set_hook_secret(hook.id, secret)
        return NewHook(await self.show(name), secret)

    async def remove(self, name: str) -> None:
        hook = await self.show(name)
        await self._store.remove_hook(hook.id)

    async def receive(self, name: str, headers: Mapping[str, str], body: bytes) -> HookAnswer:
        """Handle ``POST /hooks/{name}``: verify, dedupe, rate-limit, start the task.

        Answers 202 ``{"task_id"}``; 401 (the same for an unknown hook and a bad or stale
        signature); 429 over the hook's rate; 409 while a first delivery of the same id is
        still being handled; 422 when intake refuses the hook's task.
        """
        hook = await self._store.get_hook(name)
        lowered = {key.lower(): value for key, value in headers.items()}
        verifier = Webhook(hook.secret) if hook is not None else _DECOY
        try:
            verifier.verify(body, lowered, json_parse=False)
        except Exception:  # every malformed header or body is the same refusal
            return HookAnswer(REFUSED_STATUS, REFUSED_BODY)
        if hook is None:
            return HookAnswer(REFUSED_STATUS, REFUSED_BODY)
        message_id = lowered["webhook-id"]
        if len(message_id) > MAX_MESSAGE_ID:
            return HookAnswer(REFUSED_STATUS, REFUSED_BODY)
        receipt = await self._store.reserve_receipt(hook.id, message_id, now=self._clock())
        if receipt is not None:
            if receipt.status == 0:
                return HookAnswer(
                    409, _error("in_progress", "This delivery is still being handled.")
                )
            return HookAnswer(receipt.status, json.loads(receipt.body))
        if not self._take_token(hook.id):
            await self._store.forget_receipt(hook.id, message_id)
            return HookAnswer(429, _error("rate_limited", "Too many deliveries to this hook."))
        answer = await self._start(hook, message_id, lowered.get("content-type"), body)
        if answer.status == 202:
            await self._store.settle_receipt(
                hook.id, message_id, status=answer.status, body=json.dumps(answer.body)
            )
        else:
            await self._store.forget_receipt(hook.id, message_id)
        return answer

    async def _start(
        self, hook: HookRecord, message_id: str, content_type: str | None, body: bytes
    ) -> HookAnswer:
        if self._intake is None:
            raise RuntimeError("Hooks.receive needs an intake")
        media_type = (content_type or "application/octet-stream").split(";")[0].strip()
        attachment = Attachment(
            name=PAYLOAD_NAME + (".json" if media_type == "application/json" else ".txt"),
            media_type=media_type or "application/octet-stream",
            text=body.decode("utf-8", errors="replace"),
        )
        template = TaskTemplate.from_json(hook.request)
        request = template.request(
            hook.prompt_template,
            source=TaskSource(kind=SourceKind.HOOK, ref=f"hook:{hook.name}:{message_id}"),
            attachments=[attachment],
        )
        try:
            task = await self._intake.submit(request)
        except IntakeError as exc:
            return HookAnswer(422, _error("hook_task_refused", exc.message))
        return HookAnswer(202, {"task_id": task.id})

    def _take_token(self, hook_id: str) -> bool:
        now = self._monotonic()
        bucket = self._buckets.setdefault(hook_id, _Bucket(self._burst, now))
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True


def _error(code: str, message: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message}}
