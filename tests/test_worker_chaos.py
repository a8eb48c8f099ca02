"""A worker killed in the middle of a claim and Redis flushed, during a load, as deployed:
`triage serve` (its reconciler) and `triage worker` processes on a database and a Redis
database of their own. Bar: every melding is offered, none twice.

The first worker runs alone, so that when it is killed (SIGKILL, no clean-up) while a
lease is out, the lease is certainly its own: it dies between claim and release. Two
new workers take over; the leases it left expire (after 2 s here) and their meldingen
go back on the queues. Later Redis is flushed: the queues, the leases and the wake-up
list are gone, and the API's reconciler rebuilds the queues from PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis

from helpers import OwnServers, free_port, melding_body, own_servers, real_now, until_up
from triage.auth.accounts import add_client
from triage.queue.keys import Keys, forget
from triage.region import REGIONAL_POOL, load_region
from triage.vocabulary import Source

SENT = 400
RATE = 80  # meldingen a second: the load lasts 5 s


@pytest.fixture
async def servers_of_its_own(servers: dict[str, str]) -> AsyncIterator[OwnServers]:
    async with own_servers(servers, "triage_chaos") as own:
        yield own


class Processes:
    """The service's processes, all stopped at the end whatever happened."""

    def __init__(self, own: OwnServers, data_dir: Path) -> None:
        self.env = {
            **os.environ, **own.env(),
            "TRIAGE_DATA_DIR": str(data_dir), "TRIAGE_DISPATCH_IN_API": "false",
            "TRIAGE_LEASE_SECONDS": "2", "TRIAGE_RECONCILE_INTERVAL_SECONDS": "0.5",
            "TRIAGE_LOG_LEVEL": "warning",
        }  # fmt: skip
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, command: str, **env: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "triage", command],
                                env={**self.env, **env})  # fmt: skip
        self.running.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.running:
            proc.terminate()
        for proc in self.running:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _leased(client: aioredis.Redis, keys: Keys, gebieden: list[str]) -> list[str]:
    """The meldingen under a lease now."""
    pipe = client.pipeline(transaction=False)
    for gebied in gebieden:
        pipe.zrange(keys.leases(gebied)[0], 0, -1)
    return [m.decode() for members in await pipe.execute() for m in members]


async def _offered(conn: asyncpg.Connection, melding_ids: list[str]) -> int:
    return int(await conn.fetchval(
        "SELECT count(DISTINCT melding_id) FROM assignments WHERE melding_id = ANY($1::uuid[])",
        melding_ids,
    ))  # fmt: skip


async def test_a_worker_killed_mid_claim_and_a_redis_flush_lose_and_double_nothing(
    servers_of_its_own: OwnServers, tmp_path: Path
) -> None:
    own = servers_of_its_own
    processes = Processes(own, tmp_path)
    port = free_port()
    processes.start("serve", TRIAGE_PORT=str(port), TRIAGE_PROCESSES="1")
    first = processes.start("worker")
    conn = await asyncpg.connect(own.database_url)
    client = aioredis.from_url(own.redis_url)
    keys = Keys(own.redis_prefix)
    token = (await add_client(conn, "chaos-politie", Source.politie, datetime.now(UTC))).token
    gebieden = [*load_region().gebied_codes, REGIONAL_POOL]
    try:
        async with aiohttp.ClientSession() as http:
            await until_up(http, f"http://127.0.0.1:{port}/healthz")
            auth = {"Authorization": f"Bearer {token}"}
            started = asyncio.get_running_loop().time()

            async def send(index: int) -> int:
                due = started + index / RATE - asyncio.get_running_loop().time()
                await asyncio.sleep(max(0.0, due))
                async with http.post(f"http://127.0.0.1:{port}/api/v1/meldingen",
                                     json=melding_body(received_at=real_now().isoformat()),
                                     headers=auth) as r:  # fmt: skip
                    return r.status

            load = asyncio.gather(*(send(i) for i in range(SENT)))
            await asyncio.sleep(SENT / RATE / 3)
            # Kill it while it holds a lease, between claim and release: stopped (SIGSTOP)
            # when a lease is out, it is killed if the lease is still out, let go on and
            # tried again if not (it was released meanwhile).
            held: list[str] = []
            for _ in range(2000):
                if await _leased(client, keys, gebieden):
                    first.send_signal(signal.SIGSTOP)
                    if held := await _leased(client, keys, gebieden):
                        break
                    first.send_signal(signal.SIGCONT)
                await asyncio.sleep(0.001)
            first.send_signal(signal.SIGKILL)
            first.wait()
            processes.start("worker")
            processes.start("worker")
            # What it held comes back when the leases expire (a timer pass of the new
            # workers), before the flush below, which would put it back anyway.
            for _ in range(150):
                still = set(held) & set(await _leased(client, keys, gebieden))
                if not still and await _offered(conn, held) == len(held):
                    break
                await asyncio.sleep(0.1)
            recovered = (still, await _offered(conn, held))
            await forget(client, keys)  # the queues, the leases, the wake-up list: gone
            statuses = await load
        assert statuses == [201] * SENT
        assert held, "the worker was never caught holding a lease"
        assert recovered == (set(), len(held))  # out of the dead lease, offered
        queued = await conn.fetchval("SELECT count(*) FROM meldingen WHERE kind = 'melding'")
        for _ in range(600):  # leases expire after 2 s, the reconciler runs every 0.5 s
            offered = await conn.fetchval("SELECT count(DISTINCT melding_id) FROM assignments")
            if offered == queued:
                break
            await asyncio.sleep(0.1)
        made = await conn.fetchval("SELECT count(*) FROM assignments")
        waiting = await conn.fetchval("SELECT count(*) FROM meldingen WHERE status = 'queued'")
    finally:
        processes.stop()
        await conn.close()
        await client.aclose()
    assert (offered, waiting) == (queued, 0)  # none lost
    assert made == queued  # none offered twice: one offer each, ever
