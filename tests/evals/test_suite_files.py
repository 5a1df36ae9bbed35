"""Reading a suite from disk: front matter, prompt, grader; clear errors for bad tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

from errand.agent import Verdict
from errand.evals import Checks, Grade, SuiteError, TaskResult, load_suite, load_task
from errand.store import TaskStatus
from errand.tools import Action, ActionKind

GRADER = "from errand.evals import Grade\n\ndef grade(result):\n    return Grade.pass_()\n"


def make_task(
    root: Path, name: str, front: str, prompt: str = "Do it.", grader: str = GRADER
) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "task.md").write_text(f"---\n{front}---\n{prompt}\n", encoding="utf-8")
    if grader:
        (folder / "grade.py").write_text(grader, encoding="utf-8")
    return folder


def test_a_task_is_read_with_its_settings_and_prompt(tmp_path: Path) -> None:
    folder = make_task(
        tmp_path,
        "t1",
        "title: T\nkind: files\nfolders: {docs: ro, out: rw}\napprovals: {kinds: {shell: ask}}\n"
        "user: {approvals: [approve, deny], answers: [blue]}\nmax_steps: 7\ntimeout: 60\n"
        "verify: {tests: 'true'}\n",
        prompt="Sort {site} things.",
    )
    task = load_task(folder)
    assert task.prompt == "Sort {site} things."
    assert dict(task.folders) == {"docs": "ro", "out": "rw"}
    assert task.approvals.decide(Action("run_shell", ActionKind.SHELL, "ls")) is Verdict.ASK
    assert task.user.approvals == ("approve", "deny") and task.user.answers == ("blue",)
    assert (task.max_steps, task.timeout, dict(task.verify)) == (7, 60.0, {"tests": "true"})
    assert task.grader(_result()).passed


@pytest.mark.parametrize(
    ("text", "grader", "message"),
    [
        ("no front matter\n", GRADER, "must start with front matter"),
        ("---\ntitle: T\nkind: k\n", GRADER, "no closing ---"),
        ("---\ntitle: T\nkind: k\ncolour: red\n---\nDo it.\n", GRADER, "colour"),
        ("---\ntitle: T\nkind: k\nfolders: {a: rwx}\n---\nDo it.\n", GRADER, "folders.a"),
        ("---\ntitle: T\nkind: k\n---\n\n", GRADER, "no prompt"),
        ("---\ntitle: T\nkind: k\napprovals: {kinds: {fly: ask}}\n---\nx\n", GRADER, "fly"),
        ("---\ntitle: T\nkind: k\n---\nDo it.\n", "", "has no grade.py"),
        ("---\ntitle: T\nkind: k\n---\nDo it.\n", "x = 1\n", "defines no grade"),
        ("---\ntitle: T\nkind: k\n---\nDo it.\n", "raise RuntimeError('boom')\n", "boom"),
    ],
)
def test_a_malformed_task_is_refused_with_one_sentence_naming_the_problem(
    tmp_path: Path, text: str, grader: str, message: str
) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "task.md").write_text(text, encoding="utf-8")
    if grader:
        (folder / "grade.py").write_text(grader, encoding="utf-8")
    with pytest.raises(SuiteError, match=message):
        load_task(folder)


def test_a_suite_lists_its_tasks_in_name_order_and_only_filters_them(tmp_path: Path) -> None:
    for name in ("b-two", "a-one", "c-three"):
        make_task(tmp_path, name, "title: T\nkind: k\n")
    (tmp_path / "not-a-task").mkdir()
    assert [t.name for t in load_suite(tmp_path).tasks] == ["a-one", "b-two", "c-three"]
    assert [t.name for t in load_suite(tmp_path, only="*-t*").tasks] == ["b-two", "c-three"]
    with pytest.raises(SuiteError, match="No task"):
        load_suite(tmp_path, only="zzz*")
    with pytest.raises(SuiteError, match="no suite folder"):
        load_suite(tmp_path / "missing")
    with pytest.raises(SuiteError, match="holds no tasks"):
        load_suite(tmp_path / "not-a-task")


def test_checks_give_partial_credit_and_name_the_first_failure() -> None:
    checks = Checks()
    checks.expect(True, "one")
    checks.expect(False, "two")
    checks.expect(False, "three")
    checks.expect(True, "four")
    grade = checks.grade()
    assert grade == Grade(False, "failed: two (and 1 more)", 0.5)
    ok = Checks()
    ok.expect(True, "only")
    assert ok.grade() == Grade(True, "all 1 checks passed", 1.0)
    with pytest.raises(ValueError):
        Checks().grade()


def test_a_result_compares_folders_with_their_starting_files(tmp_path: Path) -> None:
    start, now = tmp_path / "start", tmp_path / "now"
    for root in (start, now):
        (root / "sub").mkdir(parents=True)
        (root / "sub" / "a.txt").write_text("a", encoding="utf-8")
    result = _result(folders={"f": now}, starting={"f": start})
    assert result.unchanged("f") and result.read("f", "sub/a.txt") == "a"
    (now / "b.txt").write_text("b", encoding="utf-8")
    assert not result.unchanged("f")
    assert result.files("f") == {"b.txt": b"b", "sub/a.txt": b"a"}
    assert result.read("f", "missing.txt") is None


def _result(
    folders: dict[str, Path] | None = None, starting: dict[str, Path] | None = None
) -> TaskResult:
    return TaskResult(
        task="t",
        status=TaskStatus.COMPLETED,
        exit_code=0,
        error=None,
        events=(),
        folders=folders or {},
        starting=starting or {},
    )
