"""Tasks through the HTTP API: create, list, stream, cancel, follow up, refuse bad input."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from errand.store import JsonInputObject, TaskStatus
from errand.store.access_store import AccessStore
from errand.tasks import TaskSpec
from server.gateway_harness import LiveGateway, SseEvent, live_gateway, read_sse

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")


@pytest.fixture
async def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveGateway]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    async for running in live_gateway(tmp_path):
        yield running


async def events_until_end(live: LiveGateway, task_id: str, after: int = 0) -> list[SseEvent]:
    seen: list[SseEvent] = []
    async with (
        live.client() as client,
        client.stream("GET", f"/api/v1/tasks/{task_id}/events?after={after}") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for item in read_sse(response):
            if isinstance(item, SseEvent):
                seen.append(item)
    return seen


async def test_a_task_created_over_the_api_runs_and_streams_to_its_end(live: LiveGateway) -> None:
    model = live.script([{"text": "All done here."}])
    async with live.client() as client:
        created = await client.post("/api/v1/tasks", json={"prompt": "say done", "model": model})
        assert created.status_code == 201, created.text
        task = created.json()
        assert task["status"] == "queued" and task["source"] == "api"
        events = await events_until_end(live, task["id"])
        assert [int(e.id or 0) for e in events] == list(range(1, len(events) + 1))
        assert events[0].event == "task.created"
        final = json.loads(events[-1].data)
        assert final["type"] == "task.status" and final["payload"]["status"] == "completed"
        texts = [json.loads(e.data)["payload"]["text"] for e in events if e.event == "message"]
        assert texts == ["All done here."]
        listing = (await client.get("/api/v1/tasks", params={"limit": 5})).json()
        assert [t["id"] for t in listing["tasks"]] == [task["id"]]
        assert listing["tasks"][0]["status"] == "completed"


async def test_bad_task_requests_are_refused_and_store_nothing(
    live: LiveGateway, tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    await AccessStore(live.store).add_folder("notes", str(notes), "ro", now=_now())
    model = live.script([{"text": "x"}])
    async with live.client() as client:
        shown = (await client.get("/api/v1/folders")).json()
        assert shown == {"folders": [{"name": "notes", "mode": "ro", "worker": None}]}  # no path
        cases: dict[str, dict[str, Any]] = {
            "unknown_folder": {"folders": [{"name": "secrets", "mode": "ro"}]},
            "folder_mode_not_allowed": {"folders": [{"name": "notes", "mode": "rw"}]},
            "invalid_domain": {"allow_domains": ["not a domain!"]},
            "unknown_model": {"model": "nowhere:model"},
        }
        for code, extra in cases.items():
            answer = await client.post(
                "/api/v1/tasks", json={"prompt": "p", "model": model, **extra}
            )
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["code"] == code
        path_instead = await client.post(
            "/api/v1/tasks",
            json={"prompt": "p", "model": model, "folders": [{"path": "/etc", "mode": "ro"}]},
        )
        assert path_instead.status_code == 422
        assert path_instead.json()["error"]["code"] == "invalid_request"
        no_model = await client.post("/api/v1/tasks", json={"prompt": "p"})
        assert no_model.json()["error"]["code"] == "no_model"
    assert await live.store.list_tasks() == []


async def test_a_granted_folder_is_mounted_and_the_written_file_can_be_downloaded(
    live: LiveGateway, tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    await AccessStore(live.store).add_folder("notes", str(notes), "rw", now=_now())
    model = live.script(
        [
            {
                "tool_calls": [
                    {"name": "write_file", "arguments": {"path": "out.md", "content": "# hi\n"}}
                ]
            },
            {"text": "wrote it"},
        ]
    )
    async with live.client() as client:
        task = (
            await client.post(
                "/api/v1/tasks",
                json={
                    "prompt": "write",
                    "model": model,
                    "folders": [{"name": "notes", "mode": "rw"}],
                },
            )
        ).json()
        assert task["folders"] == [{"name": "notes", "mode": "rw"}]
        await live.wait_status(task["id"], TaskStatus.COMPLETED, TaskStatus.FAILED)
        files = (await client.get(f"/api/v1/tasks/{task['id']}/files")).json()["files"]
        assert [(f["folder"], f["name"], f["size"]) for f in files] == [("notes", "out.md", 5)]
        content = await client.get(
            f"/api/v1/tasks/{task['id']}/files/content", params={"path": files[0]["path"]}
        )
        assert content.status_code == 200
        assert content.content == b"# hi\n"
        assert content.headers["content-disposition"].startswith("attachment")
        assert content.headers["x-content-type-options"] == "nosniff"
        other = await client.get(
            f"/api/v1/tasks/{task['id']}/files/content",
            params={"path": files[0]["path"].replace("out.md", "../../../etc/passwd")},
        )
        assert other.status_code == 404


async def test_cancel_stops_a_running_task(live: LiveGateway) -> None:
    model = live.script(
        [
            {"tool_calls": [{"name": "run_shell", "arguments": {"command": "sleep 30"}}]},
            {"text": "x"},
        ]
    )
    async with live.client() as client:
        task = (await client.post("/api/v1/tasks", json={"prompt": "wait", "model": model})).json()
        await live.wait_status(task["id"], TaskStatus.RUNNING)
        cancelled = await client.post(f"/api/v1/tasks/{task['id']}/cancel")
        assert cancelled.status_code == 202
        assert cancelled.json()["status"] == "cancelled"


async def test_a_follow_up_reopens_a_finished_task(live: LiveGateway) -> None:
    model = live.script([{"text": "first answer"}, {"text": "second answer"}])
    async with live.client() as client:
        task = (await client.post("/api/v1/tasks", json={"prompt": "one", "model": model})).json()
        await live.wait_status(task["id"], TaskStatus.COMPLETED)
        last = (await client.get(f"/api/v1/tasks/{task['id']}")).json()["last_seq"]
        answer = await client.post(f"/api/v1/tasks/{task['id']}/messages", json={"text": "two"})
        assert answer.status_code == 202
        events = await events_until_end(live, task["id"], after=last)
        kinds = [e.event for e in events]
        assert kinds[0] == "message.user"
        texts = [json.loads(e.data)["payload"]["text"] for e in events if e.event == "message"]
        assert texts == ["second answer"]


async def test_a_follow_up_is_stored_before_it_is_acknowledged(live: LiveGateway) -> None:
    model = live.script(
        [
            {"tool_calls": [{"name": "run_shell", "arguments": {"command": "sleep 30"}}]},
            {"text": "x"},
        ]
    )
    async with live.client() as client:
        task = (await client.post("/api/v1/tasks", json={"prompt": "wait", "model": model})).json()
        seen = 0
        while not any(e.type == "tool.call" for e in await live.store.events(task["id"])):
            found = await live.store.wait_for_events(task["id"], seen, timeout=30)
            assert found, "the task never called its tool"
            seen = found[-1].seq
        answer = await client.post(f"/api/v1/tasks/{task['id']}/messages", json={"text": "two"})
        assert answer.status_code == 202
        stored = [e.payload for e in await live.store.events(task["id"])]
        assert {"text": "two"} in stored
        await client.post(f"/api/v1/tasks/{task['id']}/cancel")


async def test_a_message_sent_while_a_question_waits_is_shown_at_once_and_answers_it(
    live: LiveGateway,
) -> None:
    ask = {"name": "ask_user", "arguments": {"question": "Which folder should I tidy?"}}
    model = live.script(
        [
            {"tool_calls": [ask]},
            {"expect_tool_results": [{"contains": "Downloads"}], "text": "Tidying Downloads."},
        ]
    )
    async with live.client() as client:
        task = (await client.post("/api/v1/tasks", json={"prompt": "tidy", "model": model})).json()
        seen = 0
        while not any(e.type == "question.asked" for e in await live.store.events(task["id"])):
            found = await live.store.wait_for_events(task["id"], seen, timeout=30)
            assert found, "the task never asked its question"
            seen = found[-1].seq
        answer = await client.post(
            f"/api/v1/tasks/{task['id']}/messages", json={"text": "Downloads"}
        )
        assert answer.status_code == 202
        assert answer.json()["pending_questions"] == 0
        # Shown as the user's message and recorded as the answer before the 202.
        after = [(e.type, e.payload) for e in await live.store.events(task["id"], after_seq=seen)]
        assert ("message.user", {"text": "Downloads"}) in after
        answered = [p for t, p in after if t == "question.answered"]
        assert answered and answered[0]["answer"] == "Downloads"
        assert answered[0]["answered_by"] == "message"
        await live.wait_status(task["id"], TaskStatus.COMPLETED)
    transcript = await live.store.transcript(task["id"])
    # The model got it once: as the answer to its question, not again as a new message.
    given = [m for m in transcript if m["role"] != "assistant" and "Downloads" in json.dumps(m)]
    assert [m["role"] for m in given] == ["tool"]


async def test_resume_refuses_a_task_that_was_not_interrupted(live: LiveGateway) -> None:
    model = live.script([{"text": "x"}])
    async with live.client() as client:
        task = (await client.post("/api/v1/tasks", json={"prompt": "one", "model": model})).json()
        await live.wait_status(task["id"], TaskStatus.COMPLETED)
        answer = await client.post(f"/api/v1/tasks/{task['id']}/resume")
        assert answer.status_code == 409
        assert answer.json()["error"]["code"] == "not_interrupted"
        missing = await client.get("/api/v1/tasks/nosuchtask")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "task_not_found"


def _now() -> datetime:
    return datetime.now(UTC)


async def test_a_screenshot_artifact_is_listed_and_served(
    live: LiveGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    task = await live.store.create_task("look", spec=TaskSpec(model="script:none"))
    shots = tmp_path / "home" / "artifacts" / task.id
    shots.mkdir(parents=True)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    (shots / "screenshot-1.png").write_bytes(png)
    (tmp_path / "home" / "artifacts" / "secret.png").write_bytes(b"other")
    result: JsonInputObject = {
        "call_id": "c1",
        "tool": "browser_take_screenshot",
        "is_error": False,
    }
    await live.store.append_event(
        task.id,
        "tool.result",
        {**result, "content": "saved", "files": ["/artifacts/screenshot-1.png"]},
    )
    await live.store.append_event(
        task.id, "tool.result", {**result, "content": "x", "files": ["/artifacts/../secret.png"]}
    )
    async with live.client() as client:
        files = (await client.get(f"/api/v1/tasks/{task.id}/files")).json()["files"]
        assert [(f["folder"], f["name"], f["size"]) for f in files] == [
            ("artifacts", "screenshot-1.png", len(png))
        ]
        content = await client.get(
            f"/api/v1/tasks/{task.id}/files/content", params={"path": files[0]["path"]}
        )
        assert content.status_code == 200 and content.content == png
        escape = await client.get(
            f"/api/v1/tasks/{task.id}/files/content", params={"path": "/artifacts/../secret.png"}
        )
        assert escape.status_code == 404
