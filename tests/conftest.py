"""For every test: a wide terminal, so tables the ``errand`` commands print in this process
(their consoles are made when ``errand.cli`` is imported) never cut what tests look for."""

import os

os.environ.setdefault("COLUMNS", "200")
