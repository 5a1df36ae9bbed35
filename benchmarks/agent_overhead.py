"""Agent loop overhead: prints one JSON object of figures.

- ``loop_ms_per_step``: the loop's own time per step (model call with the scripted model,
  recording events, transcript and usage in SQLite, approvals policy, tool dispatch), with
  the time spent inside tools subtracted, over STEPS steps.
- ``first_request``: the size of what every model call starts with, the system prompt plus
  the tool schemas, in characters and estimated tokens.

Goals: <= 10 ms per step; first request <= 10,000 characters.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from errand.agent import run_task, system_prompt
from errand.agent.budget import estimate_tokens
from errand.models import ScriptedModel
from errand.sandbox import FolderGrant, SandboxPolicy
from errand.skills import SkillCatalog
from errand.store import open_store
from errand.tasks import FolderGrantSpec, GrantOrigin, TaskSpec
from errand.tools import BuiltinToolset, default_tools

STEPS = 60
ROUNDS = 3


def first_request(policy: SandboxPolicy) -> dict[str, int]:
    specs = BuiltinToolset(default_tools(SkillCatalog())).tool_defs()
    schemas = json.dumps(
        [
            {"name": s.name, "description": s.description, "input_schema": s.input_schema}
            for s in specs
        ]
    )
    prompt = system_prompt(policy)
    chars = len(prompt) + len(schemas)
    return {
        "system_prompt_chars": len(prompt),
        "tool_schema_chars": len(schemas),
        "chars": chars,
        "estimated_tokens": estimate_tokens(prompt + schemas),
    }


async def loop_overhead(workdir: Path) -> dict[str, float]:
    folder = workdir / "x"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello\n", encoding="utf-8")
    turn = {
        "text": "Reading.",
        "tool_calls": [{"name": "read_file", "arguments": {"path": "notes.txt"}}],
    }
    script = workdir / "script.json"
    script.write_text(
        json.dumps({"turns": [turn] * (STEPS - 1) + [{"text": "Done."}]}), encoding="utf-8"
    )
    grant = FolderGrantSpec.of(FolderGrant.parse(f"{folder}:rw"), GrantOrigin.HOST)
    spec = TaskSpec(model="script:bench", folders=(grant,), max_steps=STEPS + 1)
    per_step = []
    store = await open_store(f"sqlite+aiosqlite:///{workdir / 'bench.db'}")
    try:
        for _ in range(ROUNDS):
            task = await store.create_task("read notes", spec=spec)
            started = time.perf_counter()
            outcome = await run_task(store, task.id, ScriptedModel.from_file(script))
            elapsed = time.perf_counter() - started
            assert outcome.exit_code == 0, outcome.error
            tool_time = 0.0
            for event in await store.events(task.id, limit=10_000):
                duration = event.payload.get("duration")
                if event.type == "tool.result" and isinstance(duration, int | float):
                    tool_time += duration
            per_step.append((elapsed - tool_time) / STEPS)
    finally:
        await store.aclose()
    return {
        "median": round(statistics.median(per_step) * 1000, 3),
        "max": round(max(per_step) * 1000, 3),
        "steps": STEPS,
        "rounds": ROUNDS,
    }


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ERRAND_HOME"] = str(Path(tmp) / "home")
        figures = {
            "loop_ms_per_step": await loop_overhead(Path(tmp)),
            "first_request": first_request(
                SandboxPolicy(folders=(FolderGrant.parse(f"{tmp}:rw"),))
            ),
            "goals": {"loop_ms_per_step": 10, "first_request_chars": 10_000},
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
