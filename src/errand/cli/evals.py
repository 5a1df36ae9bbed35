"""``errand eval``: run a suite of errands with a model and report how often they succeed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from errand.cli import tables
from errand.tasks import ExitCode

if TYPE_CHECKING:
    from errand.evals import RunRecord, SuiteSummary

err = Console(stderr=True, highlight=False, soft_wrap=True)


def eval_(
    suite: Annotated[
        str, typer.Argument(help="A suite folder, or the name of one under ./evals.")
    ] = "phone",
    model: Annotated[
        str,
        typer.Option(
            help="PROVIDER:MODEL; in script:PATH, {task} is each task's folder "
            "(script:{task}/scripts/pass.json)."
        ),
    ] = "",
    runs: Annotated[int, typer.Option(min=1, max=100, help="Runs per task (pass^K).")] = 1,
    only: Annotated[
        str | None, typer.Option(help="Only tasks whose name matches this glob.")
    ] = None,
    parallel: Annotated[int, typer.Option(min=1, max=16, help="Tasks at a time.")] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    report: Annotated[
        Path | None, typer.Option(help="Write a self-contained HTML report here.")
    ] = None,
    min_pass: Annotated[
        float | None,
        typer.Option(min=0, max=1, help="Exit 1 when pass@1 is below this share (0 to 1)."),
    ] = None,
    keep: Annotated[
        Path | None, typer.Option(help="Keep each run's folders under this directory.")
    ] = None,
) -> None:
    """Run each task of SUITE as a normal errand and grade what it left behind."""
    from errand.evals import EvalSettings, SuiteError, load_suite, summarize, to_html

    if not model:
        err.print("errand: name the model to measure with --model PROVIDER:MODEL.")
        raise typer.Exit(ExitCode.USAGE)
    directory = Path(suite)
    if not directory.is_dir() and "/" not in suite:
        directory = Path("evals") / suite
    try:
        loaded = load_suite(directory, only=only)
    except SuiteError as exc:
        err.print(f"errand: {exc}", markup=False)
        raise typer.Exit(ExitCode.USAGE) from exc
    settings = EvalSettings(model=model, runs=runs, parallel=parallel, keep=keep)
    total = len(loaded.tasks) * runs
    finished: list[RunRecord] = []

    def progress(record: RunRecord) -> None:
        finished.append(record)
        if not as_json:
            mark = "[green]pass[/]" if record.grade.passed else "[red]FAIL[/]"
            err.print(
                f"[{len(finished):>3}/{total}] {mark} {record.task} #{record.run} "
                f"({record.wall_seconds:.1f} s) [dim]{record.grade.reason}[/]"
            )

    from errand.evals import run_suite

    started = time.perf_counter()
    records = asyncio.run(run_suite(loaded, settings, progress=progress))
    summary = summarize(loaded.name, model, runs, records, time.perf_counter() - started)
    if as_json:
        typer.echo(summary.to_json())
    else:
        _print_table(summary)
    if report is not None:
        report.write_text(to_html(summary), encoding="utf-8")
        if not as_json:
            err.print(f"report: {report}", markup=False)
    if keep is not None and not as_json:
        err.print(f"each run's folders: {keep}/errand-eval-*/runs/", markup=False)
    if min_pass is not None and summary.pass_at_1 < min_pass:
        raise typer.Exit(ExitCode.FAILED)


def _print_table(summary: SuiteSummary) -> None:
    shown = tables.table("task", "kind", "passed", "score", "steps", "seconds", "tokens", "why not",
                         ids=("task",))  # fmt: skip
    for t in summary.tasks:
        shown.add_row(
            t.task,
            t.kind,
            f"{t.passed}/{t.runs}",
            f"{t.mean_score:.2f}",
            f"{t.mean_steps:g}",
            f"{t.mean_wall_seconds:.1f}",
            str(t.input_tokens + t.output_tokens),
            "; ".join(t.reasons),
        )
    out = tables.console()
    out.print(shown)
    for skipped in summary.skipped:
        out.print(f"skipped {skipped}", markup=False)
    k = summary.runs_per_task
    cost = "" if summary.cost_usd is None else f", cost ${summary.cost_usd:.4f}"
    out.print(
        f"{summary.suite} with {summary.model}: pass@1 {summary.pass_at_1:.1%}, "
        f"pass^{k} {summary.pass_all_k:.1%}, tokens {summary.input_tokens} in / "
        f"{summary.output_tokens} out{cost}, {summary.wall_seconds:.1f} s "
        f"(harness {summary.mean_overhead_ms:.0f} ms per task)",
        markup=False,
    )
