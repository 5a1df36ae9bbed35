"""The figures of a suite: pass@1, pass^K, tokens, overhead; JSON and the HTML report."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from errand.evals import Grade, RunRecord, summarize, to_html


def run(task: str, number: int, passed: bool, *, tokens: int = 10, reason: str = "") -> RunRecord:
    grade = Grade.pass_() if passed else Grade.fail(reason or "failed: it", 0.5)
    return RunRecord(
        task=task,
        kind="files",
        run=number,
        grade=grade,
        status="completed",
        steps=3,
        input_tokens=tokens,
        output_tokens=1,
        wall_seconds=2.0,
        overhead_seconds=0.05 * number,
    )


RECORDS = [
    run("always", 1, True),
    run("always", 2, True),
    run("always", 3, True),
    run("flaky", 1, True),
    run("flaky", 2, False, reason="failed: <b>bold</b> & more"),
    run("flaky", 3, True),
    run("never", 1, False),
    run("never", 2, False),
    run("never", 3, False),
    RunRecord("no-site", "web", 1, Grade.fail("no host"), "skipped", skipped="no host"),
]


def test_pass_at_1_averages_runs_and_pass_hat_k_needs_every_run() -> None:
    summary = summarize("phone", "script:x", 3, RECORDS, 12.5)
    by_name = {t.task: t for t in summary.tasks}
    assert by_name["flaky"].pass_at_1 == round(2 / 3, 4) and not by_name["flaky"].pass_all
    assert by_name["always"].pass_all and by_name["never"].passed == 0
    assert summary.pass_at_1 == round((1 + 2 / 3 + 0) / 3, 4)
    assert summary.pass_all_k == round(1 / 3, 4)
    assert summary.input_tokens == 90 and summary.output_tokens == 9
    assert summary.cost_usd is None
    assert summary.max_overhead_ms == 150.0 and summary.mean_overhead_ms == 100.0
    assert by_name["never"].reasons == ("failed: it",)
    assert "no-site" not in by_name and summary.skipped == ("no-site #1: no host",)


def test_the_json_names_pass_hat_k_and_lists_every_task() -> None:
    data = json.loads(summarize("phone", "script:x", 3, RECORDS, 1.0).to_json())
    assert data["pass_hat_k"] == round(1 / 3, 4) and "pass_all_k" not in data
    assert [t["task"] for t in data["tasks"]] == ["always", "flaky", "never"]
    flaky = [r for r in data["runs"] if r["task"] == "flaky"]
    assert [r["grade"]["passed"] for r in flaky] == [True, False, True]
    assert flaky[1]["grade"]["reason"] == "failed: <b>bold</b> & more"


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_html_report_is_self_contained_with_a_chart_and_escapes_reasons() -> None:
    page = to_html(summarize("phone", "script:<x>", 3, RECORDS, 1.0))
    parsed = _Collect()
    parsed.feed(page)
    assert "svg" in parsed.tags and parsed.tags.count("rect") == 3
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in page  # shown as text, never rendered
    assert "failed: <b>bold</b> & more" in "".join(parsed.text)
    assert "script:<x>" in "".join(parsed.text)
    assert not {"script", "link", "img", "iframe"} & set(parsed.tags)
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
