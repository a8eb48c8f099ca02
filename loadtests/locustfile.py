"""Exploratory load with Locust (closed loop: for poking at the service by hand).

The measured figures come from intake_bench.py, which is open loop; Locust waits for each
answer before the next request of a user, so its latencies hide queueing (coordinated
omission). Use this to explore, not to quote.

    pip install -e '.[load]'
    TRIAGE_LOAD_TOKENS=var/demo-credentials.json locust -f loadtests/locustfile.py \\
        --host http://127.0.0.1:8080

Tokens: a JSON object with a token per source under the key "demo-politie" (as written
by ``make run``) or per source name ("politie", "cit", ...).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from locust import HttpUser, between, task

from dataset import MeldingFactory


def _tokens() -> dict[str, str]:
    path = Path(os.environ.get("TRIAGE_LOAD_TOKENS", "var/demo-credentials.json"))
    data: dict[str, str] = json.loads(path.read_text())
    if "demo-politie" in data:  # the demo has one source client: everything goes as politie
        return {"politie": data["demo-politie"]}
    return data


class Source(HttpUser):
    wait_time = between(0.05, 0.5)

    def on_start(self) -> None:
        self.tokens = _tokens()
        self.factory = MeldingFactory(seed=int(time.time() * 1000) % 2**31)
        self.sent = 0

    @task
    def post_melding(self) -> None:
        body = self.factory.melding(self.sent)
        self.sent += 1
        if body["source"] not in self.tokens:
            body["source"] = next(iter(self.tokens))
        self.client.post(
            "/api/v1/meldingen",
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[body['source']]}"},
            name="POST /api/v1/meldingen",
        )
