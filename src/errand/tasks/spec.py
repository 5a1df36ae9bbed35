"""The typed task: everything a task is allowed and asked to do, besides its prompt.

A :class:`TaskSpec` is built in one place (``errand.intake``), stored as JSON in the task's
row, and parsed in one place (the store, into ``TaskRecord.spec``). Every reader (the loop,
the runner, task views, file routes) uses the typed value; nobody parses the JSON again.
The sandbox layout (``/sessions/<id>/mnt/<name>``) is derived from it by
:meth:`TaskSpec.sandbox_policy` and :meth:`TaskSpec.mount_path`, never re-spelled.

The spec is versioned (``version``): a change to its shape is a new version plus a store
migration that rewrites old rows, so the parser only ever reads the current version.
"""

from __future__ import annotations

import functools
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from errand.sandbox import (
    MOUNT_NAME,
    FolderGrant,
    FolderMode,
    Limits,
    NetworkPolicy,
    PolicyError,
    SandboxPolicy,
    mount_path,
)
from errand.tasks.workers import check_worker_name, place_of

NetworkSpec = NetworkPolicy
"""The task's egress rules: allowed and denied domains, reachable private ranges."""

SPEC_VERSION: Literal[1] = 1
MAX_ATTACHMENT_CHARS = 1_000_000


class SpecError(ValueError):
    """Stored or submitted task JSON that is not a valid spec; the message says what."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceKind(StrEnum):
    """The entry point a task came in through."""

    CLI = "cli"
    API = "api"
    PHONE = "phone"
    SCHEDULE = "schedule"
    HOOK = "hook"
    CHAT = "chat"


class TaskSource(_Frozen):
    """Who started the task: ``kind`` of entry point, and ``ref`` naming which one (the
    schedule's or hook's id, the chat's), when there is one."""

    kind: SourceKind
    ref: str | None = Field(default=None, min_length=1, max_length=200)


class GrantOrigin(StrEnum):
    """Where a folder grant came from, which decides how it is re-checked."""

    ALLOWED = "allowed"
    """An allowed folder (``errand folders add``) chosen by name: re-checked against the
    allowed folders every time the task starts, gets a message, or has a file served."""
    HOST = "host"
    """A host path the owner granted at the computer (``errand run --folder``, or the
    ``[sandbox]`` folders of ``errand.toml``): the owner acting directly, so it is not an
    allowed folder and is kept, but only ever for tasks whose source is the CLI."""


class FolderGrantSpec(_Frozen):
    """A folder the task may use: shown as ``name`` in the sandbox, ``path`` on the host.

    ``path`` is not checked to exist here: a stored task outlives its folders. Whether it
    still holds is decided when the task's sandbox is built (:meth:`TaskSpec.sandbox_policy`)
    and by :func:`errand.tasks.recheck_grants`. ``worker`` is the label of the worker whose
    folder it is (None: the gateway's computer); ``path`` is a path on that worker's host.
    """

    name: str = Field(min_length=1, max_length=128)
    path: str = Field(min_length=1, max_length=4096)
    mode: FolderMode = FolderMode.READ_ONLY
    origin: GrantOrigin = GrantOrigin.ALLOWED
    worker: str | None = None

    @field_validator("worker")
    @classmethod
    def _worker_name(cls, worker: str | None) -> str | None:
        return worker if worker is None else check_worker_name(worker)

    @field_validator("name")
    @classmethod
    def _mount_name(cls, name: str) -> str:
        if name in (".", "..") or not MOUNT_NAME.match(name):
            raise ValueError(f"folder name {name!r} is not usable as a mount name")
        return name

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: str) -> str:
        if not PurePosixPath(path).is_absolute():
            raise ValueError(f"folder {path!r} must be an absolute path")
        return path

    @classmethod
    def of(cls, grant: FolderGrant, origin: GrantOrigin) -> FolderGrantSpec:
        """The spec of a validated sandbox grant."""
        return cls(name=grant.name, path=str(grant.path), mode=grant.mode, origin=origin)


class Attachment(_Frozen):
    """An untrusted document handed to the task with its request (a webhook's payload, a
    forwarded mail). The model sees it as data, clearly marked, never as the user's words."""

    name: str = Field(min_length=1, max_length=200)
    media_type: str = Field(default="text/plain", min_length=1, max_length=100)
    text: str = Field(max_length=MAX_ATTACHMENT_CHARS)


class TaskSpec(_Frozen):
    """What a task may do and how it runs: model, folders, network, limits, source."""

    version: Literal[1] = SPEC_VERSION
    model: str = Field(min_length=3, max_length=200)
    folders: tuple[FolderGrantSpec, ...] = ()
    network: NetworkSpec = NetworkSpec()
    limits: Limits = Limits()
    max_steps: int | None = Field(default=None, ge=1, le=10_000)
    timeout: float | None = Field(default=None, gt=0, le=7 * 24 * 3600)
    """Seconds for the whole task (each run of it), or no limit."""
    source: TaskSource = TaskSource(kind=SourceKind.CLI)
    toolsets: tuple[str, ...] = ()
    """Extra toolsets the task may use besides the built-in tools (``browser``, ``mcp:git``)."""
    attachments: tuple[Attachment, ...] = ()
    review: bool = False
    """Hold the changes to every granted folder for the user's review."""

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        places = {place_of(folder.worker) for folder in self.folders}
        if len(places) > 1:
            raise ValueError(f"the folders are on {len(places)} workers; a task runs on one")
        return self

    @property
    def runs_on(self) -> str | None:
        """The worker that must run the task (the one its folders are on), or None when any
        runner may (no folders); see ``errand.tasks.workers``."""
        return place_of(self.folders[0].worker) if self.folders else None

    @field_validator("model")
    @classmethod
    def _provider_and_model(cls, model: str) -> str:
        provider, colon, name = model.partition(":")
        if not (provider and colon and name):
            raise ValueError(f"model {model!r} must be named PROVIDER:MODEL")
        return model

    def sandbox_policy(self, session: str) -> SandboxPolicy:
        """The sandbox policy of one run of the task, whose sandbox session is ``session``.

        Raises:
            PolicyError: a folder no longer exists, or the grants overlap, in one sentence.
        """
        grants = []
        for folder in self.folders:
            try:
                grants.append(
                    FolderGrant(path=Path(folder.path), mode=folder.mode, name=folder.name)
                )
            except ValidationError:
                raise PolicyError(
                    f"the folder {folder.name!r} no longer exists on the computer"
                ) from None
        return SandboxPolicy.build(
            session=session, folders=grants, network=self.network, limits=self.limits
        )

    def mount_path(self, session: str, name: str) -> str:
        """Where the granted folder ``name`` appears inside the sandbox of ``session``."""
        return mount_path(session, name)

    def to_json(self) -> str:
        """The stored form."""
        return self.model_dump_json()

    @classmethod
    def parse(cls, text: str | bytes) -> TaskSpec:
        """Read a stored spec.

        Raises:
            SpecError: not a spec of the current version.
        """
        if cls is TaskSpec and len(text) <= _CACHED_SPEC_CHARS:
            # Every page of a task list reads its tasks' specs again; a spec is immutable.
            return _parse_cached(text)
        return cls._validate(text)

    @classmethod
    def _validate(cls, text: str | bytes) -> TaskSpec:
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise SpecError(f"not a valid task spec: {_first(exc)}") from exc


_CACHED_SPEC_CHARS = 8192


@functools.lru_cache(maxsize=2048)
def _parse_cached(text: str | bytes) -> TaskSpec:
    return TaskSpec._validate(text)


def _first(exc: ValidationError) -> str:
    problems = exc.errors()
    if not problems:
        return "invalid"
    where = ".".join(str(p) for p in problems[0].get("loc", ()))
    message = str(problems[0].get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
