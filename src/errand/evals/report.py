"""A suite's figures from its graded runs: per task and overall, as JSON and as HTML.

Runs that could not be made (a task needing a local site on a machine that cannot serve
one) are listed as skipped and count in no figure.

``pass@1`` is the share of runs that passed (per task, then averaged over tasks);
``pass^K`` the share of tasks whose K runs all passed. Cost is given only where the provider
publishes prices Errand knows; otherwise it is ``null`` and the tokens are the measure.
"""

from __future__ import annotations

import html
import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from errand.evals.harness import RunRecord


@dataclass(frozen=True)
class TaskSummary:
    task: str
    kind: str
    runs: int
    passed: int
    pass_at_1: float
    pass_all: bool
    mean_score: float
    mean_steps: float
    mean_wall_seconds: float
    input_tokens: int
    output_tokens: int
    reasons: tuple[str, ...]
    """The distinct reasons given for failed runs."""


@dataclass(frozen=True)
class SuiteSummary:
    suite: str
    model: str
    runs_per_task: int
    tasks: tuple[TaskSummary, ...]
    pass_at_1: float
    pass_all_k: float
    mean_score: float
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    wall_seconds: float
    mean_overhead_ms: float
    max_overhead_ms: float
    skipped: tuple[str, ...] = ()
    """Runs that could not be made (``task #run: why``); they count in no figure."""
    runs: tuple[RunRecord, ...] = ()
    """Every run, graded, in task order."""

    def to_json(self) -> str:
        data = asdict(self)
        data["pass_hat_k"] = data.pop("pass_all_k")
        return json.dumps(data, indent=2)


def summarize(
    suite: str, model: str, runs: int, records: Sequence[RunRecord], wall_seconds: float
) -> SuiteSummary:
    """Figures for ``records`` (every run of every task of one suite)."""
    made = [r for r in records if r.skipped is None]
    names: dict[str, list[RunRecord]] = {}
    for record in made:
        names.setdefault(record.task, []).append(record)
    tasks = tuple(_task(name, found) for name, found in names.items())
    overheads = [r.overhead_seconds * 1000 for r in made] or [0.0]
    return SuiteSummary(
        suite=suite,
        model=model,
        runs_per_task=runs,
        tasks=tasks,
        pass_at_1=_mean([t.pass_at_1 for t in tasks]),
        pass_all_k=_mean([1.0 if t.pass_all else 0.0 for t in tasks]),
        mean_score=_mean([t.mean_score for t in tasks]),
        input_tokens=sum(t.input_tokens for t in tasks),
        output_tokens=sum(t.output_tokens for t in tasks),
        cost_usd=None,
        wall_seconds=round(wall_seconds, 3),
        mean_overhead_ms=round(statistics.fmean(overheads), 1),
        max_overhead_ms=round(max(overheads), 1),
        skipped=tuple(f"{r.task} #{r.run}: {r.skipped}" for r in records if r.skipped),
        runs=tuple(records),
    )


def _task(name: str, records: list[RunRecord]) -> TaskSummary:
    passed = sum(1 for r in records if r.grade.passed)
    reasons = tuple(dict.fromkeys(r.grade.reason for r in records if not r.grade.passed))
    return TaskSummary(
        task=name,
        kind=records[0].kind,
        runs=len(records),
        passed=passed,
        pass_at_1=round(passed / len(records), 4),
        pass_all=passed == len(records),
        mean_score=round(_mean([r.grade.score for r in records]), 4),
        mean_steps=round(_mean([float(r.steps) for r in records]), 2),
        mean_wall_seconds=round(_mean([r.wall_seconds for r in records]), 3),
        input_tokens=sum(r.input_tokens for r in records),
        output_tokens=sum(r.output_tokens for r in records),
        reasons=reasons,
    )


def _mean(values: Sequence[float]) -> float:
    return round(statistics.fmean(values), 4) if values else 0.0


_BAR_HEIGHT = 18
_CHART_WIDTH = 420
_LABEL_WIDTH = 220


def to_html(summary: SuiteSummary) -> str:
    """A self-contained page: the headline figures, a bar chart of pass@1 per task (inline
    SVG) and the table of tasks. Every value from the suite is escaped."""
    e = html.escape
    height = _BAR_HEIGHT * len(summary.tasks) + 30
    bars = []
    for row, task in enumerate(summary.tasks):
        y = row * _BAR_HEIGHT + 4
        width = round(task.pass_at_1 * _CHART_WIDTH)
        colour = "#2e7d32" if task.pass_all else ("#f9a825" if task.passed else "#c62828")
        bars.append(
            f'<text x="{_LABEL_WIDTH - 6}" y="{y + 12}" text-anchor="end">{e(task.task)}</text>'
            f'<rect x="{_LABEL_WIDTH}" y="{y}" width="{max(width, 1)}" '
            f'height="{_BAR_HEIGHT - 4}" fill="{colour}"><title>{e(task.task)}: '
            f"{task.passed}/{task.runs}</title></rect>"
            f'<text x="{_LABEL_WIDTH + max(width, 1) + 4}" y="{y + 12}">'
            f"{task.pass_at_1:.0%}</text>"
        )
    axis_y = height - 10
    chart = (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{_LABEL_WIDTH + _CHART_WIDTH + 60}" height="{height}" '
        f'font-family="sans-serif" font-size="12">'
        f"<title>pass@1 per task</title>{''.join(bars)}"
        f'<line x1="{_LABEL_WIDTH}" y1="{axis_y}" x2="{_LABEL_WIDTH + _CHART_WIDTH}" '
        f'y2="{axis_y}" stroke="#888"/></svg>'
    )
    rows = "".join(
        f"<tr><td>{e(t.task)}</td><td>{e(t.kind)}</td><td>{t.passed}/{t.runs}</td>"
        f"<td>{t.mean_score:.2f}</td><td>{t.mean_steps:g}</td><td>{t.mean_wall_seconds:.2f}</td>"
        f"<td>{t.input_tokens + t.output_tokens}</td><td>{e('; '.join(t.reasons))}</td></tr>"
        for t in summary.tasks
    )
    cost = "—" if summary.cost_usd is None else f"${summary.cost_usd:.4f}"
    k = summary.runs_per_task
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>errand eval: {e(summary.suite)} with {e(summary.model)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
th {{ background: #f3f3f3; text-align: left; }} .figures td {{ border: none; }}
</style></head><body>
<h1>errand eval: {e(summary.suite)}</h1>
<table class="figures">
<tr><td>model</td><td><b>{e(summary.model)}</b></td></tr>
<tr><td>pass@1</td><td><b>{summary.pass_at_1:.1%}</b></td></tr>
<tr><td>pass^{k}</td><td><b>{summary.pass_all_k:.1%}</b></td></tr>
<tr><td>mean score</td><td>{summary.mean_score:.2f}</td></tr>
<tr><td>tokens (in / out)</td><td>{summary.input_tokens} / {summary.output_tokens}</td></tr>
<tr><td>cost</td><td>{cost}</td></tr>
<tr><td>wall time</td><td>{summary.wall_seconds:.1f} s</td></tr>
<tr><td>skipped</td><td>{e("; ".join(summary.skipped)) or "none"}</td></tr>
</table>
<h2>pass@1 per task</h2>
{chart}
<h2>Tasks</h2>
<table><tr><th>task</th><th>kind</th><th>passed</th><th>score</th><th>steps</th>
<th>seconds</th><th>tokens</th><th>why not</th></tr>
{rows}
</table></body></html>
"""
