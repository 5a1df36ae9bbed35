"""The typed task: validated once, stored as JSON, parsed back equal; the sandbox layout."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from errand.sandbox import FolderMode, PolicyError
from errand.tasks import (
    Attachment,
    FolderGrantSpec,
    GrantOrigin,
    NetworkSpec,
    SourceKind,
    SpecError,
    TaskSource,
    TaskSpec,
    TaskStatus,
)


def test_a_spec_round_trips_through_its_stored_json(tmp_path: Path) -> None:
    spec = TaskSpec(
        model="anthropic:test-model",
        folders=(FolderGrantSpec(name="notes", path=str(tmp_path), mode=FolderMode.READ_WRITE),),
        network=NetworkSpec(allow_domains=("example.org",)),
        max_steps=7,
        timeout=30,
        source=TaskSource(kind=SourceKind.SCHEDULE, ref="sch_1"),
        toolsets=("browser",),
        attachments=(Attachment(name="payload.json", media_type="application/json", text="{}"),),
    )
    assert TaskSpec.parse(spec.to_json()) == spec
    assert '"version":1' in spec.to_json()


@pytest.mark.parametrize(
    "text",
    [
        '{"version": 2, "model": "a:b"}',
        '{"version": 1, "model": "no-provider"}',
        '{"version": 1, "model": "a:b", "folders": [{"name": "x", "path": "relative"}]}',
        '{"version": 1, "model": "a:b", "surprise": true}',
        "not json",
    ],
)
def test_anything_but_a_current_spec_is_refused_in_one_sentence(text: str) -> None:
    with pytest.raises(SpecError) as info:
        TaskSpec.parse(text)
    assert "\n" not in str(info.value)


def test_a_stored_spec_read_again_is_the_same_immutable_object() -> None:
    # Every page of a task list parses its tasks' specs: a small one is parsed once.
    text = TaskSpec(model="anthropic:test-model", max_steps=3).to_json()
    first = TaskSpec.parse(text)
    assert TaskSpec.parse(text) is first
    with pytest.raises(ValidationError):
        first.max_steps = 4
    big = TaskSpec(
        model="anthropic:test-model",
        attachments=(Attachment(name="big.txt", media_type="text/plain", text="x" * 20_000),),
    ).to_json()
    assert TaskSpec.parse(big) == TaskSpec.parse(big)
    assert TaskSpec.parse(big) is not TaskSpec.parse(big)


def test_the_sandbox_layout_is_derived_from_the_spec(tmp_path: Path) -> None:
    spec = TaskSpec(model="a:b", folders=(FolderGrantSpec(name="notes", path=str(tmp_path)),))
    policy = spec.sandbox_policy("t123")
    assert policy.mount_point(policy.folders[0]) == "/sessions/t123/mnt/notes"
    assert spec.mount_path("t123", "notes") == "/sessions/t123/mnt/notes"
    assert policy.folders[0].path == tmp_path.resolve()


def test_a_folder_gone_from_disk_is_named_when_the_sandbox_is_built(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    spec = TaskSpec(
        model="a:b",
        folders=(FolderGrantSpec(name="gone", path=str(gone), origin=GrantOrigin.HOST),),
    )
    with pytest.raises(PolicyError, match="the folder 'gone' no longer exists on the computer"):
        spec.sandbox_policy("t1")


def test_which_statuses_are_final_is_said_once() -> None:
    assert {s for s in TaskStatus if s.is_terminal} == {
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
    }
    assert TaskStatus.INTERRUPTED.is_settled and not TaskStatus.INTERRUPTED.is_terminal
    assert {s for s in TaskStatus if s.is_active} == {TaskStatus.RUNNING, TaskStatus.WAITING}
