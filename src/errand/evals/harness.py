"""Running a suite: every task as a normal Errand task, graded on what it left behind.

Each run of a task gets a fresh copy of its starting folders in a temporary directory,
granted to it as the owner's CLI would; a fresh copy of its local site on the namespace host;
and its own scripted user answering approvals and questions. It is submitted through
:class:`~errand.intake.Intake` to a :class:`~errand.runner.LocalRunner`, exactly as
``errand run`` tasks are, against a store of its own: the suite never touches the user's
tasks, folders, skills or configuration (``ERRAND_HOME`` points at the suite's temporary
directory while it runs). When the task has ended, its grader gets a
:class:`~errand.evals.TaskResult`.

The harness's own time per task (copying, submitting, reading the log, grading) is measured
apart from the task's and reported as ``overhead_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from errand.agent import TaskOptions, builtin_toolsets, with_browser
from errand.evals.nethost import NetHostUnavailable
from errand.evals.results import Grade, SiteRequest, TaskResult, Verified
from errand.evals.scripted_user import ScriptedUser
from errand.evals.sites import SiteHost
from errand.evals.suite import EvalTask, Suite
from errand.evals.verify import run_verify
from errand.events import AssistantMessage, ToolCalled, UsageRecorded
from errand.intake import Intake, IntakeError, IntakeSettings, TaskRequest
from errand.runner import LocalRunner
from errand.sandbox import FolderGrant, FolderMode, NetworkPolicy, SandboxPolicy
from errand.store import Store, TaskRecord, open_store
from errand.tasks import SourceKind, TaskSource

_GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class EvalSettings:
    """How to run a suite. ``model`` is ``PROVIDER:MODEL``; in a ``script:PATH`` model,
    ``{task}`` stands for each task's folder (``script:{task}/scripts/pass.json``)."""

    model: str
    runs: int = 1
    parallel: int = 2
    keep: Path | None = None
    """Keep each run's folders under this directory (``runs/<task>-<n>/``) to inspect,
    instead of a temporary directory removed at the end."""
    models: Mapping[str, str] = field(default_factory=dict)
    """Models for some tasks instead of ``model``, by task name."""


@dataclass(frozen=True)
class RunRecord:
    """One graded run of one task. ``skipped`` says why a run could not be made (then
    ``grade`` is a fail saying so); ``steps`` counts model calls."""

    task: str
    kind: str
    run: int
    grade: Grade
    status: str
    steps: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    wall_seconds: float = 0.0
    overhead_seconds: float = 0.0
    """The harness's own time: preparing and submitting the task, reading its log, grading."""
    verify_seconds: float = 0.0
    """Time spent running the task's ``verify`` commands in their sandbox."""
    skipped: str | None = None


Progress = Callable[[RunRecord], None]


@dataclass(frozen=True)
class _Run:
    """One run of one task: its work directory and the title the runner knows it by."""

    task: EvalTask
    number: int
    work: Path
    title: str
    options: TaskOptions


async def run_suite(
    suite: Suite, settings: EvalSettings, *, progress: Progress | None = None
) -> list[RunRecord]:
    """Run every task of ``suite`` ``settings.runs`` times, ``settings.parallel`` at a time,
    and return the graded runs in task order. ``progress`` is called as each run ends."""
    if settings.keep is not None:
        settings.keep.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="errand-eval-", dir=settings.keep))
    scratch = Path(tempfile.mkdtemp(prefix="errand-eval-store-", dir=_memory_dir()))
    try:
        with _errand_home(root / "home"), contextlib.ExitStack() as stack:
            sites = _sites(suite, stack)
            store = await open_store(f"sqlite+aiosqlite:///{scratch / 'eval.db'}")
            try:
                return await _Harness(suite, settings, store, root, sites, progress).run()
            finally:
                await store.aclose()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if settings.keep is None:
            shutil.rmtree(root, ignore_errors=True)


def _memory_dir() -> str | None:
    """Where the suite's own store goes: nothing in it outlives the run, so it is kept in
    memory-backed storage when the machine has some (its commits then cost no disk flush)."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _sites(suite: Suite, stack: contextlib.ExitStack) -> SiteHost | str:
    """The site host, or why there is none (only built when a task has a site)."""
    if not any(task.site for task in suite.tasks):
        return "no task has a site"
    try:
        return stack.enter_context(SiteHost())
    except NetHostUnavailable as exc:
        return f"no local site host on this machine: {exc}"


@contextlib.contextmanager
def _errand_home(home: Path) -> Iterator[None]:
    old = os.environ.get("ERRAND_HOME")
    home.mkdir(mode=0o700, parents=True)
    os.environ["ERRAND_HOME"] = str(home)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("ERRAND_HOME", None)
        else:
            os.environ["ERRAND_HOME"] = old


class _Harness:
    def __init__(
        self,
        suite: Suite,
        settings: EvalSettings,
        store: Store,
        root: Path,
        sites: SiteHost | str,
        progress: Progress | None,
    ) -> None:
        self.suite = suite
        self.settings = settings
        self.store = store
        self.root = root
        self.sites = sites
        self.progress = progress
        self.runs: dict[str, _Run] = {}
        self.runner = LocalRunner(
            store,
            concurrency=settings.parallel,
            options_factory=self._options,
            responder_factory=self._responder,
        )

    def _options(self, record: TaskRecord) -> TaskOptions:
        run = self.runs.get(record.title)
        return run.options if run is not None else TaskOptions()

    def _responder(self, record: TaskRecord) -> ScriptedUser | None:
        run = self.runs.get(record.title)
        return ScriptedUser(self.store, run.task.user) if run is not None else None

    async def run(self) -> list[RunRecord]:
        await self.runner.start()
        gate = asyncio.Semaphore(self.settings.parallel)

        async def one(task: EvalTask, number: int) -> RunRecord:
            async with gate:
                record = await self._run_one(task, number)
            if self.progress is not None:
                self.progress(record)
            return record

        try:
            jobs = [
                one(task, number)
                for task in self.suite.tasks
                for number in range(1, self.settings.runs + 1)
            ]
            return list(await asyncio.gather(*jobs))
        finally:
            await self.runner.aclose()

    async def _run_one(self, task: EvalTask, number: int) -> RunRecord:
        started = time.perf_counter()

        def skipped(reason: str) -> RunRecord:
            grade = Grade.fail(reason)
            return RunRecord(task.name, task.kind, number, grade, "skipped", skipped=reason)

        if task.site and isinstance(self.sites, str):
            return skipped(self.sites)
        work = self.root / "runs" / f"{task.name}-{number}"
        options = TaskOptions(
            approvals=task.approvals,
            toolsets=with_browser(work / "artifacts") if task.browser else builtin_toolsets,
        )
        title = f"eval {self.suite.name}/{task.name} #{number}"
        run = _Run(task, number, work, title, options)
        grants, site_url = self._prepare(run)
        try:
            model = self._model(run, site_url)
        except OSError as exc:
            return skipped(f"the model script cannot be read: {exc.strerror or exc}")
        self.runs[run.title] = run
        allow_cidrs = (self.sites.network,) if site_url and isinstance(self.sites, SiteHost) else ()
        intake = Intake(
            self.store,
            config=IntakeSettings(
                base_policy=SandboxPolicy(
                    network=NetworkPolicy.model_validate({"allow_cidrs": list(allow_cidrs)})
                ),
            ),
            wake=self.runner.submit,
        )
        request = TaskRequest(
            prompt=task.prompt.replace("{site}", site_url),
            host_folders=grants,
            allow_domains=task.allow_domains,
            model=model,
            max_steps=task.max_steps,
            timeout=task.timeout,
            source=TaskSource(kind=SourceKind.CLI),
            toolsets=["browser"] if task.browser else [],
            title=run.title,
        )
        try:
            submitted = await intake.submit(request)
        except IntakeError as exc:
            return skipped(f"the task was refused: {exc.message}")
        submitted_at = time.perf_counter()
        ended = await self._wait(submitted.id, task.timeout + _GRACE_SECONDS)
        ended_at = time.perf_counter()
        verified = await run_verify(task.verify, grants) if task.verify else {}
        verified_at = time.perf_counter()
        result, steps, calls = await self._result(run, ended, grants, verified)
        grade = _graded(task, result)
        usage = [e for e in result.events if isinstance(e, UsageRecorded)]
        done = time.perf_counter()
        return RunRecord(
            task=task.name,
            kind=task.kind,
            run=number,
            grade=grade,
            status=str(ended.status),
            steps=steps,
            tool_calls=calls,
            input_tokens=sum(u.input_tokens for u in usage),
            output_tokens=sum(u.output_tokens for u in usage),
            wall_seconds=done - started,
            overhead_seconds=(submitted_at - started) + (done - verified_at),
            verify_seconds=verified_at - ended_at,
        )

    def _prepare(self, run: _Run) -> tuple[list[FolderGrant], str]:
        """Fresh copies of the task's folders and site; the grants and the site's URL."""
        grants = []
        for name, mode in run.task.folders.items():
            copy = run.work / "folders" / name
            source = run.task.starting_folder(name)
            if source.is_dir():
                shutil.copytree(source, copy, symlinks=True)
            else:
                copy.mkdir(parents=True)
            grants.append(FolderGrant(path=copy, mode=FolderMode(mode), name=name))
        run.work.mkdir(parents=True, exist_ok=True)
        site_url = ""
        if run.task.site and isinstance(self.sites, SiteHost):
            site_url = self.sites.publish(run.task.directory / "site", _prefix(run))
        return grants, site_url

    def _model(self, run: _Run, site_url: str) -> str:
        """The model for this run: a task's script is copied with ``{site}`` filled in."""
        chosen = self.settings.models.get(run.task.name, self.settings.model)
        model = chosen.replace("{task}", str(run.task.directory))
        provider, _, rest = model.partition(":")
        if provider.strip().lower() != "script":
            return model
        text = Path(rest).read_text(encoding="utf-8")
        rendered = run.work / "model-script.json"
        rendered.write_text(text.replace("{site}", site_url), encoding="utf-8")
        return f"script:{rendered}"

    async def _wait(self, task_id: str, timeout: float) -> TaskRecord:
        """The task once it has settled (or as it is after ``timeout``; then it is cancelled)."""
        deadline = time.monotonic() + timeout
        task = await self.store.get_task(task_id)
        while not task.status.is_settled:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await self.runner.cancel(task_id)
                return await self.store.get_task(task_id)
            await self.store.wait_for_events(task_id, task.last_seq, timeout=min(remaining, 5.0))
            task = await self.store.get_task(task_id)
        return task

    async def _result(
        self,
        run: _Run,
        task: TaskRecord,
        grants: list[FolderGrant],
        verified: Mapping[str, Verified],
    ) -> tuple[TaskResult, int, int]:
        events = []
        after = 0
        while True:
            page = await self.store.events(task.id, after_seq=after)
            if not page:
                break
            events += [e.event for e in page]
            after = page[-1].seq
        requests: tuple[SiteRequest, ...] = ()
        if run.task.site and isinstance(self.sites, SiteHost):
            requests = await asyncio.to_thread(self.sites.requests, _prefix(run))
        result = TaskResult(
            task=run.task.name,
            status=task.status,
            exit_code=task.exit_code,
            error=task.error,
            events=tuple(events),
            folders={g.name: g.path for g in grants if g.name},
            starting={name: run.task.starting_folder(name) for name in run.task.folders},
            site_requests=requests,
            verified=verified,
        )
        steps = sum(1 for e in events if isinstance(e, AssistantMessage))
        calls = sum(1 for e in events if isinstance(e, ToolCalled))
        return result, steps, calls


def _prefix(run: _Run) -> str:
    return f"{run.task.name}-{run.number}"


def _graded(task: EvalTask, result: TaskResult) -> Grade:
    try:
        return task.grader(result)
    except Exception as exc:  # a grader's bug fails the run with a reason, not the suite
        return Grade.fail(f"the grader failed: {type(exc).__name__}: {exc}")
