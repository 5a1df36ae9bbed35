"""A suite of errands on disk, read into typed tasks.

A suite is a folder (``evals/<suite>/``) with one folder per task::

    <task>/task.md        front matter (YAML between --- lines), then the prompt
    <task>/grade.py       grade(result: TaskResult) -> Grade
    <task>/folders/NAME/  the starting files of the folder NAME (absent: it starts empty)
    <task>/site/          the task's local web site, when ``site: true``
    <task>/scripts/*.json scripted models for CI: pass*.json must pass, fail-*.json must fail

Front matter keys: ``title``, ``kind``, ``folders`` (name → ``ro`` or ``rw``; the first is
the working folder), ``allow_domains``, ``site``, ``browser``, ``approvals`` (as the
``[approvals]`` table of ``errand.toml``), ``user`` (how the task's user answers:
``approvals``, a list of ``approve``/``deny`` used in order, then deny; ``answers``, the
answers to the agent's questions in order), ``max_steps``, ``timeout`` (seconds) and
``verify`` (name → shell command run after the task in a fresh sandbox over its folders,
read-only and offline: graders never run what the agent wrote outside the sandbox).
In the prompt and in the task's scripts, ``{site}`` stands for the local site's URL.
"""

from __future__ import annotations

import fnmatch
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from errand.agent import ApprovalPolicy
from errand.evals.results import Grade, TaskResult

Grader = Callable[[TaskResult], Grade]

_MAX_TASK_MD_BYTES = 256 * 1024


class SuiteError(ValueError):
    """A suite or one of its tasks cannot be read; the message names the file and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserScript(_Strict):
    """How the task's user answers while it runs."""

    approvals: tuple[Literal["approve", "deny"], ...] = ()
    answers: tuple[str, ...] = ()


class _Front(_Strict):
    title: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=40)
    folders: dict[str, Literal["ro", "rw"]] = Field(default_factory=dict)
    allow_domains: tuple[str, ...] = ()
    site: bool = False
    browser: bool = False
    approvals: dict[str, dict[str, str]] = Field(default_factory=dict)
    user: UserScript = UserScript()
    max_steps: int = Field(default=30, ge=1, le=500)
    timeout: float = Field(default=300.0, gt=0, le=3600)
    verify: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class EvalTask:
    """One errand of a suite, read from its folder; see the module docstring."""

    name: str
    directory: Path
    prompt: str
    title: str
    kind: str
    folders: Mapping[str, Literal["ro", "rw"]]
    allow_domains: tuple[str, ...]
    site: bool
    browser: bool
    approvals: ApprovalPolicy
    user: UserScript
    max_steps: int
    timeout: float
    verify: Mapping[str, str]
    """Shell commands run after the task, in a fresh sandbox over the task's folders
    (read-only, no network), whose outcomes the grader reads as ``result.verified[name]``."""
    grader: Grader

    def starting_folder(self, name: str) -> Path:
        """Where the folder ``name``'s starting files are (it may not exist: empty)."""
        return self.directory / "folders" / name

    def scripts(self) -> list[Path]:
        """The task's scripted models, by name."""
        return sorted((self.directory / "scripts").glob("*.json"))


@dataclass(frozen=True)
class Suite:
    name: str
    directory: Path
    tasks: tuple[EvalTask, ...]


def load_suite(directory: Path, *, only: str | None = None) -> Suite:
    """Read every task of the suite in ``directory`` (those whose name matches the glob
    ``only``, when given), in name order.

    Raises:
        SuiteError: the folder is not a suite, no task matches, or a task is malformed.
    """
    if not directory.is_dir():
        raise SuiteError(f"There is no suite folder {directory}.")
    folders = sorted(p for p in directory.iterdir() if (p / "task.md").is_file())
    if not folders:
        raise SuiteError(f"{directory} holds no tasks (folders with a task.md).")
    if only:
        folders = [p for p in folders if fnmatch.fnmatchcase(p.name, only)]
        if not folders:
            raise SuiteError(f"No task of {directory.name} matches {only!r}.")
    return Suite(directory.name, directory, tuple(load_task(p) for p in folders))


def load_task(directory: Path) -> EvalTask:
    """Read one task folder.

    Raises:
        SuiteError: its task.md or grade.py is missing or malformed.
    """
    path = directory / "task.md"
    try:
        text = path.read_text(encoding="utf-8")[:_MAX_TASK_MD_BYTES]
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"Cannot read {path}: {exc}.") from exc
    front_text, prompt = _split_front_matter(text, path)
    try:
        raw = yaml.safe_load(front_text)
        front = _Front.model_validate(raw)
    except yaml.YAMLError as exc:
        raise SuiteError(f"The front matter of {path} is not valid YAML: {exc}.") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the top level"
        raise SuiteError(f"{path} is not valid at {where}: {first['msg']}.") from exc
    try:
        approvals = ApprovalPolicy.from_toml(front.approvals)
    except ValueError as exc:
        raise SuiteError(f"{path}: {exc}.") from exc
    if not prompt.strip():
        raise SuiteError(f"{path} has no prompt after its front matter.")
    return EvalTask(
        name=directory.name,
        directory=directory,
        prompt=prompt.strip(),
        title=front.title,
        kind=front.kind,
        folders=dict(front.folders),
        allow_domains=front.allow_domains,
        site=front.site,
        browser=front.browser,
        approvals=approvals,
        user=front.user,
        max_steps=front.max_steps,
        timeout=front.timeout,
        verify=dict(front.verify),
        grader=_load_grader(directory / "grade.py", directory.name),
    )


def _split_front_matter(text: str, path: Path) -> tuple[str, str]:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise SuiteError(f"{path} must start with front matter between --- lines.")
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "".join(lines[1:index]), "".join(lines[index + 1 :])
    raise SuiteError(f"The front matter of {path} has no closing --- line.")


def _load_grader(path: Path, name: str) -> Grader:
    if not path.is_file():
        raise SuiteError(f"{path.parent} has no grade.py.")
    spec = importlib.util.spec_from_file_location(f"errand_eval_grade_{name}", path)
    if spec is None or spec.loader is None:
        raise SuiteError(f"Cannot load {path}.")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a broken grader is reported like any malformed task
        raise SuiteError(f"{path} failed to load: {type(exc).__name__}: {exc}.") from exc
    grade = getattr(module, "grade", None)
    if not callable(grade):
        raise SuiteError(f"{path} defines no grade(result) function.")
    checked: Grader = grade
    return checked
