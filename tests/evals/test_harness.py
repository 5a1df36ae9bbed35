"""The harness around each task: the scripted user, machines without a site host, isolation."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType

import pytest

import errand.evals.harness
from errand.evals import EvalSettings, NetHostUnavailable, load_suite, run_suite

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")

TWO_COMMANDS = {
    "turns": [
        {"tool_calls": [{"name": "run_shell", "arguments": {"command": "echo one > one.txt"}}]},
        {"tool_calls": [{"name": "run_shell", "arguments": {"command": "echo two > two.txt"}}]},
        {"text": "Done."},
    ]
}
GRADE_FILES = """from errand.evals import Checks, Grade, TaskResult


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    checks.expect(result.read("box", "one.txt") == "one\\n", "the approved command ran")
    checks.expect(result.read("box", "two.txt") is None, "the denied command did not")
    decided = [d.status for d in result.approvals_decided()]
    checks.expect(decided == ["approved", "denied"], "the user approved, then denied")
    return checks.grade()
"""


def write_task(suite: Path, name: str, front: str, grader: str, script: object) -> None:
    task = suite / name
    (task / "scripts").mkdir(parents=True)
    (task / "task.md").write_text(f"---\n{front}---\nDo it.\n", encoding="utf-8")
    (task / "grade.py").write_text(grader, encoding="utf-8")
    (task / "scripts" / "pass.json").write_text(json.dumps(script), encoding="utf-8")


async def test_the_users_script_answers_approvals_in_order(tmp_path: Path) -> None:
    write_task(
        tmp_path / "s",
        "approvals",
        "title: T\nkind: approval\nfolders: {box: rw}\napprovals: {kinds: {shell: ask}}\n"
        "user: {approvals: [approve, deny]}\n",
        GRADE_FILES,
        TWO_COMMANDS,
    )
    (record,) = await run_suite(
        load_suite(tmp_path / "s"), EvalSettings(model="script:{task}/scripts/pass.json")
    )
    assert record.grade.passed, record.grade.reason
    assert record.steps == 3 and record.tool_calls == 2 and record.status == "completed"


class NoHost:
    def __enter__(self) -> NoHost:
        raise NetHostUnavailable("building a namespace host needs root")

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass


async def test_site_tasks_are_skipped_where_no_site_host_can_be_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(errand.evals.harness, "SiteHost", NoHost)
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "mine"))
    done = {"turns": [{"text": "Done."}]}
    passing = "from errand.evals import Grade\n\ndef grade(result):\n    return Grade.pass_()\n"
    write_task(tmp_path / "s", "a-web", "title: T\nkind: web\nsite: true\n", passing, done)
    write_task(tmp_path / "s", "b-local", "title: T\nkind: notes\n", passing, done)
    web, local = await run_suite(
        load_suite(tmp_path / "s"), EvalSettings(model="script:{task}/scripts/pass.json")
    )
    assert web.skipped == "no local site host on this machine: building a namespace host needs root"
    assert not web.grade.passed and web.status == "skipped"
    assert local.skipped is None and local.grade.passed
    # The user's own Errand home was set aside for the run and is back, untouched.
    assert os.environ["ERRAND_HOME"] == str(tmp_path / "mine")
    assert not (tmp_path / "mine").exists()
