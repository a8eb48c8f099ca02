"""Everything a process needs, opened once: pools, clients, configuration, stages."""

from __future__ import annotations

import contextlib
import urllib.parse
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import structlog
from redis.asyncio.sentinel import Sentinel

from triage.auth.oidc import Provider, load_oidc
from triage.auth.throttle import Throttle
from triage.auth.tokens import Authenticator, TokenAuthenticator
from triage.clock import Clock, SystemClock
from triage.config import Settings
from triage.effects import AfterCommit
from triage.households.model import load_model as load_recognition_model
from triage.intake.service import Intake
from triage.notify.events import EventHub, Publisher
from triage.observability import metrics
from triage.queue.enqueue import Enqueuer
from triage.queue.keys import Keys
from triage.region import Region, load_region
from triage.routing.network import NetworkConfig, load_network
from triage.scoring import Rules, load_rules
from triage.store.db import create_pool, is_unavailable
from triage.store.roles import audit_exposed

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    keys: Keys  # every Redis key and channel name, under the deployment's prefix
    after_commit: AfterCommit  # the one stage that applies what follows a commit
    region: Region
    rules: Rules
    network: NetworkConfig
    clock: Clock
    authenticator: Authenticator  # the service's own bearer tokens
    enqueuer: Enqueuer
    throttle: Throttle
    intake: Intake
    events: EventHub  # the people's open event streams, on one Redis connection
    oidc: Provider | None = None  # the identity provider, when one is configured

    async def close(self) -> None:
        if self.oidc is not None:
            await self.oidc.close()
        await self.events.stop()
        await self.throttle.stop()
        await self.enqueuer.stop()
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        await self.pool.close()


async def _check_audit_role(pool: asyncpg.Pool) -> None:
    """Say at start when the audit is append-only by courtesy only (roles.py). With
    PostgreSQL down the service starts all the same (it answers 503 until it is back),
    and says that it could not check."""
    try:
        async with pool.acquire() as conn:
            exposed = await audit_exposed(conn)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        log.warning("audit_role_not_checked", error=type(exc).__name__)
        return
    metrics.AUDIT_APPEND_ONLY.set(0 if exposed else 1)
    if exposed:
        log.warning(
            "audit_not_append_only", role_could=", ".join(exposed),
            fix="run the service as a role of its own; set TRIAGE_MIGRATION_DATABASE_URL "
            "to the owner's and run triage migrate",
        )  # fmt: skip


_REDIS_OPTIONS: dict[str, Any] = {
    "socket_timeout": 2.0, "socket_connect_timeout": 2.0, "health_check_interval": 30,
    "max_connections": 64,
}  # fmt: skip
#: How long a command waits for one of the ``max_connections`` when all are in use,
#: before it fails as if Redis were down: a burst waits its turn instead of failing.
_REDIS_POOL_WAIT_SECONDS = 2.0
#: ``redis+sentinel://[:password@]host:port[,host:port...]/<master name>[/<db>]``: the
#: master that Redis Sentinel names, followed through a fail-over.
SENTINEL_SCHEME = "redis+sentinel"


def redis_client(url: str) -> aioredis.Redis:
    """A client for a plain Redis URL, or for the current master behind Redis Sentinel."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        return aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(
            url, timeout=_REDIS_POOL_WAIT_SECONDS, **_REDIS_OPTIONS
        ))  # fmt: skip
    hosts, master, db = sentinel_target(url)
    password = urllib.parse.unquote(parts.password) if parts.password else None
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        hosts, socket_timeout=2.0, socket_connect_timeout=2.0,
        # Sentinels that require the password (auth.sentinel in the usual charts) too.
        sentinel_kwargs={"socket_timeout": 2.0, "password": password},
    )  # fmt: skip
    client: aioredis.Redis = sentinel.master_for(master, db=db, password=password,
                                                 **_REDIS_OPTIONS)  # fmt: skip
    return client


def sentinel_target(url: str) -> tuple[list[tuple[str, int]], str, int]:
    """(sentinels, master name, database) of a ``redis+sentinel://`` URL."""
    parts = urllib.parse.urlsplit(url)
    hosts = []
    for host in parts.netloc.rpartition("@")[2].split(","):
        name, _, port = host.rpartition(":")
        if not name or not port.isdigit():
            raise ValueError(f"TRIAGE_REDIS_URL: {host!r} is not host:port of a sentinel")
        hosts.append((name, int(port)))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError("TRIAGE_REDIS_URL: give the master's name and optionally the "
                         "database, as redis+sentinel://s1:26379,s2:26379/triage/0")  # fmt: skip
    return hosts, path[0], int(path[1]) if len(path) == 2 else 0


async def open_runtime(
    settings: Settings, database_url: str, redis_url: str, clock: Clock | None = None
) -> Runtime:
    """Open connections; configuration errors surface here, before the port opens."""
    region = load_region(settings.region_file)
    rules = load_rules(settings.scoring_rules_file)
    recognition = load_recognition_model(settings.recognition_model_file)
    network = load_network(settings.network_file, region, frozenset(rules.signals))
    secret = settings.oidc_client_secret
    provider = None if settings.oidc_file is None else Provider(
        load_oidc(settings.oidc_file), secret.get_secret_value() if secret else None,
        network=network,
    )  # fmt: skip
    clock = clock or SystemClock()
    pool = await create_pool(database_url, settings)
    await _check_audit_role(pool)
    client = redis_client(redis_url)
    keys = Keys(settings.redis_prefix)
    enqueuer = Enqueuer(client, keys)
    publisher = Publisher(client, keys)
    after_commit = AfterCommit(enqueuer, publisher, clock)
    enqueuer.start()
    throttle = Throttle(
        client, pool, keys, failures_per_minute=settings.auth_failures_per_minute,
        client_rate=settings.client_requests_per_second,
        user_rate=settings.user_requests_per_second, trusted_proxies=settings.trusted_proxies,
    )  # fmt: skip
    throttle.start()
    return Runtime(
        settings=settings,
        pool=pool,
        redis=client,
        keys=keys,
        after_commit=after_commit,
        region=region,
        rules=rules,
        network=network,
        clock=clock,
        authenticator=TokenAuthenticator(pool, settings.auth_cache_seconds, clock),
        enqueuer=enqueuer,
        throttle=throttle,
        intake=Intake(
            pool,
            region=region,
            rules=rules,
            recognition=recognition,
            clock=clock,
            after_commit=after_commit,
            acquire_timeout=settings.db_acquire_timeout,
            received_at_max_age=timedelta(days=settings.received_at_max_age_days),
            max_wait=settings.intake_max_wait_seconds,
            retry_after=settings.retry_after_seconds,
        ),
        events=EventHub(client, keys),
        oidc=provider,
    )
