"""A private stand-in for ``errand.intake`` until the one way in lands on main.

Same names and signatures as the contract (``TaskRequest``, ``Intake.submit``,
``IntakeError``, ``TaskSource``, ``FolderChoice``, ``Attachment``); it creates the task with
the store's ``create_task``. Delete this module when ``errand.intake`` exists.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from errand.sandbox import FolderGrant, FolderMode, NetworkPolicy, SandboxPolicy
from errand.store import AccessStore, InvalidPayload, Store, TaskRecord
from errand.store import TaskSource as StoredSource

_STORED_KINDS = {"hook": "webhook"}
_RANK = {FolderMode.READ_ONLY: 0, FolderMode.READ_WRITE: 1}


class IntakeError(ValueError):
    """The request cannot become a task; the message says why in one sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class TaskSource:
    kind: str = "api"
    ref: str | None = None


@dataclass(frozen=True)
class FolderChoice:
    name: str
    mode: Literal["ro", "rw"] = "ro"


@dataclass(frozen=True)
class Attachment:
    """An untrusted document given to the task (never prompt text)."""

    name: str
    media_type: str
    content: str
    untrusted: bool = True


@dataclass(frozen=True)
class TaskRequest:
    prompt: str
    folders: Sequence[FolderChoice] = ()
    allow_domains: Sequence[str] = ()
    model: str | None = None
    max_steps: int | None = None
    timeout: float | None = None
    source: TaskSource = field(default_factory=TaskSource)
    attachments: Sequence[Attachment] = ()
    title: str | None = None


class Intake:
    def __init__(
        self,
        store: Store,
        *,
        config: object = None,
        wake: Callable[[str], Awaitable[None]] | None = None,
        default_model: str | None = None,
    ) -> None:
        self._store = store
        self._wake = wake
        self._default_model = default_model

    async def submit(self, request: TaskRequest) -> TaskRecord:
        allowed = {f.name: f for f in await AccessStore(self._store).list_folders()}
        grants: list[FolderGrant] = []
        for choice in request.folders:
            folder = allowed.get(choice.name)
            if folder is None:
                raise IntakeError(f"no allowed folder is named {choice.name!r}")
            wanted = FolderMode(choice.mode)
            if _RANK[wanted] > _RANK[FolderMode(folder.mode)]:
                raise IntakeError(f"folder {choice.name!r} is allowed {folder.mode} only")
            try:
                grants.append(FolderGrant(path=Path(folder.path), mode=wanted, name=folder.name))
            except ValidationError as exc:
                raise IntakeError(f"folder {choice.name!r} is missing on the computer") from exc
        try:
            policy = SandboxPolicy(
                folders=tuple(grants),
                network=NetworkPolicy(allow_domains=tuple(request.allow_domains)),
            )
        except ValidationError as exc:
            raise IntakeError(str(exc.errors()[0].get("msg", "invalid request"))) from exc
        model = request.model or self._default_model or os.environ.get("ERRAND_MODEL")
        if not model:
            raise IntakeError("no model is configured; name one with --model")
        try:
            task = await self._store.create_task(
                request.prompt,
                model=model,
                policy={
                    "sandbox": policy.model_dump(mode="json"),
                    "source_ref": request.source.ref,
                    "attachments": [
                        {"name": a.name, "media_type": a.media_type, "content": a.content}
                        for a in request.attachments
                    ],
                },
                source=StoredSource(_STORED_KINDS.get(request.source.kind, request.source.kind)),
                title=request.title,
                max_steps=request.max_steps,
            )
        except InvalidPayload as exc:
            raise IntakeError(str(exc)) from exc
        if self._wake is not None:
            await self._wake(task.id)
        return task
