"""A throwaway PostgreSQL server for the tests and the benchmark, started from the installed binaries.

Why not pytest-postgresql's process fixture: it runs `initdb` as the current user, and initdb
refuses to run as root, which is exactly how CI runs. Here the server is started as the `postgres`
system user when we are root (as the current user otherwise), in a private data directory with its
own Unix socket directory and a free TCP port, so parallel runs never collide.

    $AGENTTUI_TEST_PG_URL   use this server instead of starting one (e.g. a CI service container)
    $CI=true                a missing server or binary FAILS the PostgreSQL tests instead of skipping

Each test gets a fresh PostgreSQL schema (namespace) on that server, named in its URL's
search_path, and dropped afterwards.
"""
from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import closing
from typing import Iterator

import pytest

SERVER_USER = "postgres"


class ServerUnavailable(RuntimeError):
    """No PostgreSQL server could be started or reached; the message says why."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def find_bin_dir() -> str | None:
    """Where initdb/pg_ctl live: $PATH, then the Debian/Ubuntu and RHEL layouts (newest first)."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return os.path.dirname(on_path)
    candidates = glob.glob("/usr/lib/postgresql/*/bin") + glob.glob("/usr/pgsql-*/bin")
    candidates.sort(key=lambda d: [int(p) if p.isdigit() else 0 for p in d.replace("-", "/").split("/")],
                    reverse=True)
    for d in candidates:
        if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "pg_ctl")):
            return d
    return None


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalServer:
    """One postgres process in a temporary directory; `stop()` kills it and removes the directory.

    durable=False turns fsync off (test data is thrown away); the benchmark keeps it on so its
    figures mean what a real server would do.
    """

    def __init__(self, *, durable: bool = False) -> None:
        self.bin_dir = find_bin_dir()
        if self.bin_dir is None:
            raise ServerUnavailable(
                "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin; "
                "install them (apt-get install postgresql) or set AGENTTUI_TEST_PG_URL")
        self.durable = durable
        self.as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        self.root = tempfile.mkdtemp(prefix="agenttui-pg-")
        self.data_dir = os.path.join(self.root, "data")
        self.port = _free_port()
        self.url = f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/postgres"
        self.started = False
        if self.as_root:
            os.chmod(self.root, 0o755)
            try:
                shutil.chown(self.root, SERVER_USER, SERVER_USER)
            except LookupError:
                shutil.rmtree(self.root, ignore_errors=True)
                raise ServerUnavailable(f"running as root, and there is no {SERVER_USER!r} system user to run "
                                        "the server as (initdb refuses root)") from None

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        kwargs: dict = {}
        if self.as_root:  # initdb and postgres refuse to run as root
            kwargs.update(user=SERVER_USER, group=SERVER_USER, extra_groups=[])
        proc = subprocess.run([os.path.join(self.bin_dir, args[0]), *args[1:]], cwd=self.root, capture_output=True,
                              text=True, timeout=timeout, **kwargs)
        if proc.returncode != 0:
            raise ServerUnavailable(f"{args[0]} failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def start(self) -> "LocalServer":
        try:
            self._run("initdb", "-D", self.data_dir, "-A", "trust", "-U", SERVER_USER, "-E", "UTF8",
                      "--locale=C", "--no-sync")
            options = [f"-p {self.port}", f"-k {self.root}", "-c listen_addresses=127.0.0.1",
                       "-c max_connections=100", "-c shared_buffers=64MB"]
            if not self.durable:
                options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
            self._run("pg_ctl", "-D", self.data_dir, "-o", " ".join(options), "-l",
                      os.path.join(self.root, "server.log"), "-w", "-t", "60", "start")
        except (ServerUnavailable, OSError, subprocess.TimeoutExpired) as exc:
            log = self.log_tail()
            self.stop()
            raise ServerUnavailable(f"could not start PostgreSQL from {self.bin_dir}: {exc}{log}") from None
        self.started = True
        return self

    def log_tail(self) -> str:
        try:
            with open(os.path.join(self.root, "server.log")) as fh:
                return "\nserver log:\n" + "".join(fh.readlines()[-15:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.started:
            try:
                self._run("pg_ctl", "-D", self.data_dir, "-m", "immediate", "-w", "stop", timeout=30)
            except (ServerUnavailable, subprocess.TimeoutExpired):
                pass
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)


def wait_until_ready(url: str, timeout: float = 30) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=5):
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise ServerUnavailable(f"PostgreSQL at {url} is not reachable: {exc}") from None
            time.sleep(0.2)


class Schemas:
    """Hands out scratch PostgreSQL schemas on one server's database, one per test.

    A schema (the URL's `options=-csearch_path=...`) is far cheaper than a database here:
    CREATE DATABASE checkpoints and takes about a second on a busy machine, while the store
    migrates a new schema in well under 0.2 s. It is also how a team shares one database.
    """

    def __init__(self, server_url: str) -> None:
        import psycopg

        self.server_url = server_url
        self._admin = psycopg.connect(server_url, autocommit=True)
        self._prefix = f"agenttui_t{os.getpid()}_"
        self._created: list[str] = []

    def url_for(self, schema: str) -> str:
        sep = "&" if "?" in self.server_url else "?"
        return f"{self.server_url}{sep}options=-csearch_path%3D{schema}"

    def create(self) -> str:
        """A URL whose search_path names a new, empty schema (the store creates and migrates it)."""
        name = self._prefix + uuid.uuid4().hex[:12]
        self._created.append(name)
        return self.url_for(name)

    def drop(self, url: str) -> None:
        name = url.rsplit("%3D", 1)[-1]
        self._admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        if name in self._created:
            self._created.remove(name)

    def close(self) -> None:
        for name in list(self._created):
            self._admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        self._admin.close()


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"PostgreSQL is required in CI (CI={os.environ.get('CI')}): {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason}")


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a running server: $AGENTTUI_TEST_PG_URL, or one started for this session."""
    missing = [m for m in ("psycopg", "psycopg_pool") if importlib.util.find_spec(m) is None]
    if missing:
        _unavailable(f"{', '.join(missing)} not installed (pip install -e '.[postgres]')")
    given = os.environ.get("AGENTTUI_TEST_PG_URL")
    if given:
        try:
            wait_until_ready(given, timeout=10)
        except ServerUnavailable as exc:
            _unavailable(str(exc))
        yield given
        return
    try:
        server = LocalServer().start()
        wait_until_ready(server.url)
    except ServerUnavailable as exc:
        _unavailable(str(exc))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_schemas(pg_server_url: str) -> Iterator[Schemas]:
    schemas = Schemas(pg_server_url)
    try:
        yield schemas
    finally:
        schemas.close()


@pytest.fixture
def pg_url(pg_schemas: Schemas) -> Iterator[str]:
    """A postgresql:// URL of a fresh, empty agenttui store for one test, dropped afterwards."""
    url = pg_schemas.create()
    try:
        yield url
    finally:
        pg_schemas.drop(url)
