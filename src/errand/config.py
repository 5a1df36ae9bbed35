"""Where Errand keeps its data and how its settings are read.

The data directory is ``$ERRAND_HOME`` when set, else the platform's user data directory.
The config file is ``errand.toml`` in ``$ERRAND_HOME`` when set, else in the platform's
user config directory. Secrets never live in either: they come from the environment.

``load_config`` is the one place the file is read and checked, so every command refuses the
same mistakes with the same sentence: a file that is not UTF-8 TOML, a directory in its place,
a known key with the wrong type (an error), and an unknown top-level key (a warning naming the
file and the key, so a typo is never silently dropped). What each table means in detail (the
sandbox policy, approvals) is checked by the part that uses it.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

APP_NAME = "errand"
HOME_ENV = "ERRAND_HOME"


class EnvironmentProblem(Exception):
    """Something on this computer keeps Errand from working; the message is one sentence
    saying what and what to do. Commands show it as it is, without a traceback."""


class ConfigError(EnvironmentProblem, ValueError):
    """The config file exists but cannot be used; the message says what to fix."""


class DataDirError(EnvironmentProblem):
    """The data directory cannot be created or written."""


class ErrandConfig(BaseModel):
    """The top level of ``errand.toml``: the keys Errand knows and the type each must have.

    Tables are kept as read; the parts that use them check their insides.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    model: StrictStr | None = None
    models: list[StrictStr] = []
    sandbox: dict[str, Any] = {}
    approvals: dict[str, Any] = {}
    skills: dict[str, Any] = {}
    mcp: dict[str, Any] = {}
    browser: dict[str, Any] = {}
    folders: dict[str, Any] = {}
    notify: dict[str, Any] = {}
    worker: dict[str, Any] = {}


KNOWN_KEYS: frozenset[str] = frozenset(ErrandConfig.model_fields)
"""Top-level keys of ``errand.toml``; any other draws a warning."""


def _home_override() -> Path | None:
    home = os.environ.get(HOME_ENV)
    return Path(home).expanduser() if home else None


def data_dir() -> Path:
    """Return the data directory, creating it (mode 0700) when absent.

    Raises:
        DataDirError: it cannot be created (a read-only place, a path under a regular file)
            or is not a writable directory.
    """
    path = _home_override() or Path(platformdirs.user_data_dir(APP_NAME))
    where = f"{HOME_ENV}={path}" if _home_override() else str(path)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise DataDirError(
            f"the data directory {where} is a file, not a folder; "
            f"set {HOME_ENV} to a folder Errand may write in"
        ) from exc
    except OSError as exc:
        raise DataDirError(
            f"cannot create the data directory {where} ({exc.strerror}); "
            f"set {HOME_ENV} to a folder Errand may write in"
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataDirError(
            f"cannot write in the data directory {where}; "
            f"make it writable or set {HOME_ENV} to a folder Errand may write in"
        )
    return path


def data_dir_path() -> Path:
    """Where the data directory is (whether or not it exists yet)."""
    return _home_override() or Path(platformdirs.user_data_dir(APP_NAME))


def config_path() -> Path:
    """Return the path of ``errand.toml`` (it may not exist)."""
    base = _home_override() or Path(platformdirs.user_config_dir(APP_NAME))
    return base / "errand.toml"


def _warn_on_stderr(message: str) -> None:
    print(f"errand: warning: {message}", file=sys.stderr)


def load_config(
    path: Path | None = None, *, on_warning: Callable[[str], None] | None = _warn_on_stderr
) -> dict[str, Any]:
    """Read and check the config file; an absent file is an empty table.

    Unknown top-level keys are passed to ``on_warning`` (by default printed on stderr), one
    sentence each, and kept in the table.

    Raises:
        ConfigError: the file cannot be read, is not UTF-8 TOML, or a known key has the wrong
            type; the message names the file and the key.
    """
    path = path or config_path()
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return {}  # a missing data directory is reported by whoever needs it
    except IsADirectoryError as exc:
        raise ConfigError(f"{path} is a folder; errand.toml must be a file") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path} ({exc.strerror})") from exc
    try:
        table = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.start} is not); save it as UTF-8"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    try:
        ErrandConfig.model_validate(table)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_problem(exc)}") from exc
    if on_warning is not None:
        for key in sorted(set(table) - KNOWN_KEYS):
            known = ", ".join(sorted(KNOWN_KEYS))
            on_warning(f"{path}: unknown key {key!r} is ignored (Errand knows {known})")
    return table


def configured_model(config: dict[str, Any]) -> str | None:
    """The default model: ``$ERRAND_MODEL``, else ``model`` from ``errand.toml``."""
    from_env = os.environ.get("ERRAND_MODEL")
    if from_env:
        return from_env
    model = config.get("model")
    return model if isinstance(model, str) and model else None


def configured_models(config: dict[str, Any]) -> tuple[str, ...]:
    """The models a phone may pick from: the default first, then ``models`` from
    ``errand.toml`` (each named once, in the file's order)."""
    listed = config.get("models")
    named = [m for m in listed if isinstance(m, str) and m] if isinstance(listed, list) else []
    default = configured_model(config)
    return tuple(dict.fromkeys([default, *named] if default else named))


def configured_worker(config: dict[str, Any]) -> str | None:
    """This host's worker name: ``name`` in the ``[worker]`` table of ``errand.toml``, else
    None. ``errand worker`` runs under it and ``errand folders add`` labels folders with it;
    its form is checked by them (``errand.tasks.check_worker_name``).

    Raises:
        ConfigError: ``[worker] name`` is not text.
    """
    table = config.get("worker", {})
    name = table.get("name") if isinstance(table, dict) else None
    if name is not None and not isinstance(name, str):
        raise ConfigError('[worker] name must be text, like name = "nas"')
    return name or None


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    key = ".".join(str(part) for part in first.get("loc", ()))
    kinds = {
        "string_type": 'must be text in quotes, like model = "anthropic:claude-sonnet-4-5"',
        "dict_type": f"must be a table, like [{key}]",
        "list_type": f'must be a list, like {key} = ["openai:gpt-4.1"]',
    }
    what = kinds.get(first["type"], str(first.get("msg", "is invalid")))
    return f"{key} {what}"
