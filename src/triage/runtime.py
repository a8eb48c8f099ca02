"""Everything a process needs, opened once: pools, clients, configuration, stages."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis

from triage.auth.tokens import Authenticator, TokenAuthenticator
from triage.clock import Clock, SystemClock
from triage.config import Settings
from triage.intake.service import Intake
from triage.queue.enqueue import Enqueuer
from triage.region import Region, load_region
from triage.routing.network import NetworkConfig, load_network
from triage.scoring import Rules, load_rules
from triage.store.db import create_pool


@dataclass
class Runtime:
    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    region: Region
    rules: Rules
    network: NetworkConfig
    clock: Clock
    authenticator: Authenticator  # bearer tokens today; an OIDC/JWT one fits the same seam
    enqueuer: Enqueuer
    intake: Intake

    async def close(self) -> None:
        await self.enqueuer.stop()
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        await self.pool.close()


def redis_client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        url,
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
        health_check_interval=30,
        max_connections=64,
    )


async def open_runtime(
    settings: Settings, database_url: str, redis_url: str, clock: Clock | None = None
) -> Runtime:
    """Open connections; configuration errors surface here, before the port opens."""
    region = load_region(settings.region_file)
    rules = load_rules(settings.scoring_rules_file)
    network = load_network(settings.network_file, region, frozenset(rules.signals))
    clock = clock or SystemClock()
    pool = await create_pool(database_url, settings)
    client = redis_client(redis_url)
    enqueuer = Enqueuer(client)
    enqueuer.start()
    return Runtime(
        settings=settings,
        pool=pool,
        redis=client,
        region=region,
        rules=rules,
        network=network,
        clock=clock,
        authenticator=TokenAuthenticator(pool, settings.auth_cache_seconds),
        enqueuer=enqueuer,
        intake=Intake(
            pool,
            enqueuer=enqueuer,
            region=region,
            rules=rules,
            clock=clock,
            acquire_timeout=settings.db_acquire_timeout,
        ),
    )
