"""Expected tool failures, and how host file errors read to the model.

A tool raises :class:`ToolError` for a failure the model can act on (a missing file, a path
outside the granted folders, a string that occurs twice). The registry turns it into
``ToolOutput(is_error=True)`` with the message as it stands; any other exception is reported
as an unexpected failure with its type.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from errand.sandbox import PathRefused


class ToolError(Exception):
    """A failure the model is told about in one or two sentences; nothing was changed
    unless the message says so."""


@contextmanager
def file_errors(shown: str) -> Iterator[None]:
    """Turn the errors of host-side file access on ``shown`` into :class:`ToolError` s.

    ``shown`` is the path as the model should read it. Refusals keep their own message,
    which already says why; common ``OSError`` s get a sentence that says what to do.
    """
    try:
        yield
    except PathRefused as exc:
        raise ToolError(str(exc)) from None
    except FileNotFoundError:
        raise ToolError(f"{shown} does not exist; list_files shows what is there.") from None
    except IsADirectoryError:
        raise ToolError(
            f"{shown} is a folder, not a file; list_files shows its contents."
        ) from None
    except NotADirectoryError:
        raise ToolError(f"{shown}: a part of this path is a file, not a folder.") from None
    except PermissionError:
        raise ToolError(f"{shown}: permission denied on the host.") from None
    except OSError as exc:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, "error")
        raise ToolError(f"{shown}: {reason}.") from None
