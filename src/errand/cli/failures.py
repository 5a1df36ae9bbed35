"""What the ``errand`` command says when this computer, not the user's request, is the problem.

Every command shares one rule: a broken environment (config file, data directory, database,
full disk) is one line on stderr and an exit code, never a traceback. Exceptions that are not
environment problems are bugs and keep their traceback.
"""

from __future__ import annotations

import errno
import sys

EXIT_ENVIRONMENT = 2
"""Exit code when the environment (config, data directory, database, disk) is unusable."""


def explain(exc: BaseException) -> str | None:
    """The one sentence for an environment failure, or None when ``exc`` is something else."""
    from errand.config import EnvironmentProblem

    if isinstance(exc, EnvironmentProblem):
        return str(exc)
    if "errand.store" in sys.modules:  # only a command that used the store can fail in it
        from errand.store import StoreError, store_failure

        if isinstance(exc, StoreError):
            return str(exc)
        failure = store_failure(exc)
        if failure is not None:
            return str(failure)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "the disk is full; free some space and retry"
    return None
