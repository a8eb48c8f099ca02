"""``triage serve`` started as a user does, as a process of its own: the banner's commands
pasted into a shell."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from helpers import free_port, own_servers, until_up

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
    read, said = shell.stdout.rstrip("\n").rsplit("\n", 1)
    melding = json.loads(read)
    assert said == f"MELDING_ID={melding['melding_id']}"
    received = datetime.fromisoformat(melding["received_at"])
    assert abs(datetime.now(UTC) - received) < timedelta(minutes=1)
    respond_before = datetime.fromisoformat(melding["urgency"]["respond_before"])
    assert respond_before - received == timedelta(hours=1)  # crisis: an hour ahead


def _banner(logs: Path, proc: subprocess.Popen[bytes]) -> str:
    """The banner ``proc`` prints once it serves (up to 60 s)."""
    for _ in range(600):
        text = (logs / "stdout").read_text()
        if "Ctrl-C stops" in text:
            return text
        assert proc.poll() is None, (logs / "stderr").read_text()
        time.sleep(0.1)
    raise AssertionError("no banner")
