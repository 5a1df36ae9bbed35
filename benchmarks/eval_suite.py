"""``errand eval`` speed: prints one JSON object of figures.

Runs the first suite (``evals/phone``) with each task's passing scripted model, as CI does,
twice: one task at a time, to measure the harness alone, then two at a time (the default of
``errand eval``) for the suite's wall time. Reports:

- ``overhead_ms``: the harness's own time per task (copying the folders, submitting through
  intake, reading the task's log and site requests, grading), mean / median / max, measured
  one task at a time (with two at a time each task's timer also counts the other's work);
  the task itself (the runner, the sandbox, the tools) and its ``verify`` commands are not
  in it;
- ``task_seconds``: each run's wall time, one at a time, mean and max;
- ``suite_seconds``: wall time of the whole suite, one and two tasks at a time.

Goals: overhead <= 200 ms per task; the suite under 2 minutes on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

from errand.evals import EvalSettings, RunRecord, load_suite, run_suite

SUITE = Path(__file__).resolve().parents[1] / "evals" / "phone"


def run(parallel: int) -> tuple[list[RunRecord], float]:
    suite = load_suite(SUITE)
    models = {t.name: f"script:{t.directory / 'scripts' / 'pass.json'}" for t in suite.tasks}
    settings = EvalSettings(model="script:none", models=models, parallel=parallel)
    started = time.perf_counter()
    records = asyncio.run(run_suite(suite, settings))
    return records, time.perf_counter() - started


def main() -> None:
    records, alone = run(1)
    _, paired = run(2)
    made = [r for r in records if r.skipped is None]
    overhead = [r.overhead_seconds * 1000 for r in made]
    seconds = [r.wall_seconds for r in made]
    figures = {
        "tasks": len(records),
        "skipped": [f"{r.task}: {r.skipped}" for r in records if r.skipped is not None],
        "passed": sum(1 for r in records if r.grade.passed),
        "suite_seconds": {"one_at_a_time": round(alone, 2), "two_at_a_time": round(paired, 2)},
        "overhead_ms": {
            "mean": round(statistics.fmean(overhead), 1),
            "median": round(statistics.median(overhead), 1),
            "max": round(max(overhead), 1),
        },
        "task_seconds": {
            "mean": round(statistics.fmean(seconds), 2),
            "max": round(max(seconds), 2),
        },
        "goals": {"overhead_ms_max": 200, "suite_seconds_max": 120},
    }
    json.dump(figures, sys.stdout)
    print()


if __name__ == "__main__":
    main()
