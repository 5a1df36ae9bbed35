"""Running tasks: the runner contract, the runner core and its flavours.

Public surface: :class:`TaskRunner` (the contract the gateway uses), :class:`LocalRunner`
(``errand serve``: runs the store's queued tasks in this process), :class:`Worker`
(``errand worker``: the same on a store several hosts share), :func:`run_one` (``errand
run``: the one task this process created), :class:`StoreRunner` (the gateway's runner when
only workers run tasks) and :class:`LeaseSettings`. Every flavour holds a lease on each task
it runs; see :mod:`errand.runner.core`.
"""

from errand.runner.base import TaskRunner
from errand.runner.core import LeaseSettings, OptionsFactory, run_one, runner_id
from errand.runner.local import LocalRunner
from errand.runner.worker import StoreRunner, Worker

__all__ = [
    "LeaseSettings",
    "LocalRunner",
    "OptionsFactory",
    "StoreRunner",
    "TaskRunner",
    "Worker",
    "run_one",
    "runner_id",
]
