"""``Automation``: the schedules, hooks and webhooks of one process, and their background work.

``errand serve`` builds one, starts it after the runner (the scheduler and the deliverer run
as background tasks it keeps), and closes it before the runner on shutdown. The CLI uses
the managing classes (``Schedules``, ``Hooks``, ``Webhooks``) on their own.
"""

from __future__ import annotations

from datetime import timedelta

from errand.automation.hooks import Hooks
from errand.automation.outbox import Deliverer
from errand.automation.scheduler import Cancel, Scheduler
from errand.automation.schedules import Schedules
from errand.automation.timing import Clock, system_clock
from errand.automation.webhooks import Webhooks
from errand.intake import Intake
from errand.store import Store


class Automation:
    """Everything automation needs at run time, for the gateway's routes and for serve."""

    def __init__(
        self,
        store: Store,
        intake: Intake,
        *,
        clock: Clock = system_clock,
        cancel: Cancel | None = None,
        base_url: str | None = None,
        interval: float = 1.0,
        missed_after: timedelta = timedelta(minutes=2),
    ) -> None:
        self.intake = intake
        self.scheduler = Scheduler(
            store,
            intake,
            clock=clock,
            cancel=cancel,
            interval=interval,
            missed_after=missed_after,
        )
        self.deliverer = Deliverer(store, clock=clock, base_url=base_url, interval=interval)
        self.schedules = Schedules(store, clock=clock, wake=self.scheduler.wake)
        self.hooks = Hooks(store, intake, clock=clock)
        self.webhooks = Webhooks(store, clock=clock, wake=self.deliverer.wake)
        self._started = False

    async def start(self) -> None:
        """Start the scheduler (after repairing half-started runs) and the deliverer."""
        await self.scheduler.start()
        await self.deliverer.start()
        self._started = True

    async def aclose(self) -> None:
        """Stop both loops; what they had not done stays in the store for the next start."""
        await self.scheduler.aclose()
        await self.deliverer.aclose()
        self._started = False
