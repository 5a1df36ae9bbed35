"""The browser tool: prints one JSON object of figures.

- ``start_to_first_snapshot_s``: from a task's first browser call to its first page snapshot:
  the Playwright driver and Chromium started inside a fresh sandbox session, one clean
  context, a local page loaded, its ARIA snapshot taken (median of ROUNDS fresh starts).
- ``action_ms``: one ``browser_click`` with the new snapshot it returns (and the form reading
  done for approvals), on a local page whose button changes the page (median and p90 of
  ACTIONS clicks).
- ``early_start``: the same with the browser started in the background as the task begins
  (``start_early``, the default for tasks): ``ready_s`` is how long after the task began the
  browser was ready, ``first_snapshot_ms`` how long the model's first call then takes (when
  the model's first answer takes longer than ``ready_s``, this is all the model waits).
- ``start_steps_ms``: where the first call's time went (medians over the rounds): finding the
  driver's compile cache, the sandbox's spawn with the driver's boot until Playwright answers,
  Chromium's launch, the clean context, the first page (its renderer), and then setting the
  page and the snapshot tool (ARIA snapshot, title, form reading).
- ``compile_cache_made_s``: how long making the driver's Node.js compile cache took, before
  the rounds, when this data directory had none yet (about 0 when it had one; None when it
  could not be made). Every round then starts with it, as every browser after the first does.
- ``chromium``: which binary ran (the headless shell when installed).
- ``memory_mb``: proportional set size of everything the task's browser runs (driver and
  Chromium processes), after the clicks.
- ``memory_cap``: the task browser's memory cgroup (where the sandbox can make one): its cap
  and the most it used in a round (``peak_mb``, the kernel's count of the pages charged to
  the browser: memory it alone caused, so less than the PSS above, which also shares out the
  program's pages already in memory).
- ``cpu_s``: processor time (user + system) the browser's processes and Errand used for the
  start and per action: unlike wall time, it does not grow when other work loads the machine
  (``load_average_1m`` says how loaded it was).

Goals on a 2-core machine: <= 1.5 s to the first snapshot, <= 300 ms per action.
The page is set directly in the browser (no network), so the figures are the browser's own.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from pathlib import Path

from errand.browser import MEMORY_MB, BrowserToolset, chromium_path, ensure_compile_cache
from errand.models import ToolCall
from errand.sandbox import Sandbox, SandboxPolicy
from errand.tools import ToolContext

ROUNDS = 3
ACTIONS = 20

PAGE = """<!doctype html><title>Bench</title><h1>Counter</h1>
<form action="/next" method="post"><label>Name <input name="name"></label>
<select name="plan"><option>Basic</option><option>Pro</option></select>
<label><input type="checkbox" name="news"> News</label></form>
<p id="count">clicked 0 times</p><button id="more" type="button">More</button>
<ul id="items"></ul>
<script>
let n = 0;
document.getElementById("more").onclick = () => {
  n += 1;
  document.getElementById("count").textContent = "clicked " + n + " times";
  const li = document.createElement("li"); li.textContent = "item " + n;
  document.getElementById("items").appendChild(li);
};
</script>"""


async def _no_questions(text: str) -> str:
    return ""


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text(encoding="utf-8")
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _cpu_s(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    own = os.times()
    return ticks / os.sysconf("SC_CLK_TCK") + own.user + own.system


def _pss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="utf-8").splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


STEPS = ("compile_cache", "driver", "launch", "context", "page", "content_and_snapshot")


async def one_round(
    index: int, *, actions: int
) -> tuple[float, list[float], float, float, float, float | None, list[float]]:
    policy = SandboxPolicy.build(session=f"bench-browser-{index}")
    async with Sandbox(policy) as sandbox:
        ctx = ToolContext(sandbox=sandbox, policy=policy, roots={}, ask_user=_no_questions)
        toolset = BrowserToolset(ctx, artifacts=Path("/tmp/errand-bench-artifacts"))
        try:
            cpu_before = _cpu_s([])
            started = time.perf_counter()
            page = await toolset.session.page("bench")
            await page.set_content(PAGE)
            snapshot = await toolset.invoke(ToolCall("s", "browser_snapshot", "{}"), ctx)
            first = time.perf_counter() - started
            assert "[ref=" in snapshot.content, snapshot.content
            done = toolset.session.start_steps
            assert done is not None
            steps = [done.compile_cache, done.driver, done.launch, done.context, done.page]
            steps.append(first - done.total)
            root = toolset.session.driver_pid
            assert root is not None
            cpu_start = _cpu_s(_tree(root)) - cpu_before
            ref = next(
                line.split("[ref=")[1].split("]")[0]
                for line in snapshot.content.splitlines()
                if 'button "More"' in line
            )
            timings = []
            cpu_before = _cpu_s(_tree(root))
            for _ in range(actions):
                call = ToolCall("c", "browser_click", json.dumps({"ref": ref}))
                began = time.perf_counter()
                out = await toolset.invoke(call, ctx)
                timings.append((time.perf_counter() - began) * 1000)
                assert not out.is_error, out.content
            cpu_action = (_cpu_s(_tree(root)) - cpu_before) / actions
            memory = _pss_mb(_tree(root))
            peak = toolset.session.memory_peak_mb()
        finally:
            await toolset.aclose()
    return first, timings, memory, cpu_start, cpu_action, peak, steps


async def early_round(index: int) -> tuple[float, float]:
    policy = SandboxPolicy.build(session=f"bench-early-{index}")
    async with Sandbox(policy) as sandbox:
        ctx = ToolContext(sandbox=sandbox, policy=policy, roots={}, ask_user=_no_questions)
        toolset = BrowserToolset(
            ctx, artifacts=Path("/tmp/errand-bench-artifacts"), start_early=True
        )
        try:
            began = time.perf_counter()
            await toolset.list_tools(ctx)
            page = await toolset.session.page("bench")
            ready = time.perf_counter() - began
            await page.set_content(PAGE)
            started = time.perf_counter()
            snapshot = await toolset.invoke(ToolCall("s", "browser_snapshot", "{}"), ctx)
            first = time.perf_counter() - started
            assert "[ref=" in snapshot.content, snapshot.content
        finally:
            await toolset.aclose()
    return ready, first


async def main() -> None:
    began = time.perf_counter()
    cache = await ensure_compile_cache()
    made = round(time.perf_counter() - began, 3) if cache is not None else None
    firsts: list[float] = []
    actions: list[float] = []
    memory: list[float] = []
    cpu_start: list[float] = []
    cpu_action: list[float] = []
    peaks: list[float] = []
    steps: list[list[float]] = []
    for index in range(ROUNDS):
        first, timings, mb, cpu_first, cpu_click, peak, took = await one_round(
            index, actions=ACTIONS
        )
        steps.append(took)
        if peak is not None:
            peaks.append(peak)
        firsts.append(first)
        actions += timings
        memory.append(mb)
        cpu_start.append(cpu_first)
        cpu_action.append(cpu_click)
    early = [await early_round(index) for index in range(ROUNDS)]
    actions.sort()
    print(
        json.dumps(
            {
                "start_to_first_snapshot_s": round(statistics.median(firsts), 3),
                "start_to_first_snapshot_runs_s": [round(f, 3) for f in firsts],
                "start_steps_ms": {
                    name: round(statistics.median(took[i] for took in steps) * 1000)
                    for i, name in enumerate(STEPS)
                },
                "action_ms": {
                    "median": round(statistics.median(actions), 1),
                    "p90": round(actions[int(len(actions) * 0.9) - 1], 1),
                    "n": len(actions),
                },
                "early_start": {
                    "ready_s": round(statistics.median(r for r, _ in early), 3),
                    "first_snapshot_ms": round(statistics.median(f for _, f in early) * 1000, 1),
                },
                "compile_cache_made_s": made,
                "chromium": chromium_path(),
                "memory_mb": round(statistics.median(memory), 1),
                "memory_cap": {
                    "cap_mb": MEMORY_MB if peaks else None,
                    "peak_mb": round(statistics.median(peaks), 1) if peaks else None,
                },
                "cpu_s": {
                    "start_to_first_snapshot": round(statistics.median(cpu_start), 2),
                    "per_action": round(statistics.median(cpu_action), 3),
                },
                "cpus": os.cpu_count(),
                "load_average_1m": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
