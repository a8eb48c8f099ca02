"""Metrics with several processes, as deployed: `triage serve` with two API processes on
one port and a `triage worker` of its own, under a load. What Prometheus would scrape
from them adds up to the meldingen sent: the API's counters over both processes, the
worker's offers over the meldingen it offered. A database and a Redis database of their
own, so the worker offers only this test's meldingen."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import OwnServers, free_port, melding_body, own_servers, real_now, until_up
from triage.auth.accounts import add_client, add_user
from triage.vocabulary import Source, UserRole

SENT = 120


@pytest.fixture
async def servers_of_its_own(servers: dict[str, str]) -> AsyncIterator[OwnServers]:
    async with own_servers(servers, "triage_scrape") as own:
        yield own


@pytest.fixture
def processes(servers_of_its_own: OwnServers, tmp_path: Path) -> Iterator[tuple[int, int]]:
    api_port, worker_port = free_port(), free_port()
    env = {
        **os.environ, **servers_of_its_own.env(),
        "TRIAGE_DATA_DIR": str(tmp_path), "TRIAGE_PORT": str(api_port),
        "TRIAGE_PROCESSES": "2", "TRIAGE_DISPATCH_IN_API": "false",
        "TRIAGE_LOG_LEVEL": "warning",
    }  # fmt: skip
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    started = [
        subprocess.Popen([sys.executable, "-m", "triage", "serve"], env=env),
        subprocess.Popen(
            [sys.executable, "-m", "triage", "worker"],
            env={**env, "TRIAGE_METRICS_PORT": str(worker_port)},
        ),
    ]
    try:
        yield api_port, worker_port
    finally:
        for proc in started:
            proc.terminate()
        for proc in started:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _sum(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples (with ``labels``) in an exposition."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def test_counters_from_two_api_processes_and_a_worker_add_up(
    servers_of_its_own: OwnServers, processes: tuple[int, int]
) -> None:
    database_url = servers_of_its_own.database_url
    api_port, worker_port = processes
    now = datetime.now(UTC)
    conn = await asyncpg.connect(database_url)
    source = (await add_client(conn, "scrape-politie", Source.politie, now)).token
    ops = (await add_user(conn, "scrape-ops", UserRole.ops, now)).token
    api, worker = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{worker_port}"
    async with aiohttp.ClientSession() as http:
        await until_up(http, f"{api}/healthz")
        await until_up(http, f"{worker}/healthz")
        limit = asyncio.Semaphore(8)

        auth = {"Authorization": f"Bearer {source}"}

        async def send() -> str:
            url = f"{api}/api/v1/meldingen"
            async with (
                limit,
                http.post(
                    url, json=melding_body(received_at=real_now().isoformat()), headers=auth
                ) as r,
            ):
                assert r.status == 201, await r.text()
                status: str = (await r.json())["status"]
                return status

        statuses = await asyncio.gather(*(send() for _ in range(SENT)))
        queued = statuses.count("queued")
        for _ in range(300):  # until the worker has offered them all
            offered = await conn.fetchval("SELECT count(*) FROM assignments")
            if offered == queued:
                break
            await asyncio.sleep(0.1)
        async with http.get(f"{api}/metrics", headers={"Authorization": f"Bearer {ops}"}) as r:
            api_text = await r.text()
        async with http.get(f"{worker}/metrics") as r:
            worker_text = await r.text()
        # Checked by every process, asked or not. A probe that took longer than its second
        # on a busy machine reads 0 until the next check (the alert waits a minute for
        # that): read again until that check has been.
        for url, headers in ((f"{api}/metrics", {"Authorization": f"Bearer {ops}"}),
                             (f"{worker}/metrics", {})):  # fmt: skip
            for _ in range(40):
                async with http.get(url, headers=headers) as r:
                    text = await r.text()
                up = [_sum(text, "triage_dependency_up", dependency=d)
                      for d in ("postgres", "redis")]  # fmt: skip
                if min(up) >= 1:
                    break
                await asyncio.sleep(0.5)
            assert min(up) >= 1, (url, up)
    await conn.close()

    assert offered == queued
    assert _sum(api_text, "triage_meldingen_stored_total") == SENT
    assert _sum(api_text, "triage_meldingen_stored_total", kind="melding") == queued
    assert _sum(api_text, "triage_http_requests_total", route="/api/v1/meldingen",
                method="POST", status="201") == SENT  # fmt: skip
    assert _sum(api_text, "triage_urgency_levels_total") == SENT
    assert _sum(worker_text, "triage_offers_total") == queued
    assert _sum(worker_text, "triage_time_to_offer_seconds_count") == queued
    assert _sum(api_text, "triage_offers_total") == 0  # the API processes do not dispatch
