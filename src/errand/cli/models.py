"""``errand models``: which model providers Errand speaks to and how each is configured."""

from __future__ import annotations

import os

from rich.console import Console
from rich.table import Table

from errand.config import config_path, configured_model, load_config

_SETTINGS = {
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
    "openai-compat": ("ERRAND_OPENAI_COMPAT_API_KEY", "ERRAND_OPENAI_COMPAT_BASE_URL"),
}


def models() -> None:
    """List the providers, an example model name for each, and whether it is set up."""
    from errand.models import known_providers

    path = config_path()
    model = configured_model(load_config(path))  # a broken file is one line (cli.failures)
    table = Table("provider", "example", "configured", "what it is", box=None)
    for info in known_providers():
        key, url = _SETTINGS.get(info.name, ("", ""))
        if info.name == "openai-compat":
            state = f"base URL {os.environ.get(url, 'http://127.0.0.1:11434/v1 (default)')}"
        elif key:
            state = f"{key} set" if os.environ.get(key) else f"set {key}"
        else:
            state = "no key needed"
        table.add_row(info.name, info.example, state, info.description)
    console = Console(highlight=False)
    console.print(table)
    source = "from ERRAND_MODEL" if os.environ.get("ERRAND_MODEL") else f"from {path}"
    console.print(
        f"Default model: {model} ({source})"
        if model
        else "No default model: pass --model or set ERRAND_MODEL / model in errand.toml.",
        markup=False,
    )
