"""``errand eval`` from the command line: progress, table, JSON, HTML report, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakes.openai_server import OpenAIFakeServer
from fakes.sse_server import FakeToolCall, FakeTurn

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")

WRITE = {
    "turns": [
        {"tool_calls": [{"name": "write_file", "arguments": {"path": "out.txt", "content": "42"}}]},
        {"text": "Wrote it."},
    ]
}
GRADE_OUT = """from errand.evals import Checks, Grade, TaskResult


def grade(result: TaskResult) -> Grade:
    checks = Checks()
    checks.expect(result.read("box", "out.txt") == "42", "box/out.txt holds 42")
    checks.expect(result.completed, "the task completed")
    return checks.grade()
"""
GRADE_BROKEN = "def grade(result):\n    raise KeyError('nope')\n"


def make_suite(root: Path) -> Path:
    suite = root / "mini"
    for name, grader in (("a-writes", GRADE_OUT), ("b-broken-grader", GRADE_BROKEN)):
        task = suite / name
        (task / "scripts").mkdir(parents=True)
        (task / "task.md").write_text(
            "---\ntitle: Write 42\nkind: files\nfolders: {box: rw}\nmax_steps: 5\n---\n"
            "Write 42 to out.txt.\n",
            encoding="utf-8",
        )
        (task / "grade.py").write_text(grader, encoding="utf-8")
        (task / "scripts" / "pass.json").write_text(json.dumps(WRITE), encoding="utf-8")
    return suite


def errand(
    args: list[str], cwd: Path, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ERRAND_", "OPENAI_"))}
    return subprocess.run(
        [sys.executable, "-m", "errand", *args],
        cwd=cwd,
        env={**env, "ERRAND_HOME": str(cwd / "home"), **(extra or {})},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_json_figures_and_html_report_for_k_runs(tmp_path: Path) -> None:
    suite = make_suite(tmp_path)
    report = tmp_path / "out.html"
    model = "script:{task}/scripts/pass.json"
    done = errand(
        ["eval", str(suite), "--model", model, "--runs", "2", "--json", "--report", str(report),
         "--keep", str(tmp_path / "kept")],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    tasks = {t["task"]: t for t in data["tasks"]}
    assert tasks["a-writes"]["passed"] == 2 and tasks["a-writes"]["pass_all"]
    assert tasks["b-broken-grader"]["passed"] == 0
    assert tasks["b-broken-grader"]["reasons"] == ["the grader failed: KeyError: 'nope'"]
    assert data["pass_at_1"] == 0.5 and data["pass_hat_k"] == 0.5 and data["runs_per_task"] == 2
    assert data["model"] == model and data["cost_usd"] is None
    page = report.read_text(encoding="utf-8")
    assert "<svg" in page and "a-writes" in page
    (kept,) = (tmp_path / "kept").glob("errand-eval-*/runs/a-writes-2/folders/box/out.txt")
    assert kept.read_text(encoding="utf-8") == "42"
    # The suite ran against its own store: the user's task list is untouched.
    assert not (tmp_path / "home").exists()


def test_the_table_shows_progress_and_min_pass_sets_the_exit_code(tmp_path: Path) -> None:
    suite = make_suite(tmp_path)
    model = "script:{task}/scripts/pass.json"
    done = errand(["eval", str(suite), "--model", model, "--min-pass", "0.9"], tmp_path)
    assert done.returncode == 1
    assert "[  1/2]" in done.stderr and "[  2/2]" in done.stderr
    assert "a-writes" in done.stdout and "1/1" in done.stdout
    assert "pass@1 50.0%" in done.stdout
    only = errand(["eval", str(suite), "--model", model, "--only", "a-*"], tmp_path)
    assert only.returncode == 0 and "b-broken-grader" not in only.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "mini"], "--model"),
        (["eval", "nowhere", "--model", "script:x"], "There is no suite folder"),
    ],
)
def test_usage_errors_are_one_sentence_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    make_suite(tmp_path)
    done = errand(args, tmp_path)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_a_model_behind_the_official_sdk_is_measured_with_its_tokens(tmp_path: Path) -> None:
    suite = make_suite(tmp_path)
    write = FakeToolCall("write_file", json.dumps({"path": "out.txt", "content": "42"}))
    with OpenAIFakeServer() as server:
        server.enqueue(FakeTurn(text="Writing.", tool_calls=(write,)), FakeTurn(text="Done."))
        done = errand(
            ["eval", str(suite), "--model", "openai:test-model", "--only", "a-*", "--json"],
            tmp_path,
            {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test-key"},
        )
        prompt = json.dumps(server.posts[0])
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["pass_at_1"] == 1.0 and data["model"] == "openai:test-model"
    assert data["input_tokens"] > 0 and data["output_tokens"] > 0
    assert data["tasks"][0]["mean_steps"] == 2
    assert "Write 42 to out.txt." in prompt
