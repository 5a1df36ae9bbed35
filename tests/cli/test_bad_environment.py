"""A broken environment gets one sentence and an exit code, never a traceback, and loses nothing.

Each test runs the real ``errand`` command against the real broken thing (a bad config file, a
damaged database, a data directory that cannot be written) and checks the one line, the exit
code, and that the broken thing was left exactly as it was.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from errand.store import open_store
from errand.tasks import TaskSpec


def errand(
    home: Path, *args: str, wrap: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRAND_")}
    env.update(ERRAND_HOME=str(home), COLUMNS="200")
    return subprocess.run(
        [*(wrap or []), sys.executable, "-m", "errand", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def one_line(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """The command failed with ``code`` and said exactly one line containing ``needles``."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


# errand.toml -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        (b"sandbox = 5\n", ("errand.toml", "sandbox must be a table")),
        (b'model = "caf\xe9"\n', ("errand.toml", "not UTF-8")),
        (b"model = 5\n", ("errand.toml", "model must be text")),
        (b"[approvals\n", ("errand.toml", "not valid TOML")),
    ],
    ids=["sandbox-not-a-table", "not-utf8", "model-not-text", "not-toml"],
)
@pytest.mark.parametrize(
    "command",
    [
        ("models",),
        ("run", "tidy up", "--model", "script:/nonexistent.json"),
        ("serve", "--port", "0"),
        ("sandbox", "exec", "--", "true"),
    ],
    ids=lambda c: c[0],
)
def test_a_bad_config_file_is_one_sentence(
    home: Path, content: bytes, needles: tuple[str, ...], command: tuple[str, ...]
) -> None:
    config = home / "errand.toml"
    config.write_bytes(content)
    one_line(errand(home, *command), 2, *needles)
    assert config.read_bytes() == content


def test_a_folder_in_place_of_the_config_file_is_one_sentence(home: Path) -> None:
    (home / "errand.toml").mkdir()
    one_line(errand(home, "models"), 2, "errand.toml", "is a folder")
    assert (home / "errand.toml").is_dir()


def test_an_unknown_key_is_a_warning_naming_the_file_and_the_key(home: Path) -> None:
    config = home / "errand.toml"
    config.write_text('modle = "openai:gpt-4.1"\n[sandbox]\n', encoding="utf-8")
    result = errand(home, "models")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert str(config) in result.stderr and "'modle'" in result.stderr
    assert "No default model" in result.stdout


def test_models_shows_the_model_from_the_config_file(home: Path) -> None:
    (home / "errand.toml").write_text('model = "openai:gpt-4.1"\n', encoding="utf-8")
    result = errand(home, "models")
    assert result.returncode == 0, result.stderr
    assert "Default model: openai:gpt-4.1 (from" in result.stdout
    assert "errand.toml" in result.stdout


# The database -------------------------------------------------------------------------------


def test_a_database_with_a_garbage_header_is_named_and_left_alone(home: Path) -> None:
    database = home / "errand.db"
    garbage = b"this is not a database " * 500
    database.write_bytes(garbage)
    for command in (("sessions", "list"), ("folders", "list"), ("tokens", "list")):
        line = one_line(errand(home, *command), 2, str(database), "damaged", "move it aside")
        assert "backup" in line
    assert database.read_bytes() == garbage
    assert sorted(p.name for p in home.iterdir()) == ["errand.db"]


def test_a_truncated_database_is_named_and_left_alone(home: Path) -> None:
    database = home / "errand.db"

    async def fill() -> None:
        store = await open_store(f"sqlite+aiosqlite:///{database}")
        try:
            for n in range(300):
                await store.create_task(
                    f"errand number {n} " + "x" * 2000, spec=TaskSpec(model="script:x")
                )
        finally:
            await store.aclose()

    asyncio.run(fill())
    whole = database.read_bytes()
    cut = whole[: len(whole) // 3]
    database.write_bytes(cut)
    one_line(errand(home, "sessions", "list"), 2, str(database), "damaged", "move it aside")
    assert database.read_bytes() == cut


# The data directory --------------------------------------------------------------------------

EVERY_COMMAND = [
    ("sessions", "list"),
    ("sessions", "show", "abc"),
    ("folders", "list"),
    ("devices", "list"),
    ("tokens", "list"),
    ("skills", "list"),
    ("pair",),
    ("run", "tidy up", "--model", "script:SCRIPT"),
    ("serve", "--port", "0"),
]


def with_script(command: tuple[str, ...], tmp_path: Path) -> tuple[str, ...]:
    """``command`` with SCRIPT replaced by a scripted model that answers once."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": [{"text": "Done."}]}), encoding="utf-8")
    return tuple(part.replace("SCRIPT", str(script)) for part in command)


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=lambda c: "-".join(c[:2]))
def test_a_data_directory_under_a_regular_file_is_one_sentence(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me\n", encoding="utf-8")
    command = with_script(command, tmp_path)
    one_line(errand(blocker / "home", *command), 2, str(blocker / "home"), "ERRAND_HOME")
    assert blocker.read_text(encoding="utf-8") == "keep me\n"


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root")
@pytest.mark.parametrize("command", EVERY_COMMAND, ids=lambda c: "-".join(c[:2]))
def test_a_read_only_data_directory_is_one_sentence(
    home: Path, tmp_path: Path, command: tuple[str, ...]
) -> None:
    command = with_script(command, tmp_path)

    async def fill() -> None:
        store = await open_store(f"sqlite+aiosqlite:///{home / 'errand.db'}")
        try:
            await store.create_task("an old errand", spec=TaskSpec(model="script:x"))
        finally:
            await store.aclose()

    asyncio.run(fill())
    before = (home / "errand.db").read_bytes()
    # A private mount namespace: the read-only bind mount exists only for this command.
    wrap = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        f'mount --bind "{home}" "{home}" && mount -o remount,ro,bind "{home}" && exec "$@"',
        "sh",
    ]
    one_line(errand(home, *command, wrap=wrap), 2, str(home), "ERRAND_HOME")
    assert (home / "errand.db").read_bytes() == before
