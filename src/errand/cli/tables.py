"""Tables as the commands print them: IDs are never cut, on a terminal or through a pipe.

Rich sizes tables to the terminal and wraps or ellipsises what does not fit; printed to a
pipe it assumes 80 columns. IDs are what people copy into the next command, so ID columns
never wrap, and output that is not a terminal is not squeezed at all.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

UNSQUEEZED_WIDTH = 10_000


def table(*headers: str, ids: tuple[str, ...] = ("id",)) -> Table:
    """A borderless table whose ``ids`` columns are never wrapped or shortened."""
    shown = Table(box=None)
    for header in headers:
        whole = header in ids
        shown.add_column(header, no_wrap=whole, overflow="ignore" if whole else "fold")
    return shown


def console() -> Console:
    """The console tables print on: the terminal's width, or unlimited through a pipe."""
    probe = Console()
    width = None if probe.is_terminal else UNSQUEEZED_WIDTH
    return Console(highlight=False, width=width)
