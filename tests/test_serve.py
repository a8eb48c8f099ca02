"""``triage serve`` started and stopped as a user does, as processes of their own: a stop
with event streams open, a busy port, the embedded servers, and the banner's commands
pasted into a shell."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import psutil
import pytest

from helpers import free_port, own_servers, until_up
from triage.auth.accounts import add_user
from triage.vocabulary import UserRole

STREAMS = 10
#: Every process gone this long after SIGTERM, streams open or not.
STOP_BAR = 5.0
REPO = Path(__file__).resolve().parents[1]


def _env(**settings: str) -> dict[str, str]:
    """This environment without triage's settings (the tests' servers, say), plus ``settings``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TRIAGE_") and k != "PROMETHEUS_MULTIPROC_DIR"}  # fmt: skip
    return {**env, **settings}


def _serve(*args: str, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    """``triage serve`` in the repository, as ``make run`` starts it; its output to files."""
    return subprocess.Popen(
        [sys.executable, "-m", "triage", "serve", *args], cwd=REPO, env=env,
        stdout=(logs / "stdout").open("wb"), stderr=(logs / "stderr").open("wb"),
    )  # fmt: skip


def _warnings(logs: Path) -> list[str]:
    return [line for line in (logs / "stderr").read_text().splitlines()
            if '"level":"warning"' in line or '"level":"error"' in line]  # fmt: skip


def _using(data_dir: Path) -> list[psutil.Process]:
    """The processes whose command line names ``data_dir`` (embedded servers, say)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        line = " ".join(proc.info["cmdline"] or [])
        if str(data_dir) in line and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


@pytest.mark.parametrize("processes", [1, 2])
async def test_sigterm_with_event_streams_open_ends_every_process_within_5_s(
    servers: dict[str, str], tmp_path: Path, processes: int
) -> None:
    """The streams end with a retry hint (browsers reconnect to another instance) and
    the API processes, their worker and deliverer with them, are gone within 5 s: they
    used to wait 120 s for the streams, the worker offering all the while."""
    async with own_servers(servers, f"triage_stop_{processes}") as own:
        conn = await asyncpg.connect(own.database_url)
        user = await add_user(conn, "desk-stop", UserRole.operator, datetime.now(UTC))
        await conn.close()
        port = free_port()
        env = _env(**own.env(), TRIAGE_PORT=str(port), TRIAGE_DATA_DIR=str(tmp_path))
        serve = _serve("--processes", str(processes), env=env, logs=tmp_path)
        family = [psutil.Process(serve.pid)]
        try:
            async with aiohttp.ClientSession() as http:
                await until_up(http, f"http://127.0.0.1:{port}/healthz")
                connected = [asyncio.Event() for _ in range(STREAMS)]

                async def listen(connected: asyncio.Event) -> str:
                    async with http.get(
                        f"http://127.0.0.1:{port}/api/v1/me/events",
                        headers={"Authorization": f"Bearer {user.token}"},
                    ) as resp:
                        assert resp.status == 200
                        lines = []
                        async for line in resp.content:
                            lines.append(line.decode())
                            connected.set()
                        return "".join(lines)

                streams = [asyncio.create_task(listen(c)) for c in connected]
                await asyncio.wait_for(asyncio.gather(*(c.wait() for c in connected)), 10)
                family += family[0].children(recursive=True)
                started = time.monotonic()
                serve.send_signal(signal.SIGTERM)
                alive = await _running_after(family, STOP_BAR)
                stopped_after = time.monotonic() - started
                ended = await asyncio.wait_for(asyncio.gather(*streams), 1)
        finally:
            for proc in family:
                if proc.is_running():
                    proc.kill()
            serve.wait()
    print(f"{processes} API process(es), {STREAMS} streams: stopped in {stopped_after:.2f} s")
    assert not alive, f"still running {STOP_BAR} s after SIGTERM: {alive}"
    assert len(family) >= (1 if processes == 1 else 1 + processes)  # the parent's children
    assert serve.returncode == 0
    assert all("\nretry: " in text for text in ended), ended
    assert _warnings(tmp_path) == []  # a first start on a new database and Redis too


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data directory; what still runs on it at the end (a failed test's) is killed."""
    path = tmp_path / "var"
    yield path
    for proc in _using(path):
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()


@pytest.mark.parametrize("processes", [1, 2])
def test_a_busy_port_is_a_message_that_names_it_and_nothing_is_left_running(
    tmp_path: Path, data_dir: Path, processes: int
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = _env(TRIAGE_PORT=str(port), TRIAGE_DATA_DIR=str(data_dir))
        result = subprocess.run(
            [sys.executable, "-m", "triage", "serve", "--demo", "--processes", str(processes)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr
    assert f"make run PORT={port + 1}" in result.stderr
    assert f"TRIAGE_PORT={port + 1}" in result.stderr
    assert "Traceback" not in result.stderr
    assert "serving" not in result.stdout
    assert _using(data_dir) == []
    assert not list(tmp_path.rglob("*.pid"))


def test_the_embedded_servers_stop_with_serve_also_after_a_kill_and_nothing_is_left_in_tmp(
    tmp_path: Path, data_dir: Path
) -> None:
    """As ``make run``: embedded servers under the data directory. A start that fails
    stops them; one killed (SIGKILL) leaves them, and the next start takes them over and
    stops them at SIGTERM. Nothing is left in the temporary directory."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = _env(TRIAGE_DATA_DIR=str(data_dir), TMPDIR=str(tmp))
    env.pop("XDG_RUNTIME_DIR", None)

    bad_region = tmp_path / "region.yaml"
    bad_region.write_text("gebieden: 12\n")
    failed = subprocess.run(
        [sys.executable, "-m", "triage", "serve", "--demo"], cwd=REPO,
        env={**env, "TRIAGE_REGION_FILE": str(bad_region), "TRIAGE_PORT": str(free_port())},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert failed.returncode == 2, failed.stderr
    assert (data_dir / "postgres" / "PG_VERSION").exists()  # it got as far as that
    assert _using(data_dir) == []

    logs = tmp_path / "killed"
    logs.mkdir()
    killed = _serve("--demo", env={**env, "TRIAGE_PORT": str(free_port())}, logs=logs)
    try:
        _banner(logs, killed)
    finally:
        killed.kill()
        killed.wait()
    assert len(_using(data_dir)) >= 2  # PostgreSQL and Redis, left running

    logs = tmp_path / "serving"
    logs.mkdir()
    serve = _serve("--demo", env={**env, "TRIAGE_PORT": str(free_port())}, logs=logs)
    try:
        _banner(logs, serve)
        started = time.monotonic()
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=STOP_BAR)
        print(f"embedded servers: stopped in {time.monotonic() - started:.2f} s")
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    assert serve.returncode == 0
    assert _using(data_dir) == []
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
    assert not (data_dir / "redis" / "redis.pid").exists()
    assert list(tmp.iterdir()) == []
    assert _warnings(logs) == []


@pytest.mark.skipif(shutil.which("curl") is None, reason="the banner's commands use curl")
async def test_the_banners_commands_work_pasted_into_a_shell(
    servers: dict[str, str], tmp_path: Path
) -> None:
    """They post the example melding received now (its deadline ahead, not breached at
    once) and read it back: no placeholder for the shell to read as a redirect."""
    async with own_servers(servers, "triage_banner") as own:
        port = free_port()
        env = _env(**own.env(), TRIAGE_PORT=str(port), TRIAGE_DATA_DIR=str(tmp_path))
        serve = _serve("--demo", env=env, logs=tmp_path)
        try:
            banner = await asyncio.to_thread(_banner, tmp_path, serve)
            async with aiohttp.ClientSession() as http:
                await until_up(http, f"http://127.0.0.1:{port}/healthz")
                logged_in = await _demo_logins(http, f"http://127.0.0.1:{port}", banner)
            paste = banner.split("(paste into a shell in this directory):\n")[1]
            paste = paste.split("\nPosting")[0]
            assert "<" not in paste  # <melding_id> was a redirect to bash
            shell = await asyncio.to_thread(
                subprocess.run,
                ["bash", "-c", paste + '\necho; echo "MELDING_ID=$MELDING_ID"'], cwd=REPO,
                capture_output=True, text=True, timeout=30, check=True,
            )  # fmt: skip
        finally:
            serve.terminate()
            serve.wait()
    # Every demo person logs in with the password printed, in the role described.
    assert logged_in == {"demo-operator": "operator", "demo-cit": "cit",
                         "sp-tilburg-1": "specialist", "co-tilburg": "coordinator",
                         "demo-ops": "ops", "demo-admin": "admin"}  # fmt: skip
    read, said = shell.stdout.rstrip("\n").rsplit("\n", 1)
    melding = json.loads(read)
    assert said == f"MELDING_ID={melding['melding_id']}"
    received = datetime.fromisoformat(melding["received_at"])
    assert abs(datetime.now(UTC) - received) < timedelta(minutes=1)
    respond_before = datetime.fromisoformat(melding["urgency"]["respond_before"])
    assert respond_before - received == timedelta(hours=1)  # crisis: an hour ahead


async def _running_after(procs: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    """Those of ``procs`` still running after up to ``seconds`` (a zombie has ended: it
    waits only for whoever reaps orphans here)."""
    deadline = time.monotonic() + seconds
    while True:
        running = []
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    running.append(proc)
        if not running or time.monotonic() > deadline:
            return running
        await asyncio.sleep(0.01)


async def _demo_logins(http: aiohttp.ClientSession, base: str, banner: str) -> dict[str, str]:
    """Log in as each account the banner prints a password for: username -> role."""
    roles, username = {}, ""
    for line in banner.splitlines():
        if line.startswith("  ") and not line.startswith("    "):
            username = line.split()[0]
        elif line.startswith("    password "):
            form = {"username": username, "password": line.split()[1]}
            async with http.post(f"{base}/auth/login", data=form) as resp:
                assert resp.status == 200, await resp.text()
                roles[username] = (await resp.json())["role"]
    return roles


def _banner(logs: Path, proc: subprocess.Popen[bytes]) -> str:
    """The banner ``proc`` prints once it serves (up to 60 s)."""
    for _ in range(600):
        text = (logs / "stdout").read_text()
        if "Ctrl-C stops" in text:
            return text
        assert proc.poll() is None, (logs / "stderr").read_text()
        time.sleep(0.1)
    raise AssertionError("no banner")


async def test_a_database_without_the_schema_is_refused_at_start_with_what_to_run(
    servers: dict[str, str], redis_url: str, data_dir: Path
) -> None:
    """Started on an empty database without ``--migrate``, serve says what to run and
    ends, instead of serving requests that fail on a missing table."""
    admin = await asyncpg.connect(servers["admin_url"])
    name = f"triage_unmigrated_{os.getpid()}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base, _, query = servers["admin_url"].partition("?")
        url = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
        env = _env(TRIAGE_DATABASE_URL=url, TRIAGE_REDIS_URL=redis_url,
                   TRIAGE_REDIS_PREFIX=f"unmigrated{os.getpid()}",
                   TRIAGE_PORT=str(free_port()), TRIAGE_DATA_DIR=str(data_dir))  # fmt: skip
        result = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "triage", "serve"], cwd=REPO, env=env,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    assert result.returncode == 1, result.stderr
    assert "run `triage migrate` first, or start with `triage serve --migrate`" in result.stderr
    assert "Traceback" not in result.stderr
    assert "serving" not in result.stdout


async def test_serve_starts_while_postgres_cannot_be_reached_and_says_so_at_readyz(
    redis_url: str, data_dir: Path, tmp_path: Path
) -> None:
    """The schema is checked at start only when PostgreSQL answers: an orchestrator may
    start the service first, which then answers 503 at /readyz until it does."""
    port, nowhere = free_port(), free_port()
    env = _env(TRIAGE_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{nowhere}/triage",
               TRIAGE_REDIS_URL=redis_url, TRIAGE_REDIS_PREFIX=f"nodb{os.getpid()}",
               TRIAGE_PORT=str(port), TRIAGE_DATA_DIR=str(data_dir))  # fmt: skip
    proc = _serve(env=env, logs=tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            await until_up(http, f"http://127.0.0.1:{port}/healthz")
            async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                assert resp.status == 503
        assert "schema_not_checked" in (tmp_path / "stderr").read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
