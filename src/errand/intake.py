"""The one way a task starts: validate, resolve model and grants, store it queued, wake.

Every entry point (``errand run``, ``POST /api/v1/tasks``, schedules, inbound hooks, chat)
builds a :class:`TaskRequest` and calls :meth:`Intake.submit`. Intake is the only place a
:class:`~errand.tasks.TaskSpec` is built: the model (the request's, else the configured
default), the folders (allowed folders chosen by name; host paths only from the owner's CLI),
the network rules (``errand.toml`` widened by the request's domains) and the limits. A
refused request raises :class:`IntakeError` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from errand.access import list_folders
from errand.agent import message_to_json, opening_messages
from errand.config import config_path, configured_model, configured_models
from errand.models import InvalidScript, UnknownProvider, resolve_model
from errand.sandbox import FolderGrant, FolderMode, NetworkPolicy, SandboxPolicy
from errand.store import Lease, Store, TaskRecord
from errand.tasks import (
    Attachment,
    FolderGrantSpec,
    GrantOrigin,
    SourceKind,
    TaskSource,
    TaskSpec,
    place_of,
)

MAX_PROMPT_CHARS = 100_000

_RANK = {FolderMode.READ_ONLY: 0, FolderMode.READ_WRITE: 1}


class IntakeError(ValueError):
    """A request that cannot become a task; ``message`` is one sentence for the user and
    ``code`` the API's error code (``no_model``, ``unknown_model``, ``unknown_folder``,
    ``folder_mode_not_allowed``, ``folder_unavailable``, ``folders_on_two_workers``,
    ``invalid_folder``, ``invalid_domain``, ``invalid_request``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class FolderChoice:
    """An allowed folder chosen by name, and the mode wanted (at most the folder's)."""

    name: str
    mode: FolderMode = FolderMode.READ_ONLY


@dataclass(frozen=True)
class TaskRequest:
    """What someone asks for. ``host_folders`` are host paths the owner grants at the
    computer; they are accepted only with a ``cli`` source. Everyone else picks ``folders``
    among the allowed ones by name."""

    prompt: str
    folders: Sequence[FolderChoice] = ()
    host_folders: Sequence[FolderGrant] = ()
    allow_domains: Sequence[str] = ()
    model: str | None = None
    max_steps: int | None = None
    timeout: float | None = None
    source: TaskSource = field(default_factory=lambda: TaskSource(kind=SourceKind.API))
    toolsets: Sequence[str] | None = None
    attachments: Sequence[Attachment] = ()
    title: str | None = None
    review: bool = False


@dataclass(frozen=True)
class IntakeSettings:
    """What the computer's configuration says about new tasks.

    ``base_policy`` is the ``[sandbox]`` table of ``errand.toml``: its network rules and
    limits apply to every task, its folders are the owner's host grants and go to CLI tasks
    only. Scripted models (``script:PATH`` reads a host file) are accepted from other
    sources only with ``allow_scripted_models`` (a gateway whose own default is scripted:
    demos and tests).
    """

    default_model: str | None = None
    models: tuple[str, ...] = ()
    """The models a phone offers to pick from: the default first, then ``models`` from
    ``errand.toml``. A request may still name any other model."""
    base_policy: SandboxPolicy = field(default_factory=SandboxPolicy)
    allow_scripted_models: bool = False
    default_toolsets: tuple[str, ...] = ()
    toolsets_available: frozenset[str] | None = None
    """The toolsets a request may name (``browser``, ``mcp:NAME``); None: not checked."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> IntakeSettings:
        """Read ``model`` (or ``$ERRAND_MODEL``), ``models`` and ``[sandbox]``.

        Raises:
            ValueError: a malformed ``[sandbox]`` table, in one sentence.
        """
        table = config.get("sandbox", {})
        if not isinstance(table, dict):
            raise ValueError("[sandbox] must be a table")
        base = SandboxPolicy.from_toml(table, base=config_path()) if table else SandboxPolicy()
        model = configured_model(dict(config))
        return cls(
            default_model=model,
            models=configured_models(dict(config)),
            base_policy=base,
            allow_scripted_models=bool(model and model.strip().lower().startswith("script:")),
        )


class Intake:
    """Turns requests into stored, queued tasks; see the module docstring."""

    def __init__(
        self,
        store: Store,
        *,
        config: IntakeSettings,
        wake: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self._wake = wake

    async def submit(self, request: TaskRequest, *, lease: Lease | None = None) -> TaskRecord:
        """Validate ``request``, store the task ``queued`` and wake the runner.

        With ``lease`` the task is stored already claimed by that runner (``errand run``
        runs the task it created itself) and no runner is woken.

        Raises:
            IntakeError: the request cannot be met; nothing was stored.
        """
        if not request.prompt.strip():
            raise IntakeError("invalid_request", "The task needs a request: the prompt is empty.")
        if len(request.prompt) > MAX_PROMPT_CHARS:
            raise IntakeError(
                "invalid_request", f"The prompt is longer than {MAX_PROMPT_CHARS} characters."
            )
        if request.title is not None and not 0 < len(request.title) <= 200:
            raise IntakeError("invalid_request", "The title must be 1 to 200 characters.")
        spec = await self.build_spec(request)
        opening = [message_to_json(m) for m in opening_messages(request.prompt, spec.attachments)]
        task = await self.store.create_task(
            request.prompt, spec=spec, title=request.title, opening=opening, lease=lease
        )
        if self._wake is not None and lease is None:
            await self._wake(task.id)
        return task

    async def build_spec(self, request: TaskRequest) -> TaskSpec:
        """The spec ``request`` would get (nothing is stored).

        Raises:
            IntakeError: as for :meth:`submit`.
        """
        model = self._model(request)
        base = self.config.base_policy
        folders = await self._folders(request)
        _one_worker(folders)
        try:
            network = NetworkPolicy(
                allow_domains=(*base.network.allow_domains, *request.allow_domains),
                deny_domains=base.network.deny_domains,
                allow_cidrs=base.network.allow_cidrs,
            )
        except ValidationError as exc:
            raise IntakeError("invalid_domain", _first_error(exc)) from exc
        try:
            # Built once as a sandbox policy: overlapping or clashing folders are refused now.
            # A worker's folders are on its host, not here: that worker checks them.
            SandboxPolicy(
                folders=tuple(
                    FolderGrant(path=Path(f.path), mode=f.mode, name=f.name)
                    for f in folders
                    if f.worker is None
                ),
                network=network,
                limits=base.limits,
            )
        except ValidationError as exc:
            raise IntakeError("invalid_folder", _first_error(exc)) from exc
        toolsets = (
            request.toolsets if request.toolsets is not None else self.config.default_toolsets
        )
        available = self.config.toolsets_available
        for name in toolsets:
            if available is not None and name not in available:
                offered = ", ".join(sorted(available))
                raise IntakeError(
                    "unknown_toolset", f"there is no toolset named {name!r} (offered: {offered})"
                )
        try:
            return TaskSpec(
                model=model,
                folders=tuple(folders),
                network=network,
                limits=base.limits,
                max_steps=request.max_steps,
                timeout=request.timeout,
                source=request.source,
                toolsets=tuple(toolsets),
                attachments=tuple(request.attachments),
                review=request.review,
            )
        except ValidationError as exc:
            raise IntakeError("invalid_request", _first_error(exc)) from exc

    def _model(self, request: TaskRequest) -> str:
        model = request.model or self.config.default_model
        if not model:
            raise IntakeError(
                "no_model",
                "No model is configured: name one (for example anthropic:claude-sonnet-4-5, "
                "openai:gpt-4.1 or openai-compat:llama3.2 for a local Ollama), "
                'or set model = "..." in errand.toml or ERRAND_MODEL.',
            )
        scripted = model.strip().lower().startswith("script:")
        remote = request.source.kind is not SourceKind.CLI
        if scripted and remote and not self.config.allow_scripted_models:
            raise IntakeError("unknown_model", "Scripted models are only for local testing.")
        if scripted:
            return model  # its script file is read when the task runs, not here
        try:
            resolve_model(model)
        except (UnknownProvider, InvalidScript) as exc:
            raise IntakeError("unknown_model", str(exc)) from exc
        return model

    async def _folders(self, request: TaskRequest) -> list[FolderGrantSpec]:
        folders: list[FolderGrantSpec] = []
        if request.source.kind is SourceKind.CLI:
            host = (*self.config.base_policy.folders, *request.host_folders)
            folders += [FolderGrantSpec.of(grant, GrantOrigin.HOST) for grant in host]
        elif request.host_folders:
            raise IntakeError(
                "invalid_folder",
                "Only the computer's owner can grant host paths; choose among the allowed "
                "folders by name.",
            )
        if request.folders:
            folders += await self._allowed(request.folders)
        return folders

    async def _allowed(self, choices: Sequence[FolderChoice]) -> list[FolderGrantSpec]:
        """Allowed folders chosen by name, on their stored host paths, at most their mode."""
        allowed = {f.name: f for f in await list_folders(self.store)}
        grants: list[FolderGrantSpec] = []
        seen: set[str] = set()
        for choice in choices:
            folder = allowed.get(choice.name)
            if folder is None:
                raise IntakeError("unknown_folder", f"No allowed folder is named {choice.name!r}.")
            if choice.name in seen:
                raise IntakeError("unknown_folder", f"The folder {choice.name!r} is named twice.")
            seen.add(choice.name)
            try:
                wanted = FolderMode(choice.mode)
            except ValueError:
                raise IntakeError(
                    "invalid_folder", f"A folder's mode must be 'ro' or 'rw', not {choice.mode!r}."
                ) from None
            if _RANK[wanted] > _RANK[folder.mode]:
                raise IntakeError(
                    "folder_mode_not_allowed",
                    f"The folder {folder.name!r} is allowed {folder.mode.value} only, not "
                    f"{wanted.value}.",
                )
            if folder.worker is not None:
                # On the worker's host: checked there when the task runs (recheck_grants).
                grants.append(
                    FolderGrantSpec(
                        name=folder.name, path=str(folder.path), mode=wanted, worker=folder.worker
                    )
                )
                continue
            try:
                grant = FolderGrant(path=folder.path, mode=wanted, name=folder.name)
            except ValidationError:
                raise IntakeError(
                    "folder_unavailable", f"The folder {folder.name!r} is missing on the computer."
                ) from None
            grants.append(FolderGrantSpec.of(grant, GrantOrigin.ALLOWED))
        return grants


def _one_worker(folders: Sequence[FolderGrantSpec]) -> None:
    """Refuse folders of two workers: a task runs on one host, which has only its own."""
    first: dict[str, FolderGrantSpec] = {}
    for folder in folders:
        first.setdefault(place_of(folder.worker), folder)
        if len(first) > 1:
            a, b = first.values()
            raise IntakeError(
                "folders_on_two_workers",
                f"The folders {a.name!r} and {b.name!r} are on different workers "
                f"({_where(a.worker)} and {_where(b.worker)}); a task can only use the "
                "folders of one worker.",
            )


def _where(worker: str | None) -> str:
    return "the gateway's computer" if worker is None else f"the worker {worker!r}"


def _first_error(exc: ValidationError) -> str:
    problems = exc.errors()
    message = str(problems[0].get("msg", "")) if problems else ""
    return message.removeprefix("Value error, ") or "The request is not valid."


__all__ = [
    "FolderChoice",
    "Intake",
    "IntakeError",
    "IntakeSettings",
    "TaskRequest",
]
