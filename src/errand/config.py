"""Where Errand keeps its data and how its settings are read.

The data directory is ``$ERRAND_HOME`` when set, else the platform's user data directory.
The config file is ``errand.toml`` in ``$ERRAND_HOME`` when set, else in the platform's
user config directory. Secrets never live in either: they come from the environment.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "errand"


class ConfigError(ValueError):
    """The config file exists but cannot be used; the message says what to fix."""


def data_dir() -> Path:
    """Return the data directory, creating it (mode 0700) when absent."""
    home = os.environ.get("ERRAND_HOME")
    path = Path(home) if home else Path(platformdirs.user_data_dir(APP_NAME))
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def config_path() -> Path:
    """Return the path of ``errand.toml`` (it may not exist)."""
    home = os.environ.get("ERRAND_HOME")
    base = Path(home) if home else Path(platformdirs.user_config_dir(APP_NAME))
    return base / "errand.toml"


def load_config(path: Path | None = None) -> dict[str, Any]:
    """Read the config file as a table; an absent file is an empty table.

    Raises:
        ConfigError: the file is not valid TOML.
    """
    path = path or config_path()
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
