"""Running tasks: the runner contract, the in-process runner, and workers.

Public surface: :class:`TaskRunner` (the contract the gateway uses), :class:`LocalRunner`
(runs the store's queued tasks in this process), :class:`Worker` (claims queued tasks under
a lease from a store several processes share), :class:`StoreRunner` (the gateway's runner
when only workers run tasks) and :class:`LeaseSettings`.
"""

from errand.runner.base import TaskRunner
from errand.runner.local import LocalRunner
from errand.runner.worker import LeaseSettings, OptionsFactory, StoreRunner, Worker

__all__ = [
    "LeaseSettings",
    "LocalRunner",
    "OptionsFactory",
    "StoreRunner",
    "TaskRunner",
    "Worker",
]
