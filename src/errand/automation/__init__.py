"""Automation: schedules, inbound hooks, outbound webhooks and their durable outbox.

Public surface:

* :class:`Automation` bundles one process's scheduler, deliverer and managing classes;
* :class:`Schedules`, :class:`Hooks`, :class:`Webhooks` manage what the user set up (the CLI,
  the API and the phone all call these);
* :class:`Scheduler` and :class:`Deliverer` do the background work, with an injected clock;
* :func:`parse_timing`, :class:`TaskTemplate` build what ``Schedules.add`` takes;
* :class:`AutomationError` is every refusal (``code`` and one-sentence ``message``).

Every run and every hook delivery starts its task through intake; nothing here creates a
task any other way.
"""

from errand.automation.hooks import REFUSED_BODY, REFUSED_STATUS, HookAnswer, Hooks, NewHook
from errand.automation.outbox import RETRY_DELAYS, Deliverer
from errand.automation.scheduler import Scheduler, TickReport
from errand.automation.schedules import (
    AutomationError,
    MissedPolicy,
    NewScheduleRequest,
    Schedules,
    ScheduleView,
)
from errand.automation.service import Automation
from errand.automation.template import TaskTemplate, TemplateError
from errand.automation.timing import (
    Clock,
    Timing,
    TimingError,
    format_interval,
    parse_timing,
    system_clock,
)
from errand.automation.webhooks import SUBSCRIBABLE, NewEndpoint, Webhooks
from errand.intake import Intake

__all__ = [
    "REFUSED_BODY",
    "REFUSED_STATUS",
    "RETRY_DELAYS",
    "SUBSCRIBABLE",
    "Automation",
    "AutomationError",
    "Clock",
    "Deliverer",
    "HookAnswer",
    "Hooks",
    "Intake",
    "MissedPolicy",
    "NewEndpoint",
    "NewHook",
    "NewScheduleRequest",
    "ScheduleView",
    "Scheduler",
    "Schedules",
    "TaskTemplate",
    "TemplateError",
    "TickReport",
    "Timing",
    "TimingError",
    "Webhooks",
    "format_interval",
    "parse_timing",
    "system_clock",
]
