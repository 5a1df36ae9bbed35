"""Approvals, questions and idempotent retries through the HTTP API."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from errand.agent import ApprovalPolicy, Verdict
from errand.store import TaskStatus
from errand.tasks import TaskSpec
from server.gateway_harness import LiveGateway, SseEvent, live_gateway, read_sse

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run in-process as root")


@pytest.fixture
async def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveGateway]:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    async for running in live_gateway(tmp_path):
        yield running


async def test_a_question_is_streamed_and_answered_over_the_api(live: LiveGateway) -> None:
    model = live.script(
        [
            {"tool_calls": [{"name": "ask_user", "arguments": {"question": "Which colour?"}}]},
            {"expect_tool_results": [{"contains": "green"}], "text": "Green it is."},
        ]
    )
    async with live.client() as client:
        task = (await client.post("/api/v1/tasks", json={"prompt": "ask", "model": model})).json()
        seen: list[SseEvent] = []
        async with client.stream("GET", f"/api/v1/tasks/{task['id']}/events") as response:
            async for item in read_sse(response):
                if not isinstance(item, SseEvent):
                    continue
                seen.append(item)
                if item.event == "question.asked":
                    question_id = json.loads(item.data)["payload"]["question_id"]
                    answer = await client.post(
                        f"/api/v1/questions/{question_id}/answer", json={"answer": "green"}
                    )
                    assert answer.status_code == 200, (answer.text, seen)
                    again = await client.post(
                        f"/api/v1/questions/{question_id}/answer", json={"answer": "red"}
                    )
                    assert again.status_code == 409
                    assert again.json()["error"]["code"] == "already_answered"
        texts = [json.loads(e.data)["payload"]["text"] for e in seen if e.event == "message"]
        assert texts[-1] == "Green it is."
        assert json.loads(seen[-1].data)["payload"]["status"] == "completed"


async def test_an_approval_is_decided_once_and_only_for_the_digest_shown(live: LiveGateway) -> None:
    # A task held waiting on a question, so it stays open while the approval is decided.
    model = live.script(
        [{"tool_calls": [{"name": "ask_user", "arguments": {"question": "Hold on?"}}]}]
    )
    task = await live.store.create_task("x", spec=TaskSpec(model=model))
    await live.gateway.runner.submit(task.id)
    await live.wait_status(task.id, TaskStatus.WAITING)
    approval = await live.store.create_approval(
        task.id, tool_call_id="c1", action={"tool": "run_shell", "command": "ls"}
    )
    async with live.client() as client:
        listed = (await client.get("/api/v1/approvals", params={"task_id": task.id})).json()
        assert [a["id"] for a in listed["approvals"]] == [approval.id]
        assert listed["approvals"][0]["digest"] == approval.digest
        wrong = await client.post(
            f"/api/v1/approvals/{approval.id}", json={"approve": True, "digest": "0" * 64}
        )
        assert wrong.status_code == 409
        assert wrong.json()["error"]["code"] == "digest_mismatch"
        for hostile in ("é" * 64, "\u202e" + "0" * 63, "\ud7ff" * 3):
            odd = await client.post(
                f"/api/v1/approvals/{approval.id}", json={"approve": True, "digest": hostile}
            )
            assert odd.status_code == 409, odd.text
            assert odd.json()["error"]["code"] == "digest_mismatch"
        decided = await client.post(
            f"/api/v1/approvals/{approval.id}", json={"approve": True, "digest": approval.digest}
        )
        assert decided.status_code == 200
        assert decided.json()["status"] == "approved"
        second = await client.post(
            f"/api/v1/approvals/{approval.id}", json={"approve": False, "digest": approval.digest}
        )
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "already_decided"
    stored = await live.store.get_approval(approval.id)
    assert stored.decided_by is not None and stored.decided_by.startswith("token:")


async def test_a_retried_create_with_the_same_key_makes_one_task(live: LiveGateway) -> None:
    model = live.script([{"text": "once"}])
    body = {"prompt": "only once", "model": model}
    async with live.client() as client:
        headers = {"Idempotency-Key": "phone-retry-1"}
        answers = await asyncio.gather(
            *(client.post("/api/v1/tasks", json=body, headers=headers) for _ in range(3))
        )
        assert {a.status_code for a in answers} == {201}
        assert len({a.json()["id"] for a in answers}) == 1
        later = await client.post("/api/v1/tasks", json=body, headers=headers)
        assert later.json()["id"] == answers[0].json()["id"]
        other = await client.post(
            "/api/v1/tasks", json={**body, "prompt": "something else"}, headers=headers
        )
        assert other.status_code == 422
        assert other.json()["error"]["code"] == "idempotency_key_reused"
    tasks = await live.store.list_tasks()
    assert len(tasks) == 1
    await live.wait_status(tasks[0].id, TaskStatus.COMPLETED)


async def test_a_retried_refusal_is_refused_the_same_way(live: LiveGateway) -> None:
    async with live.client() as client:
        headers = {"Idempotency-Key": "k-2"}
        body = {"prompt": "p", "model": "nowhere:x"}
        first = await client.post("/api/v1/tasks", json=body, headers=headers)
        second = await client.post("/api/v1/tasks", json=body, headers=headers)
    assert first.status_code == second.status_code == 400
    assert first.json() == second.json()


async def test_a_denial_with_a_reason_tells_the_model_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERRAND_HOME", str(tmp_path / "home"))
    policy = ApprovalPolicy(tools={"run_shell": Verdict.ASK})
    async for live in live_gateway(tmp_path, approvals=policy):
        await _deny_with_a_reason(live)


async def _deny_with_a_reason(live: LiveGateway) -> None:
    model = live.script(
        [
            {"tool_calls": [{"name": "run_shell", "arguments": {"command": "rm -r old"}}]},
            {
                "expect_tool_results": [
                    {"is_error": True, "contains": "said: keep the old folder"}
                ],
                "text": "Kept it.",
            },
        ]
    )
    async with live.client() as client:
        task = (await client.post("/api/v1/tasks", json={"prompt": "tidy", "model": model})).json()
        await live.wait_status(task["id"], TaskStatus.WAITING)
        pending = (await client.get("/api/v1/approvals", params={"task_id": task["id"]})).json()
        approval = pending["approvals"][0]
        path = f"/api/v1/approvals/{approval['id']}"
        mixed = await client.post(
            path, json={"approve": True, "digest": approval["digest"], "reason": "why not"}
        )
        assert mixed.status_code == 422
        denied = await client.post(
            path,
            json={
                "approve": False,
                "digest": approval["digest"],
                "reason": " keep the old folder ",
            },
        )
        assert denied.status_code == 200, denied.text
        assert denied.json()["reason"] == "keep the old folder"
        assert denied.json()["decided_by"].startswith("token:")
    await live.wait_status(task["id"], TaskStatus.COMPLETED)
    stored = await live.store.get_approval(approval["id"])
    assert stored.reason == "keep the old folder"
