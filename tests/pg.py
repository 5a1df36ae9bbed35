"""A throwaway PostgreSQL server for tests and benchmarks.

``start_postgres()`` runs ``initdb`` in a fresh temporary directory and starts ``postgres`` on a
free loopback port with its unix socket in that directory, trusting local connections as the
``errand`` role. The server is this process's child and is told to shut down (SIGQUIT) when this
process dies, however it dies, so a crashed test run leaves no server behind. As root, the
server runs as the ``postgres`` OS user (or ``nobody``): PostgreSQL refuses to run as root.

When no PostgreSQL is installed (or it cannot be started) ``PostgresUnavailable`` says why in
one sentence; test fixtures turn that into a skip, except when ``ERRAND_TEST_POSTGRES=required``
(``make test`` sets it), where it is a failure.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

REQUIRED_ENV = "ERRAND_TEST_POSTGRES"
ROLE = "errand"
_PR_SET_PDEATHSIG = 1
_START_TIMEOUT_S = 60.0


class PostgresUnavailable(Exception):
    """PostgreSQL cannot be started here; the message says what to install or change."""


def postgres_required() -> bool:
    """True when PostgreSQL tests must run rather than skip (``make test``)."""
    return os.environ.get(REQUIRED_ENV, "") == "required"


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``: Debian's newest version, else PATH."""
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted(
            (p for p in debian.iterdir() if (p / "bin" / "postgres").exists()),
            key=lambda p: int(p.name) if p.name.isdigit() else 0,
        )
        if versions:
            return versions[-1] / "bin"
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        return Path(found).resolve().parent
    return None


@dataclass
class PostgresServer:
    """A running throwaway server; ``url()`` names one of its databases."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes]
    _free: list[str] = field(default_factory=list)

    def url(self, database: str = "postgres", *, driver: str = "asyncpg") -> str:
        """A SQLAlchemy URL for ``database`` as the ``errand`` role over loopback TCP."""
        return f"postgresql+{driver}://{ROLE}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """A plain libpq DSN (for asyncpg)."""
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    async def create_database(self, name: str | None = None) -> str:
        """Create an empty database; returns its name."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        conn = await asyncpg.connect(self.dsn())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return name

    async def checkout(self, *, migrated: bool) -> str:
        """A database for one test: empty, or at Errand's newest schema with no rows.

        Creating and dropping a database costs seconds on a busy machine, migrating one half
        a second, so databases are reused: an empty one has its ``public`` schema recreated,
        a migrated one has its tables emptied. Give it back with ``checkin``.
        """
        name = self._free.pop() if self._free else await self.create_database()
        conn = await asyncpg.connect(self.dsn(name))
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if migrated and await _at_head(conn):
                tables = await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename <> 'alembic_version'"
                )
                listed = ", ".join(f'"{row[0]}"' for row in tables)
                await conn.execute(f"TRUNCATE {listed} RESTART IDENTITY CASCADE")
                return name
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        finally:
            await conn.close()
        if migrated:
            await _migrate(self.url(name))
        return name

    def checkin(self, name: str) -> None:
        """Hand a database from ``checkout`` back for the next test."""
        self._free.append(name)

    def stop(self) -> None:
        """Shut the server down now (immediate shutdown: nothing here is kept) and delete it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_postgres(*, durable: bool = False) -> PostgresServer:
    """Initialise and start a server in a new temporary directory.

    ``durable=False`` (tests) turns off fsync: a crash of the machine may lose the throwaway
    data, which never matters here. Benchmarks pass ``durable=True`` to measure real commits.

    Raises:
        PostgresUnavailable: not installed, no unprivileged user to run it as, or it failed.
    """
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "PostgreSQL is not installed; install it with: sudo apt-get install postgresql"
        )
    user = _server_user()
    directory = Path(tempfile.mkdtemp(prefix="errand-pg-"))
    data = directory / "data"
    try:
        os.chmod(directory, 0o700)
        if user is not None:
            os.chown(directory, user.pw_uid, user.pw_gid)
        _run_as(
            user,
            [
                str(bindir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                ROLE,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
        )
        port = _free_port()
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": str(directory),
            "max_connections": "300",
            "shared_buffers": "64MB",
            "log_min_messages": "warning",
            "timezone": "UTC",
        }
        if not durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        argv = [str(bindir / "postgres"), "-D", str(data)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        log = open(directory / "server.log", "wb")  # noqa: SIM115 - the child keeps it
        with log:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                user=user.pw_uid if user else None,
                group=user.pw_gid if user else None,
                extra_groups=[] if user else None,
                preexec_fn=_die_with_parent,
                cwd=directory,
            )
        server = PostgresServer(directory=directory, port=port, process=process)
        _wait_ready(server, data / "postmaster.pid")
        return server
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


@contextlib.contextmanager
def running_postgres(*, durable: bool = False) -> Iterator[PostgresServer]:
    """``start_postgres`` for the length of a ``with`` block."""
    server = start_postgres(durable=durable)
    try:
        yield server
    finally:
        server.stop()


async def _at_head(conn: asyncpg.Connection) -> bool:
    """Whether the database's schema is Errand's newest."""
    from errand.store.migrate import head_revision

    if await conn.fetchval("SELECT to_regclass('public.alembic_version')") is None:
        return False
    return bool(await conn.fetchval("SELECT version_num FROM alembic_version") == head_revision())


async def _migrate(url: str) -> None:
    from errand.store.database import connect, resolve_url
    from errand.store.migrate import upgrade_to_head

    database = connect(resolve_url(url))
    try:
        await upgrade_to_head(database.writer)
    finally:
        await database.dispose()


def _server_user() -> pwd.struct_passwd | None:
    """The OS user the server runs as: ourselves unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresUnavailable(
        "running as root with neither a 'postgres' nor a 'nobody' user to run PostgreSQL as"
    )


def _run_as(user: pwd.struct_passwd | None, argv: list[str]) -> None:
    done = subprocess.run(
        argv,
        capture_output=True,
        user=user.pw_uid if user else None,
        group=user.pw_gid if user else None,
        extra_groups=[] if user else None,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
        raise PostgresUnavailable(
            f"initdb failed: {detail[-1] if detail else 'exit ' + str(done.returncode)}"
        )


def _die_with_parent() -> None:
    """In the child, after it became the server's user: shut down when the parent dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT, 0, 0, 0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(server: PostgresServer, pid_file: Path) -> None:
    """Wait until the postmaster says it accepts connections (its pid file's status line)."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = (server.directory / "server.log").read_text(errors="replace").strip()
            last = log.splitlines()[-1] if log else f"exit {server.process.returncode}"
            raise PostgresUnavailable(f"PostgreSQL did not start: {last}")
        with contextlib.suppress(OSError):
            lines = pid_file.read_text().splitlines()
            if len(lines) >= 8 and lines[7].strip() == "ready":
                return
        time.sleep(0.02)
    server.process.kill()
    raise PostgresUnavailable(f"PostgreSQL did not become ready in {_START_TIMEOUT_S:.0f} s")


# -- pytest fixtures (import them into a conftest.py) -----------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's server, started on first use; skips (or fails, see above) without one."""
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        if postgres_required():
            pytest.fail(f"{REQUIRED_ENV}=required but {exc}", pytrace=False)
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def database_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A database on the session's server at Errand's newest schema, with no rows."""
    name = await postgres_server.checkout(migrated=True)
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.checkin(name)


@pytest.fixture
async def empty_database_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A database on the session's server with no tables at all (for migration tests)."""
    name = await postgres_server.checkout(migrated=False)
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.checkin(name)
