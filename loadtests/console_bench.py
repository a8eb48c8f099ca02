"""The console's two bars: list and search server time at scale, and live werkvoorraad.

    python loadtests/console_bench.py [--requests 300] [--concurrency 4] [--repeat 3]
                                      [--rate 50] [--duration 30] [--no-dispatch]

Bar A (server time at scale). On the scale benchmark's database (``triage_scale``:
100,000 open and 50,000 closed cases, 1,000,000 meldingen; loaded with scale_bench.py's
own loader when it is not there or not whole, else reused and migrated to the newest
schema) it starts ``triage serve`` (2 API processes, dispatch off, the Redis queues filled
from PostgreSQL first as scale_bench does) and asks, as an operator, after a warm-up:
``GET /api/v1/meldingen`` (the werkvoorraad) first page, by gebied, by level=crisis, the
20th page by the ``next`` cursor, and as extras by source, received in the last 7 days
and review=true; ``POST /api/v1/households/search`` by address (postcode and number of
loaded households, sampled from the database), surname and birth date, surname alone
(the 20 most common surnames) and BSN. Each ``--requests`` times one after another, then
``--requests`` times with ``--concurrency`` at once (a series slower than ``--budget``
seconds stops early and says so in its n). Server time is read twice: from the
service's own histogram ``triage_http_request_duration_seconds`` on /metrics (scraped
before and after each series, interpolated as ``histogram_quantile`` does; its buckets
are 50, 100, 250 ms apart up there) and exactly, per request, from the service's request
log line (``duration_ms``, matched by the X-Request-ID this script sends). Client-observed
latency is printed beside it. Then the query plans (EXPLAIN ANALYZE) of each series.

Bar B (live werkvoorraad). On a small fresh database (``triage_console_bench``) it starts
``triage serve`` as deployed (2 API processes, dispatch in them unless ``--no-dispatch``),
logs an operator in with Debian's Chromium through Playwright, opens the werkvoorraad and
records in the page, with a MutationObserver, the time (``Date.now()``) each
``tr[data-melding-id]`` is first in the DOM. A source system (politie) then posts
meldingen open-loop at ``--rate`` per second for ``--duration`` seconds, each received
one second earlier than the one before and otherwise alike (category, signals, a new
household each), so each has the nearest deadline and belongs at the top of the first
page. Per melding: the time its page row appeared minus the time its 201 arrived.

The service's per-person limit of requests (20/s) is lifted for bar A (one user asks
``--concurrency`` at once; what is measured is the server's time, not the limit) and kept
for bar B. Results are written as JSON to ``loadtests/results/`` (not committed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import redis.asyncio as aioredis

from intake_bench import _db_url, _free_port, add_server_options, prepare_database, token_of
from scale_bench import LOADED_DB, load, quantile
from triage.auth.accounts import add_user
from triage.lists import households, werkvoorraad
from triage.lists.households import HouseholdSearchIn
from triage.queue.keys import Keys, forget
from triage.queue.reconcile import reconcile_queues
from triage.store.db import init_connection
from triage.store.migrate import migrate
from triage.store.sql import load_queries
from triage.vocabulary import Level, Source, UserRole

HERE = Path(__file__).parent
LIVE_DB = "triage_console_bench"
#: This benchmark's Redis keys (only these are emptied), apart from the other benchmarks'.
KEYS = Keys("triage-console-bench")
PASSWORD = "console bench password 2026"  # noqa: S105 (a benchmark user's)
CHROMIUM = os.environ.get("TRIAGE_BENCH_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
#: How many rows the page shows (evaluated through the DevTools protocol: the console's
#: Content-Security-Policy refuses eval, which wait_for_function's string predicates use).
ROWS = "document.querySelectorAll('tr[data-melding-id]').length"
BAR_A_MS = 100.0
BAR_B_S = 1.0
_Q = load_queries("triage.lists", "lists.sql")
_DURATION = re.compile(
    r"^triage_http_request_duration_seconds_bucket\{(?P<labels>[^}]*)\} (?P<value>\S+)$"
)

#: Records in the page when each werkvoorraad row is first in the DOM (before paint).
OBSERVER = """
window.__seen = {};
(function () {
  const mark = function () {
    const t = Date.now();
    for (const tr of document.querySelectorAll("tr[data-melding-id]")) {
      const id = tr.getAttribute("data-melding-id");
      if (!(id in window.__seen)) window.__seen[id] = t;
    }
  };
  new MutationObserver(mark).observe(document, {childList: true, subtree: true});
  document.addEventListener("DOMContentLoaded", mark);
})();
"""


# -- the service ---------------------------------------------------------------------


@dataclass
class Service:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def server_ms(self) -> dict[str, float]:
        """Each request's own time in the service, from its log line, by request id."""
        found: dict[str, float] = {}
        with self.log.open("rb") as lines:
            for line in lines:
                if b'"request"' not in line:
                    continue
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if entry.get("event") == "request" and "duration_ms" in entry:
                    found[entry["request_id"]] = float(entry["duration_ms"])
        return found


def start(db_url: str, redis_url: str, processes: int, extra: dict[str, str]) -> Service:
    """``triage serve`` as intake_bench starts it, until ready; its log to a file."""
    data_dir = Path(tempfile.mkdtemp(prefix="triage-console-bench-"))
    port = _free_port()
    env = {
        **os.environ,
        "TRIAGE_DATABASE_URL": db_url,
        "TRIAGE_REDIS_URL": redis_url,
        "TRIAGE_REDIS_PREFIX": KEYS.prefix,
        "TRIAGE_PORT": str(port),
        "TRIAGE_PROCESSES": str(processes),
        "TRIAGE_DATA_DIR": str(data_dir),
        "TRIAGE_METRICS_OPEN": "true",
        "TRIAGE_LOG_FORMAT": "json",
        **extra,
    }
    log = data_dir / "service.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "triage", "serve"], env=env,
                                stdout=subprocess.DEVNULL, stderr=out)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
                if resp.status == 200:
                    return Service(proc, port, log)
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"service did not become ready; its log ({log}):\n{log.read_text()[-4000:]}")


def scrape(port: int) -> dict[tuple[str, str], dict[float, float]]:
    """Cumulative buckets of the request-duration histogram by route and method (all
    processes): the werkvoorraad's GET and the search's POST each their own."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    routes: dict[tuple[str, str], dict[float, float]] = {}
    for line in text.splitlines():
        match = _DURATION.match(line)
        if match is None:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group("labels")))
        route = (labels["route"], labels["method"])
        routes.setdefault(route, {})[float(labels["le"])] = float(match.group("value"))
    return routes


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (as openloop.py): the value p% of them are at or below."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, -(-len(ordered) * p // 100) - 1))
    return ordered[int(rank)]


# -- bar A: the scale database ---------------------------------------------------------


async def scale_database(args: argparse.Namespace) -> str:
    """The scale benchmark's database, loaded if it is missing or not whole, else reused
    with the newest migrations applied; its URL."""
    url = _db_url(args.admin_url, LOADED_DB)
    admin = await asyncpg.connect(args.admin_url)
    exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", LOADED_DB)
    await admin.close()
    whole = False
    if exists and not args.reload:
        conn = await asyncpg.connect(url)
        try:
            counts = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM cases WHERE status = 'open') AS open_cases,"
                " (SELECT count(*) FROM meldingen WHERE external_id LIKE 'SCALE-%')"
                " AS meldingen"
            )
            whole = (counts["open_cases"] >= args.open_cases
                     and counts["meldingen"] >= args.meldingen)  # fmt: skip
            if whole:
                applied = await migrate(conn)
                names = [f"{m.version:04d}_{m.name}" for m in applied if m.version]
                print(f"[data] reusing {LOADED_DB}; migrations applied now: "
                      f"{', '.join(names) or 'none (up to date)'}", flush=True)  # fmt: skip
                if names:
                    await conn.execute("ANALYZE")
        except asyncpg.UndefinedTableError:
            whole = False
        finally:
            await conn.close()
    if not whole:
        print(f"[data] loading {LOADED_DB} with scale_bench's loader (a few minutes)", flush=True)
        url, _ = await prepare_database(args.admin_url, LOADED_DB)
        conn = await asyncpg.connect(url)
        await load(conn, args)
        await conn.close()
    conn = await asyncpg.connect(url)
    counts = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM cases WHERE status = 'open') AS open_cases,"
        " (SELECT count(*) FROM cases) AS cases,"
        " (SELECT count(*) FROM meldingen) AS meldingen,"
        " (SELECT count(*) FROM meldingen WHERE status IN ('queued', 'offered', 'assigned',"
        "  'escalated')) AS waiting,"
        " (SELECT count(*) FROM persons) AS persons,"
        " (SELECT count(*) FROM match_keys) AS keys,"
        " (SELECT max(version) FROM schema_migrations) AS version,"
        " pg_size_pretty(pg_database_size(current_database())) AS size"
    )
    await conn.close()
    print(f"[data] {LOADED_DB}: {counts['open_cases']:,} open of {counts['cases']:,} cases, "
          f"{counts['meldingen']:,} meldingen ({counts['waiting']:,} waiting on the "
          f"werkvoorraad), {counts['persons']:,} persons, {counts['keys']:,} blocking keys, "
          f"schema {counts['version']}, {counts['size']}", flush=True)  # fmt: skip
    return url


Spec = tuple[str, str, dict[str, Any] | None]  # method, path with query, JSON body


@dataclass
class Series:
    name: str
    route: str
    specs: list[Spec]
    extra: bool = False  # beyond what the bar names
    # filled per run:
    figures: dict[str, dict[str, float]] = field(default_factory=dict)


async def series(conn: asyncpg.Connection, base: str, token: str, count: int,
                 seed: int) -> list[Series]:  # fmt: skip
    """What bar A asks, each with ``count`` request variants (cycled)."""
    rng = random.Random(seed)
    lists = "/api/v1/meldingen"
    search = "/api/v1/households/search"
    gebieden = [r["gebied"] for r in await conn.fetch(
        "SELECT DISTINCT gebied FROM cases ORDER BY 1")]  # fmt: skip
    page = None
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        for _ in range(19):  # the cursor of the 20th page
            query = f"?after={page}" if page else ""
            async with http.get(f"{base}{lists}{query}") as resp:
                assert resp.status == 200, await resp.text()
                page = (await resp.json())["next"]
    week_ago = (datetime.now(UTC) - timedelta(days=7)).isoformat(timespec="seconds")
    addresses = await conn.fetch(
        "SELECT postcode, huisnummer FROM households ORDER BY random() LIMIT $1", count
    )
    born = await conn.fetch(
        "SELECT achternaam, geboortedatum FROM persons TABLESAMPLE SYSTEM (2)"
        " WHERE geboortedatum IS NOT NULL ORDER BY random() LIMIT $1",
        count,
    )
    common = await conn.fetch(
        "SELECT achternaam, count(*) AS n FROM persons GROUP BY 1 ORDER BY 2 DESC LIMIT 20"
    )
    bsns = await conn.fetch(
        "SELECT bsn FROM persons TABLESAMPLE SYSTEM (2) WHERE bsn IS NOT NULL"
        " ORDER BY random() LIMIT $1",
        count,
    )
    rng.shuffle(gebieden)
    print(f"[sample] {len(addresses)} addresses, {len(born)} surname+birth date, "
          f"{len(bsns)} BSNs; common surnames: "
          + ", ".join(f"{r['achternaam']} ({r['n']:,} persons)" for r in common[:8])
          + " ...", flush=True)  # fmt: skip
    return [
        Series("werkvoorraad, first page", lists, [("GET", lists, None)]),
        Series("werkvoorraad, gebied=<each>", lists,
               [("GET", f"{lists}?gebied={g}", None) for g in gebieden]),
        Series("werkvoorraad, level=crisis", lists, [("GET", f"{lists}?level=crisis", None)]),
        Series("werkvoorraad, 20th page (cursor)", lists, [("GET", f"{lists}?after={page}", None)]),
        Series("werkvoorraad, source=veilig_thuis", lists,
               [("GET", f"{lists}?source=veilig_thuis", None)], extra=True),
        Series("werkvoorraad, received last 7 days", lists,
               [("GET", f"{lists}?received_from={week_ago.replace('+', '%2B')}", None)],
               extra=True),
        Series("werkvoorraad, review=true", lists, [("GET", f"{lists}?review=true", None)],
               extra=True),
        Series("search, postcode+huisnummer", search, [
            ("POST", search, {"purpose": "koppelen",
                              "adres": {"postcode": r["postcode"], "huisnummer": r["huisnummer"]}})
            for r in addresses]),
        Series("search, surname+birth date", search, [
            ("POST", search, {"purpose": "beoordelen", "achternaam": r["achternaam"],
                              "geboortedatum": r["geboortedatum"].isoformat()})
            for r in born]),
        Series("search, common surname alone", search, [
            ("POST", search, {"purpose": "beoordelen", "achternaam": r["achternaam"]})
            for r in common]),
        Series("search, BSN", search, [
            ("POST", search, {"purpose": "contact", "bsn": r["bsn"]}) for r in bsns]),
    ]  # fmt: skip


async def ask(http: aiohttp.ClientSession, base: str, spec: Spec) -> tuple[str, float, int]:
    """One request; its id, client-observed seconds and status."""
    method, path, body = spec
    request_id = str(uuid.uuid4())
    started = time.perf_counter()
    async with http.request(method, base + path, json=body,
                            headers={"X-Request-ID": request_id}) as resp:  # fmt: skip
        await resp.read()
        return request_id, time.perf_counter() - started, resp.status


async def run_series(
    service: Service,
    http: aiohttp.ClientSession,
    s: Series,
    n: int,
    concurrency: int,
    *,
    budget: float,
) -> tuple[list[tuple[str, float, int]], dict[float, float], dict[float, float]]:
    """``n`` requests of ``s``, ``concurrency`` at a time, or fewer when they take longer
    than ``budget`` seconds (a slow series would take the run's hour); the histogram
    before and after."""
    measured = (s.route, s.specs[0][0])  # one method per series
    before = scrape(service.port).get(measured, {})
    done: list[tuple[str, float, int]] = []
    position = 0
    stop_at = time.monotonic() + budget

    async def worker() -> None:
        nonlocal position
        while position < n and time.monotonic() < stop_at:
            spec = s.specs[position % len(s.specs)]
            position += 1
            done.append(await ask(http, service.base, spec))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    after = scrape(service.port).get(measured, {})
    return done, before, after


async def bar_a(args: argparse.Namespace, url: str, seed: int) -> list[Series]:
    client = aioredis.Redis.from_url(args.redis_url)
    await forget(client, KEYS)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2, init=init_connection)
    started = time.monotonic()
    await reconcile_queues(pool, client, KEYS)  # the queues as a running service has them
    await pool.close()
    await client.aclose()
    print(f"[redis] queues filled from PostgreSQL in {time.monotonic() - started:.0f} s",
          flush=True)  # fmt: skip
    conn = await asyncpg.connect(url)
    desk = await add_user(conn, "console-bench-desk", UserRole.operator, datetime.now(UTC))
    service = start(url, args.redis_url, args.processes, {
        "TRIAGE_DISPATCH_IN_API": "false",
        "TRIAGE_USER_REQUESTS_PER_SECOND": "1000000",
    })  # fmt: skip
    try:
        every = await series(conn, service.base, token_of(desk), args.requests, seed)
        await conn.close()
        headers = {"Authorization": f"Bearer {desk.token}"}
        connector = aiohttp.TCPConnector(limit=max(1, args.concurrency))
        async with aiohttp.ClientSession(headers=headers, connector=connector) as http:
            for s in every:  # warm-up: each series' plans cached, its pages read
                await run_series(service, http, s, args.warmup, 1, budget=args.budget)
            results: dict[tuple[str, int], Any] = {}
            for concurrency in (1, args.concurrency):
                for s in every:
                    results[(s.name, concurrency)] = await run_series(
                        service, http, s, args.requests, concurrency, budget=args.budget
                    )
        await asyncio.sleep(0.5)  # the last log lines written
        server = service.server_ms()
    finally:
        service.stop()
    for (name, concurrency), (done, before, after) in results.items():
        s = next(x for x in every if x.name == name)
        statuses = Counter(status for _, _, status in done)
        client_ms = [seconds * 1000 for _, seconds, _ in done]
        exact = [server[rid] for rid, _, _ in done if rid in server]
        s.figures[f"c{concurrency}"] = {
            "n": len(done), "ok": statuses[200],
            "hist_p50_ms": quantile(0.5, before, after) * 1000,
            "hist_p95_ms": quantile(0.95, before, after) * 1000,
            "server_p50_ms": pct(exact, 50), "server_p95_ms": pct(exact, 95),
            "server_max_ms": max(exact, default=float("nan")),
            "client_p50_ms": pct(client_ms, 50), "client_p95_ms": pct(client_ms, 95),
            "client_max_ms": max(client_ms),
        }  # fmt: skip
        if statuses[200] != len(done):
            print(f"  !! {name} c={concurrency}: statuses {dict(statuses)}", flush=True)
    print_table(every, args.concurrency)
    return every


def print_table(every: list[Series], concurrency: int) -> None:
    head = (f"  {'what':<44} {'c':>2} {'n':>4} | {'server (log) p50':>16} {'p95':>7} "
            f"{'max':>7} | {'histogram p50':>13} {'p95':>7} | {'client p50':>10} {'p95':>7} "
            f"{'max':>7}")  # fmt: skip
    print(head)
    for c in (1, concurrency):
        for s in every:
            f = s.figures[f"c{c}"]
            mark = " (extra)" if s.extra else ""
            flag = "  > 100 ms" if f["server_p95_ms"] > BAR_A_MS else ""
            print(f"  {s.name + mark:<44} {c:>2} {f['n']:>4.0f} | {f['server_p50_ms']:>16.1f} "
                  f"{f['server_p95_ms']:>7.1f} {f['server_max_ms']:>7.1f} | "
                  f"{f['hist_p50_ms']:>13.1f} {f['hist_p95_ms']:>7.1f} | "
                  f"{f['client_p50_ms']:>10.1f} {f['client_p95_ms']:>7.1f} "
                  f"{f['client_max_ms']:>7.1f}{flag}", flush=True)  # fmt: skip


def _werkvoorraad_args(path: str) -> list[Any]:
    """The werkvoorraad query's parameters for an API path, as werkvoorraad() passes them."""
    query = dict(x.split("=", 1) for x in path.partition("?")[2].split("&") if x)
    received = query.get("received_from")
    wanted = werkvoorraad.Filter(
        gebieden=tuple(query["gebied"].split(",")) if "gebied" in query else None,
        levels=tuple(Level(x) for x in query["level"].split(",")) if "level" in query else None,
        sources=tuple(Source(x) for x in query["source"].split(",")) if "source" in query
        else None,
        received_from=datetime.fromisoformat(received.replace("%2B", "+")) if received
        else None,
        review=query.get("review") == "true",
    )  # fmt: skip
    return werkvoorraad.arguments(wanted.gebieden, wanted, query.get("after"), 51)


async def plans(url: str, every: list[Series]) -> str:
    """EXPLAIN ANALYZE of each series' query (its first variant, warm), as the service
    runs it (a generic plan, as the service's prepared statements come to use, is not
    forced: the first executions of a prepared statement are planned with the values)."""
    conn = await asyncpg.connect(url)
    out = []
    for s in every:
        method, path, body = s.specs[0]
        if method == "GET":
            sql, values = _Q["werkvoorraad"], _werkvoorraad_args(path)
        else:
            search = HouseholdSearchIn.model_validate_json(orjson.dumps(body))
            sql, values = _Q["households"], households.arguments(search, None, 26)
        for _ in range(3):
            await conn.fetch(sql, *values)
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *values)
        lines = [r[0] for r in rows]
        out.append(f"\n-- {s.name}: {method} {path[:90]} {orjson.dumps(body).decode()}\n"
                   + "\n".join(lines))  # fmt: skip
    await conn.close()
    return "\n".join(out)


# -- bar B: the live werkvoorraad -------------------------------------------------------

_LETTERS = "ABCDEFGHJKLMNPRTUVWXYZ"  # no S: SA, SD and SS are never issued


def _name(i: int) -> str:
    """A surname of letters only, its own for each i (no digits: names are normalised)."""
    letters = "bdfgklmnprtvz"
    vowels = "aeiou"
    out = ""
    while True:
        out += letters[i % 13] + vowels[i // 13 % 5]
        i //= 65
        if not i:
            return "Q" + out


def melding(i: int, dwelling: int, received_at: datetime, tag: str) -> dict[str, Any]:
    """Alike but for their time and household: the same category and signals."""
    letters = _LETTERS[dwelling // 39 % 22] + _LETTERS[dwelling // 858 % 22]
    postcode = f"50{dwelling % 39 + 11} {letters}"
    return {
        "source": "politie",
        "external_id": f"CB-{tag}-{i}",
        "received_at": received_at.isoformat(timespec="seconds"),
        "kind": "melding",
        "category": "huiselijk_geweld",
        "signals": ["geweld_nu"],
        "summary": "Benchmark: live werkvoorraad. (Fictieve testgegevens.)",
        "address": {"postcode": postcode, "huisnummer": str(dwelling // 18876 % 999 + 1),
                    "woonplaats": "Tilburg"},
        "persons": [{"role": "slachtoffer", "voornaam": "Bench", "achternaam": _name(i)}],
    }  # fmt: skip


async def bar_b(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    url, tokens = await prepare_database(args.admin_url, LIVE_DB)
    conn = await asyncpg.connect(url)
    await add_user(conn, "console-bench-operator", UserRole.operator, datetime.now(UTC),
                   password=PASSWORD)  # fmt: skip
    await conn.close()
    client = aioredis.Redis.from_url(args.redis_url)
    await forget(client, KEYS)
    await client.aclose()
    service = start(url, args.redis_url, args.processes,
                    {"TRIAGE_DISPATCH_IN_API": "true" if args.dispatch else "false"})  # fmt: skip
    rng = random.Random(seed)
    count = int(args.rate * args.duration)
    warm = 10
    dwellings = rng.sample(range(18876 * 999), count + warm)
    tag = f"{seed}-{uuid.uuid4().hex[:8]}"
    base_time = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    acknowledged: dict[str, float] = {}  # melding id: wall-clock time of its 201 (s)
    statuses: Counter[int] = Counter()
    late: list[float] = []
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            context = await browser.new_context(viewport={"width": 1280, "height": 900},
                                                locale="nl-NL")  # fmt: skip
            await context.add_init_script(OBSERVER)
            page = await context.new_page()
            await page.goto(f"{service.base}/login")
            await page.fill("#username", "console-bench-operator")
            await page.fill("#password", PASSWORD)
            await page.click("form.stack button[type=submit]")
            await page.wait_for_load_state()
            if "/login" in page.url:
                raise SystemExit("login failed: " + await page.inner_text("main"))
            await page.goto(f"{service.base}/werkvoorraad")
            await page.wait_for_selector("tbody#work-rows")
            headers = {"Authorization": f"Bearer {tokens['politie']}"}
            async with aiohttp.ClientSession(headers=headers) as http:

                async def post(i: int, due: float, record: bool) -> None:
                    late.append(max(0.0, time.monotonic() - due))
                    received = base_time - timedelta(seconds=i + 1)
                    body = melding(i, dwellings[i], received, tag)
                    async with http.post(f"{service.base}/api/v1/meldingen", json=body) as resp:
                        at = time.time()
                        statuses[resp.status] += 1
                        if resp.status != 201:
                            return
                        answer = await resp.json()
                    if record:
                        acknowledged[answer["melding_id"]] = at

                async def offer(first: int, n: int, rate: float, record: bool) -> None:
                    t0 = time.monotonic()
                    tasks = []
                    for k in range(n):
                        due = t0 + k / rate
                        await asyncio.sleep(max(0.0, due - time.monotonic()))
                        tasks.append(asyncio.create_task(post(first + k, due, record)))
                    await asyncio.gather(*tasks)

                # Warm-up: the stream open, the pipeline through; wait until they show.
                await offer(0, warm, 5, record=False)
                shown = 0
                deadline = time.monotonic() + 15
                while shown < warm and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                    shown = await page.evaluate(ROWS)
                if shown < warm:
                    raise SystemExit(f"the warm-up meldingen did not show ({shown} rows)")
                late.clear()
                await offer(warm, count, args.rate, record=True)
            deadline = time.monotonic() + 10
            seen: dict[str, float] = {}
            while time.monotonic() < deadline:
                seen = await page.evaluate("window.__seen")
                if all(m in seen for m in acknowledged):
                    break
                await asyncio.sleep(0.5)
            await browser.close()
    finally:
        service.stop()
    delays = [seen[m] / 1000 - t for m, t in acknowledged.items() if m in seen]
    # Each the nearest deadline when it came: the same level, deadlines falling with i.
    conn = await asyncpg.connect(url)
    stored = await conn.fetch(
        "SELECT external_id, urgency_level, status, respond_before FROM meldingen"
        " WHERE external_id LIKE $1",
        f"CB-{tag}-%",
    )
    await conn.close()
    levels = Counter(r["urgency_level"] for r in stored)
    states = Counter(r["status"] for r in stored)
    deadlines = [
        r["respond_before"]
        for r in sorted(stored, key=lambda r: int(r["external_id"].rsplit("-", 1)[1]))
    ]
    out_of_order = sum(b >= a for a, b in itertools.pairwise(deadlines))
    figures = {
        "posted": count, "acknowledged": len(acknowledged), "statuses": dict(statuses),
        "appeared": len(delays),
        "p50_ms": pct(delays, 50) * 1000, "p95_ms": pct(delays, 95) * 1000,
        "max_ms": max(delays, default=float("nan")) * 1000,
        "min_ms": min(delays, default=float("nan")) * 1000,
        "within_1s": sum(d <= BAR_B_S for d in delays) / max(1, len(acknowledged)),
        "generator_late_p99_ms": pct(late, 99) * 1000, "levels": dict(levels),
        "statuses_after": dict(states), "out_of_order": out_of_order,
    }  # fmt: skip
    print(f"  bar B ({'dispatch on' if args.dispatch else 'dispatch off'}): "
          f"{figures['acknowledged']}/{count} acknowledged (statuses {dict(statuses)}), "
          f"{figures['appeared']} appeared on the page; 201-to-row p50 "
          f"{figures['p50_ms']:.0f} ms, p95 {figures['p95_ms']:.0f} ms, max "
          f"{figures['max_ms']:.0f} ms (min {figures['min_ms']:.0f}); within 1 s: "
          f"{figures['within_1s']:.1%}; levels {dict(levels)}, statuses after {dict(states)}, "
          f"{out_of_order} not the nearest deadline when posted; generator late p99 "
          f"{figures['generator_late_p99_ms']:.1f} ms", flush=True)  # fmt: skip
    return figures


# -- main ---------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300, help="per series (bar A)")
    parser.add_argument("--warmup", type=int, default=30, help="per series (bar A)")
    parser.add_argument(
        "--budget", type=float, default=30,
        help="bar A: seconds a series may take; a slower one stops early (its n is less)",
    )  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=4, help="bar A's concurrent series")
    parser.add_argument("--processes", type=int, default=2, help="API processes")
    parser.add_argument("--rate", type=float, default=50, help="bar B: meldingen/s")
    parser.add_argument("--duration", type=float, default=30, help="bar B: seconds")
    parser.add_argument("--dispatch", action=argparse.BooleanOptionalAction, default=True,
                        help="bar B: dispatch in the API processes, as deployed")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["a", "b"], help="one bar only")
    parser.add_argument("--reload", action="store_true", help="load triage_scale again")
    parser.add_argument("--open-cases", type=int, default=100_000)
    parser.add_argument("--closed-cases", type=int, default=50_000)
    parser.add_argument("--meldingen", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7, help="the scale database's (scale_bench)")
    add_server_options(parser)
    args = parser.parse_args()
    print("[command] " + " ".join([Path(sys.executable).name, *sys.argv]), flush=True)

    url = await scale_database(args) if args.only != "b" else ""
    runs: list[dict[str, Any]] = []
    every: list[Series] = []
    for index in range(args.repeat):
        print(f"== run {index + 1} of {args.repeat}", flush=True)
        run: dict[str, Any] = {}
        if args.only != "b":
            every = await bar_a(args, url, seed=2026 + index)
            run["a"] = {s.name: s.figures for s in every}
        if args.only != "a":
            run["b"] = await bar_b(args, seed=2026 + index)
        runs.append(run)

    print(f"== medians over {len(runs)} run(s), {args.processes} API processes")
    if args.only != "b":
        for s in every:
            for key in s.figures:
                s.figures[key] = {k: _median([r["a"][s.name][key][k] for r in runs])
                                  for k in s.figures[key]}  # fmt: skip
        print(f"  bar A: server p95 <= {BAR_A_MS:.0f} ms (medians of each run's figures)")
        print_table(every, args.concurrency)
    if args.only != "a":
        keys = ["appeared", "p50_ms", "p95_ms", "max_ms", "within_1s"]
        med = {k: _median([float(r["b"][k]) for r in runs]) for k in keys}
        print(f"  bar B: {args.rate:.0f}/s for {args.duration:.0f} s: appeared "
              f"{med['appeared']:.0f}, 201-to-row p50 {med['p50_ms']:.0f} ms, p95 "
              f"{med['p95_ms']:.0f} ms, max {med['max_ms']:.0f} ms; within 1 s "
              f"{med['within_1s']:.1%} (bar: 95%)")  # fmt: skip
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S}"
    (out_dir / f"console-{stamp}.json").write_text(json.dumps(runs, indent=1, default=str))
    if args.only != "b":
        shown = await plans(url, every)
        (out_dir / f"console-plans-{stamp}.txt").write_text(shown)
        slow = {s.name for s in every if s.figures["c1"]["server_p95_ms"] > BAR_A_MS}
        for block in shown.split("\n-- ")[1:]:
            title = block.split(":", 1)[0]
            timing = re.findall(r"Execution Time: ([\d.]+) ms", block)
            print(f"[plan] {title}: execution {timing[-1] if timing else '?'} ms")
            if title in slow:  # over the bar: the plan itself
                print("\n".join("    " + line for line in block.splitlines()[1:]))
        print(f"[plans] {out_dir / f'console-plans-{stamp}.txt'}")
    print(f"[report] {out_dir / f'console-{stamp}.json'}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
