"""The first suite (``evals/phone``) with scripted models: graders are tested, not trusted.

Every task runs as a normal Errand task (real sandbox, proxy, store) once with each of its
scripts: ``pass*.json`` must pass its grader, ``fail-*.json`` (a model failing in a known
way) must fail it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from errand.evals import EvalSettings, EvalTask, Suite, load_suite, run_suite

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")

SUITE = Path(__file__).resolve().parents[2] / "evals" / "phone"


def variants(suite: Suite) -> tuple[Suite, dict[str, str], dict[str, bool]]:
    """One task per (task, script), named ``task@script``; their models and expectations."""
    tasks: list[EvalTask] = []
    models: dict[str, str] = {}
    expected: dict[str, bool] = {}
    for task in suite.tasks:
        for script in task.scripts():
            name = f"{task.name}@{script.stem}"
            tasks.append(dataclasses.replace(task, name=name))
            models[name] = f"script:{script}"
            expected[name] = script.stem.startswith("pass")
    return dataclasses.replace(suite, tasks=tuple(tasks)), models, expected


def test_the_suite_has_at_least_25_errands_each_with_a_passing_and_a_failing_script() -> None:
    suite = load_suite(SUITE)
    assert len(suite.tasks) >= 25
    for task in suite.tasks:
        stems = [s.stem for s in task.scripts()]
        assert any(s.startswith("pass") for s in stems), task.name
        assert any(s.startswith("fail-") for s in stems), task.name


async def test_every_grader_passes_its_passing_scripts_and_fails_its_failing_ones() -> None:
    suite, models, expected = variants(load_suite(SUITE))
    settings = EvalSettings(model="script:none", models=models, parallel=4)
    records = await run_suite(suite, settings)
    wrong = [
        f"{r.task}: expected {'pass' if expected[r.task] else 'fail'}, got {r.grade.reason}"
        for r in records
        if r.skipped is None and r.grade.passed is not expected[r.task]
    ]
    assert not wrong, "\n".join(wrong)
    skipped = [f"{r.task}: {r.skipped}" for r in records if r.skipped is not None]
    assert not skipped, "\n".join(skipped)
    for record in records:
        if not expected[record.task]:
            assert record.grade.score < 1.0, record.task
