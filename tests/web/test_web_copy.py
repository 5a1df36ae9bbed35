"""The app's own words show commands in quotes, never in Markdown backticks (which a phone
shows literally)."""

from __future__ import annotations

import re
from pathlib import Path

import errand

WEB = Path(errand.__file__).parent / "web"


def test_no_backticked_commands_in_the_apps_copy() -> None:
    found = [
        f"{path.name}: {match.group(0)}"
        for path in sorted([*WEB.glob("*.js"), *WEB.glob("*.html")])
        for line in path.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith(("//", "*", "/*"))  # comments are not copy
        for match in re.finditer(r"`errand [^`$]*`", line)
    ]
    assert not found, found
