"""The gateway killed (kill -9) while a push is on its way: after the restart the push is
sent again, never lost, and with the same notification id, which the app uses as the
notification's tag, so the phone shows it once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from errand.notify import Notifier, VapidKey, WebPushChannel
from errand.store import NotifyState, PushStore, TaskStatus, open_store
from errand.store.access import devices
from errand.tasks import TaskSpec
from fakes.push_service import FakePushService, running

SEND_ONCE = """
import asyncio, sys
from pathlib import Path
from errand.notify import Notifier, VapidKey, WebPushChannel
from errand.store import open_store

async def main() -> None:
    store = await open_store(sys.argv[1])
    key = VapidKey.load_or_create(Path(sys.argv[2]))
    channel = WebPushChannel(key, subject="mailto:o@example.com")
    notifier = Notifier(store, web_push=channel, push_services=frozenset({sys.argv[3]}))
    await notifier.run_once()

asyncio.run(main())
"""


async def test_a_push_in_flight_when_the_gateway_dies_is_sent_again_after_the_restart(
    tmp_path: Path,
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'errand.db'}"
    store = await open_store(db_url)
    async with running(FakePushService(hold=asyncio.Event())) as service:
        now = datetime.now(UTC)
        async with store._write() as conn:
            await conn.execute(
                devices.insert().values(
                    id="ana", name="Ana", secret_hash="0" * 64, created_at=now, last_seen_at=now
                )
            )
        sub = service.subscribe("ana")
        await PushStore(store).save_subscription(
            "ana",
            endpoint=sub.endpoint,
            p256dh=sub.p256dh,
            auth=sub.auth_b64,
            kinds={"needs_you"},
            now=now,
        )
        task = await store.create_task("pay", spec=TaskSpec(model="script:x.json"))
        await store.set_task_status(task.id, TaskStatus.RUNNING)
        await store.set_task_status(task.id, TaskStatus.WAITING)

        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SEND_ONCE, db_url, str(tmp_path), service.origin
        )
        await service.wait_for(1, timeout=60)  # the push arrived; its answer is held back
        os.kill(child.pid, signal.SIGKILL)
        assert await child.wait() == -signal.SIGKILL

        assert service.hold is not None
        service.hold.set()
        key = VapidKey.load_or_create(tmp_path)
        notifier = Notifier(
            store,
            web_push=WebPushChannel(key, subject="mailto:o@example.com"),
            push_services=frozenset({service.origin}),
        )
        try:
            await notifier.run_once()
            assert await notifier.run_once() == 0
        finally:
            await notifier.aclose()
        first, again = service.pushes
        assert first.problem is None and again.problem is None
        assert first.payload is not None and again.payload is not None
        assert first.payload["id"] == again.payload["id"]
        [note] = await PushStore(store).notifications_of(task.id)
        [delivery] = await PushStore(store).deliveries_of(note.id)
        assert delivery.state is NotifyState.SENT and delivery.attempts == 1
    await store.aclose()


@pytest.fixture(autouse=True)
def _no_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ERRAND_DATABASE_URL", raising=False)
