"""Mixed load through the real processes: intake, offers, answers, expiries and an absence.

    python loadtests/mixed_load.py [--rate 200] [--duration 60] [--settle 150] [--repeat 1]

Per run, on a fresh database (``triage_mixed``) and a Redis key prefix of its own
(``triage-mixed``): starts ``triage serve`` (2 API processes, no dispatch in them) and two
``triage worker`` processes, with the demo network file changed in two ways: everyone
rostered is on duty around the clock (as ``dispatch_bench.py --roster full``) and every
offer must be answered within ``--answer-minutes`` (default 1, the least the file allows),
so that offers expire within the run. The processes use the real clock.

Meanwhile:

- ``--rate`` meldingen/s arrive open-loop for ``--duration`` seconds (openloop.py,
  dataset.py), each from an API client of its source;
- the people (a user per person of the network file, username = their id) answer their
  offers through the API: this process reads the open offers from PostgreSQL every
  quarter second and, per offer, declines it (``--decline``, 30%) with a reason, leaves
  it unanswered so that it expires (``--ignore``, 20%), or accepts it;
- at ``--absent-at`` seconds (default halfway) the person with the most open offers in a
  gebied's network stops answering and their gebied's coordinator marks them absent
  through the API (``roster-changes``, kind absent, from now for 8 hours).

After ``--settle`` seconds more of answering the people stop, and the run waits (at most
60 s) until no melding is queued in PostgreSQL while on no queue and leased by nobody.
Then it checks, and prints the counts:

- the invariant: every dispatchable melding (kind ``melding``, not ``contacted``) is
  exactly one of: queued and on its gebied's queue or leased; offered with exactly one
  open offer; assigned with exactly one accepted assignment; escalated with
  ``escalated_until`` set. A queued melding on no queue counts only when it is so on two
  looks 3 s apart with nothing audited for it in between (an enqueue on its way after a
  commit is no fault). The watchdog's own ``suspects`` query is run too, and the workers'
  ``triage_invariant_repairs_total`` is read: a repair means a melding was stranded.
  Beside that, this process looks every second during the run for meldingen queued on
  no queue and leased by nobody (``Stranded``), to tell a real silent wait from a repair
  of one that was not waiting;
- no melding ever had two active offers: none has two now (the unique index), and in
  each melding's audit trail no ``melding.offer`` follows another without an answer,
  expiry, withdrawal or repair between them (sound: a new offer needs the melding
  queued, which the statement that ended the previous offer committed, so its audit
  entry has the lower id);
- the absence: the person's open offers were withdrawn in the change's transaction, no
  offer to them was made after it, and none of theirs outlived it;
- no 5xx answer anywhere, and every acknowledged melding stored exactly once.

The exit status is 1 when a check failed. The intake may wait up to ``--intake-max-wait``
(default 10 s, the most it allows) before refusing a melding (503): this run is about
correctness counts on a machine shared with other work, not latency.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
import orjson
import redis.asyncio as aioredis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from dataset import MeldingFactory
from dispatch_bench import full_roster_file
from intake_bench import PATH, _free_port, add_server_options, prepare_database, token_of
from openloop import Result, encode_post, run_open_loop
from triage.auth.accounts import add_user
from triage.queue.keys import Keys, forget
from triage.store.sql import load_queries
from triage.vocabulary import UserRole

KEYS = Keys("triage-mixed")
DATABASE = "triage_mixed"
SUSPECTS = load_queries("triage.dispatch", "watchdog.sql")["suspects"]
#: The watchdog's own grace (dispatch/watchdog.py).
GRACE = timedelta(seconds=60)
Key = tuple[str, str]  # (source, external_id)

# -- the processes ----------------------------------------------------------------------


def short_answer_file(minutes: int) -> tuple[str, dict[str, Any]]:
    """The demo network, everyone on duty around the clock, every offer answered within
    ``minutes``: its path and contents."""
    path = full_roster_file()
    with open(path, encoding="utf-8") as source:
        network = yaml.safe_load(source)
    network["answer_within_minutes"] = dict.fromkeys(
        ("crisis", "acuut", "hoog", "regulier"), minutes
    )
    with open(path, "w", encoding="utf-8") as out:
        yaml.safe_dump(network, out, allow_unicode=True)
    return path, network


def _env(args: argparse.Namespace, db_url: str, data_dir: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "TRIAGE_DATABASE_URL": db_url,
        "TRIAGE_REDIS_URL": args.redis_url,
        "TRIAGE_REDIS_PREFIX": KEYS.prefix,
        "TRIAGE_NETWORK_FILE": args.network_file,
        "TRIAGE_DATA_DIR": data_dir,
        "TRIAGE_HOST": "127.0.0.1",
        **extra,
    }


def _wait_ready(proc: subprocess.Popen[bytes], port: int, path: str, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited at start with status {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not become ready within 60 s")


def start_processes(
    args: argparse.Namespace, db_url: str, port: int, metrics_ports: list[int], data_dir: str
) -> list[subprocess.Popen[bytes]]:
    """``triage serve`` (2 API processes, no dispatch) and a ``triage worker`` per metrics
    port, each logging to a file in ``data_dir``; ready when each answers."""
    serve_env = _env(args, db_url, data_dir, TRIAGE_PORT=str(port),
                     TRIAGE_PROCESSES=str(args.api_processes), TRIAGE_DISPATCH_IN_API="false",
                     TRIAGE_INTAKE_MAX_WAIT_SECONDS=str(args.intake_max_wait))  # fmt: skip
    workers = [_env(args, db_url, data_dir, TRIAGE_METRICS_PORT=str(p)) for p in metrics_ports]
    jobs = [("serve", serve_env)] + [("worker", env) for env in workers]
    procs = []
    for index, (job, env) in enumerate(jobs):
        with open(os.path.join(data_dir, f"{job}-{index}.log"), "wb") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "triage", job], env=env,
                                          stdout=log, stderr=subprocess.STDOUT))  # fmt: skip
    try:
        _wait_ready(procs[0], port, "/readyz", "triage serve")
        for proc, metrics_port in zip(procs[1:], metrics_ports, strict=True):
            _wait_ready(proc, metrics_port, "/healthz", "triage worker")
    except BaseException:
        stop_processes(procs)
        raise
    return procs


def stop_processes(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    procs = list(procs)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # never leave one behind for the next run
            proc.kill()
            proc.wait()


# -- the people -------------------------------------------------------------------------


def network_people(network: dict[str, Any]) -> dict[str, tuple[UserRole, str]]:
    """Everyone of the network file: (role, gebied) of their user."""
    people: dict[str, tuple[UserRole, str]] = {}
    for gebied, net in network["networks"].items():
        for person in net["members"]:
            people[person] = (UserRole.specialist, gebied)
        for person in net["coordinators"]:
            people[person] = (UserRole.coordinator, gebied)
    for person in network["backup"]["members"]:
        people[person] = (UserRole.specialist, "regio")
    for person in [*network["backup"]["coordinators"], *network.get("last_resort", [])]:
        people[person] = (UserRole.coordinator, "regio")
    return people


async def add_users(
    db_url: str, people: dict[str, tuple[UserRole, str]]
) -> tuple[dict[str, str], str]:
    """A user for everyone of the network, and one of ops (for the API's /metrics): their
    tokens."""
    conn = await asyncpg.connect(db_url)
    try:
        tokens = {}
        for person, (role, gebied) in people.items():
            issued = await add_user(conn, person, role, datetime.now(UTC), gebied=gebied)
            tokens[person] = token_of(issued)
        ops = await add_user(conn, "mixed-load-ops", UserRole.ops, datetime.now(UTC))
        return tokens, token_of(ops)
    finally:
        await conn.close()


_OPEN_OFFERS = """
SELECT id, specialist FROM assignments
 WHERE state = 'offered' AND answer_before > now()
"""
#: Answers sent at the same time (the API's connections from the people).
ANSWERING = 16
DECLINE_REASON = "Geen ruimte: mijn caseload is vol deze week."


class People:
    """Everyone of the network answering their offers through the API."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        http: aiohttp.ClientSession,
        base: str,
        tokens: dict[str, str],
        *,
        decline: float,
        ignore: float,
        seed: int,
    ) -> None:
        self._pool, self._http, self._base, self._tokens = pool, http, base, tokens
        self._decline, self._ignore = decline, ignore
        self._rng = random.Random(seed)
        self._seen: set[UUID] = set()
        self._busy: dict[str, set[asyncio.Task[None]]] = {}
        self._sending: set[asyncio.Task[Any]] = set()
        self._answering = asyncio.Semaphore(ANSWERING)
        self.away: set[str] = set()  # who no longer answers (marked absent)
        self.decided: Counter[str] = Counter()
        self.not_sent = 0  # answers decided, not yet sent when their person went away
        self.answers: Counter[tuple[str, int]] = Counter()  # (action, HTTP status)
        self.errors: Counter[str] = Counter()
        self.problems: Counter[str] = Counter()  # 5xx answers by their problem type

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                rows = await self._pool.fetch(_OPEN_OFFERS)
            except (asyncpg.PostgresError, OSError) as exc:
                self.errors[f"poll {type(exc).__name__}"] += 1
                rows = []
            for row in rows:
                if row["id"] in self._seen or row["specialist"] in self.away:
                    continue
                self._seen.add(row["id"])
                draw = self._rng.random()
                if draw < self._decline:
                    action = "decline"
                elif draw < self._decline + self._ignore:
                    self.decided["ignore"] += 1
                    continue
                else:
                    action = "accept"
                self.decided[action] += 1
                task = asyncio.create_task(self._answer(row["specialist"], row["id"], action))
                busy = self._busy.setdefault(row["specialist"], set())
                busy.add(task)
                task.add_done_callback(busy.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.25)
        await self.drain()

    async def _answer(self, person: str, assignment_id: UUID, action: str) -> None:
        url = f"{self._base}/api/v1/assignments/{assignment_id}/{action}"
        headers = {"Authorization": f"Bearer {self._tokens[person]}"}
        body = {"reason": DECLINE_REASON} if action == "decline" else None
        async with self._answering:
            me = asyncio.current_task()
            assert me is not None
            self._sending.add(me)
            try:
                async with self._http.post(url, json=body, headers=headers) as resp:
                    answer = await resp.read()
                    self.answers[(action, resp.status)] += 1
                    if resp.status >= 500:
                        problem = orjson.loads(answer).get("type", "?").rsplit("/", 1)[-1]
                        self.problems[f"{action} {resp.status} {problem}"] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.errors[f"{action} {type(exc).__name__}"] += 1
            finally:
                self._sending.discard(me)

    async def stop_answering(self, person: str) -> None:
        """``person`` answers nothing more: their answers not yet sent are dropped, and
        those on their way are waited for."""
        self.away.add(person)
        for task in self._busy.get(person, set()):
            if task not in self._sending:
                task.cancel()
                self.not_sent += 1
        await self.drain(person)

    async def drain(self, person: str | None = None) -> None:
        """Wait for the answers under way (of ``person``, or everyone's)."""
        tasks = [t for p, ts in self._busy.items() if person in (None, p) for t in ts]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


# -- the absence ------------------------------------------------------------------------


async def mark_absent(
    pool: asyncpg.Pool,
    http: aiohttp.ClientSession,
    base: str,
    tokens: dict[str, str],
    *,
    network: dict[str, Any],
    people: People,
) -> dict[str, Any]:
    """The busiest person of a gebied's network stops answering; the gebied's
    coordinator marks them absent from now for 8 hours."""
    gebied_of = {p: g for g, net in network["networks"].items()
                 for p in [*net["members"], *net["coordinators"]]}  # fmt: skip
    rows = await pool.fetch(
        "SELECT specialist, count(*) AS open FROM assignments WHERE state = 'offered'"
        " AND specialist = ANY($1::text[]) GROUP BY 1 ORDER BY 2 DESC, 1",
        list(gebied_of),
    )
    person = rows[0]["specialist"] if rows else sorted(gebied_of)[0]
    gebied = gebied_of[person]
    coordinator = network["networks"][gebied]["coordinators"][0]
    await people.stop_answering(person)  # their answers under way are in before it
    open_before = await pool.fetchval(
        "SELECT count(*) FROM assignments WHERE specialist = $1 AND state = 'offered'", person
    )
    now = datetime.now(UTC)
    sent = time.monotonic()
    body = {"kind": "absent", "specialist": person, "start": now.isoformat(),
            "end": (now + timedelta(hours=8)).isoformat(),
            "reason": "Ziek gemeld; vandaag en vannacht afwezig."}  # fmt: skip
    async with http.post(
        f"{base}/api/v1/gebieden/{gebied}/roster-changes", json=body,
        headers={"Authorization": f"Bearer {tokens[coordinator]}"},
    ) as resp:  # fmt: skip
        answer = await resp.json(content_type=None)
        status = resp.status
    return {"person": person, "gebied": gebied, "coordinator": coordinator, "status": status,
            "change_id": answer.get("id") if isinstance(answer, dict) else None,
            "open_before": open_before, "took": time.monotonic() - sent,
            "answered_at": datetime.now(UTC)}  # fmt: skip


#: The absent person's offers: withdrawn by the change (those among them made after the
#: change's time were made while its transaction ran, before its withdrawal), and those
#: not withdrawn by it and open after it, made before or after its time.
_ABSENCE = """
SELECT max(c.created_at) AS changed_at, count(*) FILTER (WHERE withdrawn) AS withdrawn,
       count(*) FILTER (WHERE withdrawn AND a.offered_at > c.created_at) AS withdrawn_made_after,
       count(*) FILTER (WHERE open_after AND a.offered_at > c.created_at) AS offered_after,
       count(*) FILTER (WHERE open_after AND a.offered_at <= c.created_at) AS outlived,
       count(*) FILTER (WHERE open_after AND a.offered_at > $2) AS after_answer,
       max(a.offered_at) FILTER (WHERE open_after) AS last_late
  FROM roster_changes c
  JOIN assignments a ON a.specialist = c.specialist
 CROSS JOIN LATERAL (
       SELECT a.state = 'withdrawn' AND a.answered_at = c.created_at AS withdrawn) w
 CROSS JOIN LATERAL (
       SELECT NOT w.withdrawn AND (a.answered_at IS NULL OR a.answered_at > c.created_at)
           AS open_after) o
 WHERE c.id = $1
"""
#: The meldingen of the absent person's offers open after the absence, not withdrawn by it.
_ABSENCE_BROKEN = """
SELECT a.melding_id
  FROM roster_changes c
  JOIN assignments a ON a.specialist = c.specialist
 WHERE c.id = $1 AND NOT (a.state = 'withdrawn' AND a.answered_at = c.created_at)
   AND (a.answered_at IS NULL OR a.answered_at > c.created_at)
 ORDER BY a.offered_at
"""


class Stranded:
    """Looks, every second while the run lasts, for meldingen queued in PostgreSQL while
    on no queue and leased by nobody. Each look is sound at the moment Redis is read: the
    melding was queued in the same row version (``xmin``) before and after. The same row
    version on several looks is one wait, at least as long as between the first and the
    last of them. For telling a stranded melding from an enqueue on its way: one stranded
    for 5 s (two passes of the watchdog) is seen on two looks or more when the looks are
    at most 2.5 s apart."""

    def __init__(self, pool: asyncpg.Pool, client: aioredis.Redis) -> None:
        self._pool, self._client = pool, client
        self.looks = 0
        self.seen: dict[tuple[UUID, str], tuple[float, float]] = {}  # first, last look
        self._last: float | None = None
        self.widest = 0.0  # the longest time between two looks

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.look()
            except (asyncpg.PostgresError, OSError, aioredis.RedisError) as exc:
                print(f"  (a look for stranded meldingen failed: {type(exc).__name__})")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    async def look(self) -> None:
        queued = await self._pool.fetch(
            "SELECT id, gebied, xmin::text AS version FROM meldingen WHERE status = 'queued'"
        )
        pipe = self._client.pipeline(transaction=False)
        for row in queued:
            pipe.zscore(KEYS.queue(row["gebied"]), str(row["id"]))
            pipe.zscore(KEYS.leases(row["gebied"])[0], str(row["id"]))
        found = await pipe.execute() if queued else []
        at = time.monotonic()
        nowhere = {(r["id"], r["version"]) for i, r in enumerate(queued)
                   if found[2 * i] is None and found[2 * i + 1] is None}  # fmt: skip
        still = await self._pool.fetch(
            "SELECT id, xmin::text AS version FROM meldingen"
            " WHERE id = ANY($1::uuid[]) AND status = 'queued'",
            [melding_id for melding_id, _ in nowhere],
        )
        for row in still:
            key = (row["id"], row["version"])
            if key in nowhere:
                self.seen[key] = (self.seen.get(key, (at, at))[0], at)
        self.looks += 1
        self.widest = max(self.widest, at - (self._last or at))
        self._last = at

    def longest(self) -> tuple[float, UUID | None]:
        """The longest wait seen (seconds, at least) and its melding, if any."""
        if not self.seen:
            return 0.0, None
        (melding_id, _), (first, last) = max(self.seen.items(), key=lambda i: i[1][1] - i[1][0])
        return last - first, melding_id

    def describe(self) -> str:
        waits = [last - first for first, last in self.seen.values()]
        return (
            f"{self.looks} looks (at most {self.widest:.1f} s apart) for meldingen queued on "
            f"no queue and leased by nobody: {len(waits)} seen so, "
            f"{sum(w > 0 for w in waits)} of them on two looks or more (the longest for at "
            f"least {self.longest()[0]:.1f} s)"
        )


# -- the checks -------------------------------------------------------------------------

_DISPATCHABLE = """
SELECT m.id, m.gebied, m.status, m.escalated_until,
       count(a.id) FILTER (WHERE a.state = 'offered') AS offers,
       count(a.id) FILTER (WHERE a.state = 'accepted') AS accepted
  FROM meldingen m
  LEFT JOIN assignments a ON a.melding_id = m.id AND a.state IN ('offered', 'accepted')
 WHERE m.kind = 'melding' AND m.status <> 'contacted'
 GROUP BY m.id
"""
_LAST_AUDIT = """
SELECT m.id, m.status, (SELECT max(l.id) FROM audit_log l WHERE l.melding_id = m.id) AS last
  FROM meldingen m WHERE m.id = ANY($1::uuid[])
"""


NOWHERE = "broken: queued on no queue and leased by nobody"


def _classify(row: asyncpg.Record, on_queue: bool, leased: bool) -> str:
    """The state of one melding, or what is wrong with it (``broken:``)."""
    status, offers, accepted = row["status"], row["offers"], row["accepted"]
    if status == "queued" and not offers and not accepted:
        if on_queue:
            return "queued on its queue"
        return "leased" if leased else NOWHERE
    if status == "offered" and offers == 1 and not accepted:
        return "offered"
    if status == "assigned" and accepted == 1 and not offers:
        return "assigned"
    if status == "escalated" and row["escalated_until"] is not None and not offers + accepted:
        return "escalated"
    return f"broken: {status} with {offers} open offer(s) and {accepted} accepted"


async def invariant_pass(
    conn: asyncpg.Connection, client: aioredis.Redis
) -> tuple[Counter[str], dict[UUID, str]]:
    """One look: the meldingen by state, and those breaking the invariant."""
    rows = await conn.fetch(_DISPATCHABLE)
    queued = [r for r in rows if r["status"] == "queued"]
    pipe = client.pipeline(transaction=False)
    for row in queued:
        pipe.zscore(KEYS.queue(row["gebied"]), str(row["id"]))
        pipe.zscore(KEYS.leases(row["gebied"])[0], str(row["id"]))
    found = await pipe.execute() if queued else []
    where = {r["id"]: (found[2 * i] is not None, found[2 * i + 1] is not None)
             for i, r in enumerate(queued)}  # fmt: skip
    states: Counter[str] = Counter()
    broken: dict[UUID, str] = {}
    for row in rows:
        state = _classify(row, *where.get(row["id"], (False, False)))
        states[state] += 1
        if state.startswith("broken"):
            broken[row["id"]] = state
    return states, broken


async def settled_invariant(
    conn: asyncpg.Connection, client: aioredis.Redis, timeout: float
) -> tuple[Counter[str], dict[UUID, str], float]:
    """Look until no melding breaks the invariant, or ``timeout``. A melding queued on no
    queue counts only when it was so 3 s earlier too with nothing audited between
    (an enqueue on its way after a commit is no fault); every other break is read from
    one statement's snapshot and counts at once. The states, the breaks and the wait."""
    started = time.monotonic()
    earlier: dict[UUID, tuple[str, int]] = {}
    while True:
        states, broken = await invariant_pass(conn, client)
        marks = {r["id"]: (r["status"], r["last"])
                 for r in await conn.fetch(_LAST_AUDIT, list(broken))}  # fmt: skip
        confirmed = {
            m: what for m, what in broken.items()
            if what != NOWHERE or earlier.get(m) == marks.get(m)
        }  # fmt: skip
        waited = time.monotonic() - started
        if confirmed or not broken or waited > timeout:
            return states, confirmed, waited
        earlier = marks
        await asyncio.sleep(3)


_ACTIONS = {
    "melding.offer": "start",
    "melding.reassign": "replace",
    "assignment.handover": "replace",
    "assignment.decline": "end",
    "assignment.expire": "end",
    "assignment.withdraw": "end",
    "melding.repair": "end",
    "melding.gebied": "end",
}
_TRAILS = """
SELECT melding_id, array_agg(action ORDER BY id) AS actions
  FROM audit_log
 WHERE melding_id IS NOT NULL AND action = ANY($1::text[])
 GROUP BY melding_id
"""


def offered_twice(actions: list[str]) -> bool:
    """An offer made while the melding had one open (or accepted) already."""
    active = False
    for action in actions:
        kind = _ACTIONS[action]
        if kind == "start" and active:
            return True
        active = kind != "end"
    return False


async def trail(conn: asyncpg.Connection, melding_id: UUID) -> str:
    """A melding's audit trail and assignments, for the report."""
    lines = [f"    melding {melding_id}:"]
    for r in await conn.fetch(
        "SELECT id, at, action, actor_role, endpoint FROM audit_log WHERE melding_id = $1"
        " ORDER BY id", melding_id,
    ):  # fmt: skip
        lines.append(f"      audit {r['id']} {r['at']:%H:%M:%S.%f} {r['action']} "
                     f"({r['actor_role']}, {r['endpoint']})")  # fmt: skip
    for r in await conn.fetch(
        "SELECT specialist, tier, state, offered_at, answer_before, answered_at"
        " FROM assignments WHERE melding_id = $1 ORDER BY offered_at", melding_id,
    ):  # fmt: skip
        answered = f"{r['answered_at']:%H:%M:%S.%f}" if r["answered_at"] else "-"
        lines.append(f"      assignment {r['specialist']} {r['tier']} {r['state']} offered "
                     f"{r['offered_at']:%H:%M:%S.%f} answered {answered}")  # fmt: skip
    return "\n".join(lines)


async def scrape(
    urls: list[str], sample: str, label: str, headers: dict[str, str] | None = None
) -> Counter[str]:
    """A counter's samples by one label, summed over the processes at ``urls``."""
    found: Counter[str] = Counter()
    async with aiohttp.ClientSession(headers=headers) as http:
        for url in urls:
            async with http.get(url) as resp:
                text = await resp.text()
            for family in text_string_to_metric_families(text):
                for s in family.samples:
                    if s.name == sample and s.value:
                        found[s.labels[label]] += int(s.value)
    return found


# -- a run ------------------------------------------------------------------------------


def requests_for(
    factory: MeldingFactory, count: int, tokens: dict[str, str], port: int
) -> tuple[list[bytes], list[Key]]:
    """The meldingen as encoded HTTP requests (made before the load), and their keys."""
    requests, keys = [], []
    for i in range(count):
        body = factory.melding(i)
        headers = {"Authorization": f"Bearer {tokens[body['source']]}",
                   "Content-Type": "application/json"}  # fmt: skip
        requests.append(encode_post(f"127.0.0.1:{port}", PATH, orjson.dumps(body), headers))
        keys.append((body["source"], body["external_id"]))
    return requests, keys


def acknowledged_keys(result: Result, keys: list[Key]) -> list[Key] | None:
    """The keys answered 2xx; None when the generator does not say per request."""
    outcomes = getattr(result, "outcomes", None)
    if outcomes:
        return [k for k, s in zip(keys, outcomes, strict=True) if 200 <= s < 300]
    return list(keys) if result.ok == result.sent else None


@dataclass
class Run:
    """What a run sent and saw, and what it read afterwards."""

    result: Result
    keys: list[Key]
    people: People
    absence: dict[str, Any]
    stranded: Stranded
    figures: dict[str, Any] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)


async def load_and_answer(
    args: argparse.Namespace,
    network: dict[str, Any],
    seed: int,
    *,
    pool: asyncpg.Pool,
    http: aiohttp.ClientSession,
    client: aioredis.Redis,
    port: int,
    source_tokens: dict[str, str],
    user_tokens: dict[str, str],
) -> Run:
    """The load, the people answering, the absence halfway, and the settling after."""
    factory = MeldingFactory(seed=seed)
    requests, keys = requests_for(factory, int(args.rate * args.duration), source_tokens, port)
    base = f"http://127.0.0.1:{port}"
    people = People(pool, http, base, user_tokens, decline=args.decline, ignore=args.ignore,
                    seed=seed)  # fmt: skip
    stop = asyncio.Event()
    answering = asyncio.create_task(people.run(stop))
    stranded = Stranded(pool, client)
    looking = asyncio.create_task(stranded.run(stop))
    started = time.monotonic()

    def at() -> str:
        return f"  [{time.monotonic() - started:.0f} s]"

    load = asyncio.create_task(run_open_loop("127.0.0.1", port, requests, args.rate))
    await asyncio.sleep(args.duration / 2 if args.absent_at is None else args.absent_at)
    absence = await mark_absent(pool, http, base, user_tokens, network=network, people=people)
    print(f"{at()} {absence['coordinator']} marked {absence['person']} ({absence['gebied']}) "
          f"absent: HTTP {absence['status']} in {absence['took']:.2f} s, "
          f"{absence['open_before']} open offers just before", flush=True)  # fmt: skip
    result = await load
    print(f"{at()} intake: {result.summary()}", flush=True)
    await asyncio.sleep(args.settle)
    stop.set()
    await asyncio.gather(answering, looking)
    print(f"{at()} the people stopped answering", flush=True)
    return Run(result, keys, people, absence, stranded)


async def measure(
    conn: asyncpg.Connection, client: aioredis.Redis, metrics_ports: list[int], run: Run
) -> None:
    """Wait until settled, then read everything the checks need into ``run.figures``."""
    f = run.figures
    f["states"], f["broken"], f["waited"] = await settled_invariant(conn, client, timeout=60)
    now = datetime.now(UTC)
    f["suspects"] = Counter(r["kind"] for r in await conn.fetch(SUSPECTS, now, GRACE))
    f["repaired"] = await scrape(
        [f"http://127.0.0.1:{p}/metrics" for p in metrics_ports],
        "triage_invariant_repairs_total", "kind",
    )  # fmt: skip
    queries = {
        "statuses": "SELECT status, count(*) FROM meldingen WHERE kind = 'melding' GROUP BY 1",
        "kinds": "SELECT kind, count(*) FROM meldingen GROUP BY 1",
        "assignments": "SELECT state, count(*) FROM assignments GROUP BY 1",
        "tiers": "SELECT tier, count(*) FROM assignments GROUP BY 1",
        "escalations": "SELECT kind, count(*) FROM escalations GROUP BY 1",
        "audited": "SELECT action, count(*) FROM audit_log WHERE action IN"
        " ('melding.new_round', 'melding.repair', 'assignment.withdraw') GROUP BY 1",
    }
    for name, query in queries.items():
        f[name] = {r[0]: r[1] for r in await conn.fetch(query)}
    f["two_now"] = await conn.fetchval(
        "SELECT count(*) FROM (SELECT melding_id FROM assignments"
        " WHERE state IN ('offered', 'accepted') GROUP BY 1 HAVING count(*) > 1) d"
    )
    trails = await conn.fetch(_TRAILS, list(_ACTIONS))
    f["twice"] = [r["melding_id"] for r in trails if offered_twice(r["actions"])]
    change = run.absence["change_id"]
    f["away"] = (await conn.fetchrow(_ABSENCE, change, run.absence["answered_at"])
                 if change is not None else None)  # fmt: skip
    rows = await conn.fetch("SELECT source, external_id FROM meldingen")
    f["stored"] = {(r["source"], r["external_id"]) for r in rows}
    late = await conn.fetch(_ABSENCE_BROKEN, change) if change is not None else []
    shown = [*list(f["broken"])[:2], *f["twice"][:2], *[r[0] for r in late][:1],
             *[m for w, m in [run.stranded.longest()] if m is not None and w >= 4.5]]  # fmt: skip
    for melding_id in shown:
        run.examples.append(await trail(conn, melding_id))


def report(run: Run) -> list[str]:
    """Print the counts; the checks that failed."""
    f, result, people, absence = run.figures, run.result, run.people, run.absence
    stored = f["stored"]
    acknowledged = acknowledged_keys(result, run.keys)
    server_errors = sum(n for s, n in result.statuses.items() if s >= 500)
    server_errors += sum(n for (_, s), n in people.answers.items() if s >= 500)
    server_errors += int(absence["status"] >= 500)
    print(f"  meldingen: {result.sent} posted, {result.ok} acknowledged, "
          f"{len(stored & set(run.keys))} stored (by kind {f['kinds']}); HTTP statuses "
          f"{dict(result.statuses)}, errors {dict(result.errors)}; refused by reason "
          f"{dict(f['rejected']) or 'none'}")  # fmt: skip
    print(f"  dispatchable meldingen by status: {f['statuses']}")
    print(f"  invariant (settled after {f['waited']:.0f} s): {dict(f['states'])}")
    print(f"  watchdog suspects query: {dict(f['suspects']) or 'nothing'} (the queued are "
          "checked against Redis above); repairs counted by the workers: "
          f"{dict(f['repaired']) or 'none'}")  # fmt: skip
    print(f"  during the run: {run.stranded.describe()}")
    print(f"  assignments by state: {f['assignments']}; by tier: {f['tiers']}")
    print(f"  escalations by kind: {f['escalations']}; audited: {f['audited']}")
    print(f"  the people decided {dict(people.decided)} ({people.not_sent} not sent: their "
          f"person was marked absent first); answers (action, HTTP status): "
          f"{dict(people.answers)}; errors {dict(people.errors)}; 5xx by problem type "
          f"{dict(people.problems) or 'none'}")  # fmt: skip
    print(f"  two active offers: {f['two_now']} meldingen now, {len(f['twice'])} in the "
          "audit trails")  # fmt: skip
    away = f["away"]
    if away is not None:
        print(f"  absence of {absence['person']} (its time {away['changed_at']}, "
              f"answered in {absence['took']:.2f} s): {away['withdrawn']} open offers withdrawn "
              f"by it ({away['withdrawn_made_after']} of them made after its time, while it "
              f"was being stored); not withdrawn by it and open after it: "
              f"{away['offered_after']} made after its time ({away['after_answer']} of them "
              f"after the change was answered, the last at {away['last_late']}), "
              f"{away['outlived']} made before")  # fmt: skip
    print(f"  5xx answers: {server_errors}")
    failures = []
    if f["broken"]:
        failures.append(f"{len(f['broken'])} meldingen break the invariant: "
                        f"{dict(Counter(f['broken'].values()))}")  # fmt: skip
    if broken_suspects := {k: n for k, n in f["suspects"].items() if k != "queued"}:
        failures.append(f"the watchdog's suspects query found {broken_suspects}")
    if f["repaired"]:
        failures.append(f"the watchdog repaired stranded meldingen: {dict(f['repaired'])}")
    if f["two_now"] or f["twice"]:
        failures.append(f"two active offers: {f['two_now']} meldingen now, "
                        f"{len(f['twice'])} in the audit trails")  # fmt: skip
    if absence["status"] != 201 or away is None:
        failures.append(f"the absence was answered {absence['status']}")
    elif away["offered_after"] or away["outlived"]:
        failures.append(f"the absent person got {away['offered_after']} offers after the "
                        f"absence and kept {away['outlived']} open through it")  # fmt: skip
    if server_errors:
        failures.append(f"{server_errors} answers 5xx")
    if acknowledged is None:
        failures.append("not every melding acknowledged, and the generator does not say which")
    else:
        lost = set(acknowledged) - stored
        print(f"  every acknowledged melding stored exactly once: {not lost} "
              f"({len(acknowledged)} acknowledged, {len(lost)} not stored; (source, "
              "external_id) is unique)")  # fmt: skip
        if lost:
            failures.append(f"{len(lost)} acknowledged meldingen not stored")
    for example in run.examples:
        print(example)
    return failures


async def one_run(args: argparse.Namespace, network: dict[str, Any], seed: int) -> bool:
    db_url, source_tokens = await prepare_database(args.admin_url, DATABASE)
    user_tokens, ops_token = await add_users(db_url, network_people(network))
    client = aioredis.Redis.from_url(args.redis_url)
    await forget(client, KEYS)
    port = _free_port()
    metrics_ports = [_free_port(), _free_port()]
    data_dir = tempfile.mkdtemp(prefix="triage-mixed-")
    procs = start_processes(args, db_url, port, metrics_ports, data_dir)
    pool = await asyncpg.create_pool(db_url, min_size=2, max_size=4)
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=ANSWERING),
                                 timeout=aiohttp.ClientTimeout(total=30))  # fmt: skip
    try:
        run = await load_and_answer(
            args, network, seed, pool=pool, http=http, client=client, port=port,
            source_tokens=source_tokens, user_tokens=user_tokens,
        )  # fmt: skip
        async with pool.acquire() as conn:
            await measure(conn, client, metrics_ports, run)
        # The API's processes sum their metrics; why the intake refused what it refused.
        run.figures["rejected"] = await scrape(
            [f"http://127.0.0.1:{port}/metrics"], "triage_meldingen_rejected_total", "reason",
            headers={"Authorization": f"Bearer {ops_token}"},
        )  # fmt: skip
    finally:
        await http.close()
        await pool.close()
        stop_processes(procs)
        await forget(client, KEYS)
        await client.aclose()
    failures = report(run)
    for failure in failures:
        print(f"  CHECK FAILED: {failure}")
    if failures:
        print(f"  the processes' logs are kept in {data_dir}; the database is {DATABASE}")
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"  {'OK' if not failures else 'FAILED'}", flush=True)
    return not failures


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--settle", type=float, default=150,
                        help="seconds of answering after the load (default 150)")  # fmt: skip
    parser.add_argument("--decline", type=float, default=0.3)
    parser.add_argument("--ignore", type=float, default=0.2,
                        help="share of offers left to expire (default 0.2)")  # fmt: skip
    parser.add_argument("--answer-minutes", type=int, default=1)
    parser.add_argument("--absent-at", type=float, default=None,
                        help="seconds into the load (default: halfway)")  # fmt: skip
    parser.add_argument("--api-processes", type=int, default=2)
    parser.add_argument("--intake-max-wait", type=float, default=10.0,
                        help="TRIAGE_INTAKE_MAX_WAIT_SECONDS of the service (default 10, "
                        "the most it allows)")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1)
    add_server_options(parser)
    args = parser.parse_args()
    args.network_file, network = short_answer_file(args.answer_minutes)
    try:
        results = []
        for index in range(args.repeat):
            print(f"== run {index + 1} of {args.repeat}: {args.rate:.0f}/s for {args.duration} s, "
                  f"{args.decline:.0%} declined, {args.ignore:.0%} left to expire, offers "
                  f"answered within {args.answer_minutes} min", flush=True)  # fmt: skip
            results.append(await one_run(args, network, seed=500 + index))
    finally:
        os.unlink(args.network_file)
    print(f"== {sum(results)} of {len(results)} run(s) passed every check")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
