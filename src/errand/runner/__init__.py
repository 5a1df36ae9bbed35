"""Running tasks: the runner contract and the in-process runner.

Public surface: :class:`TaskRunner` (the contract the gateway uses) and :class:`LocalRunner`
(runs the store's queued tasks in this process).
"""

from errand.runner.base import TaskRunner
from errand.runner.local import LocalRunner

__all__ = ["LocalRunner", "TaskRunner"]
