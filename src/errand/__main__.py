"""``python -m errand`` is the ``errand`` command."""

from errand.cli import main

main()
