"""What household recognition and urgency scoring add to intake with a region's history.

    python loadtests/scale_bench.py [--open-cases 100000] [--meldingen 1000000] [--repeat 3]

Loads a database (``triage_scale``) with 100,000 open cases and 50,000 closed ones and
1,000,000 earlier meldingen about them (Faker ``nl_NL`` households, seeded; their
matching profiles and blocking keys made by the service's own code), then, in each run:

1. on a fresh empty database and on the loaded one, starts ``triage serve`` (2 API
   processes) and offers meldingen open-loop (half about households the database holds,
   so recognition finds candidates, scores them and links);
2. reads ``triage_intake_recognition_seconds`` from ``/metrics`` before and after: the
   time each melding waited for the blocking queries, matching and scoring of its batch,
   which is what recognition and scoring add to intake. Its p50/p99 are interpolated
   within the histogram's buckets as Prometheus' ``histogram_quantile`` does;
3. prints the end-to-end intake latency beside it, for the empty and the loaded database.

Then it prints the query plans of the blocking and candidate queries and of the in-store
re-check, on the loaded database, for a melding about a loaded household.

The loaded meldingen are all status ``queued`` (dispatch states come with dispatch), and
the Redis queues are filled from them before the service starts, so that the reconciler
finds nothing to repair during the measurement. ``--reuse`` keeps a loaded database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aioredis

from dataset import Household, MeldingFactory
from intake_bench import (
    BENCH_KEYS,
    _db_url,
    _free_port,
    add_server_options,
    payloads,
    prepare_database,
    start_service,
    token_of,
)
from openloop import run_open_loop
from triage.auth.accounts import rotate_client
from triage.households.keys import lookup_keys, stored_keys
from triage.households.match import Address, Person
from triage.households.model import load_model
from triage.households.normalise import address_key
from triage.queue.keys import forget
from triage.queue.reconcile import reconcile_queues
from triage.region import load_region
from triage.store.db import init_connection
from triage.store.sql import load_queries

HERE = Path(__file__).parent
LOADED_DB = "triage_scale"
EMPTY_DB = "triage_scale_empty"
_LEVELS = ["crisis", "acuut", "acuut", "hoog", "hoog", "hoog", "regulier", "regulier"]
_WINDOW_H = {"crisis": 1, "acuut": 24, "hoog": 48, "regulier": 72}
_SOURCES = ["politie"] * 6 + ["veilig_thuis", "cit", "wijkteam", "meldpunt", "ggz"]
_DEDUP_DETAIL = json.dumps({"method": "loaded", "reasons": [], "candidates": []})


@dataclass
class _House:
    household: Household
    id: uuid.UUID
    case_id: uuid.UUID
    open: bool
    gebied: str
    key: str
    normal: list[Person]


def _houses(args: argparse.Namespace) -> Iterator[list[_House]]:
    """The loaded households, in chunks; open ones first."""
    region = load_region()
    factory = MeldingFactory(seed=args.seed, undated_share=args.undated)
    total = args.open_cases + args.closed_cases
    chunk: list[_House] = []
    for i in range(total):
        h = factory.household()
        normal = _persons(h)
        chunk.append(_House(
            household=h, id=uuid.uuid4(), case_id=uuid.uuid4(), open=i < args.open_cases,
            gebied=region.gebied_for_postcode(h.postcode) or "regio",
            key=address_key(h.postcode, h.huisnummer, h.toevoeging), normal=normal,
        ))  # fmt: skip
        if len(chunk) == 10_000:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _melding_counts(rng: random.Random, houses: int, meldingen: int) -> list[int]:
    """One melding per household, the rest skewed: a few households are reported often."""
    counts = [1] * houses
    for _ in range(meldingen - houses):
        counts[int(houses * rng.random() ** 2)] += 1
    return counts


async def load(conn: asyncpg.Connection, args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    total = args.open_cases + args.closed_cases
    counts = _melding_counts(rng, total, args.meldingen)
    summaries = [MeldingFactory(seed=i).fake.paragraph(nb_sentences=4) for i in range(200)]
    done = 0
    started = time.monotonic()
    for chunk in _houses(args):
        households: list[tuple[Any, ...]] = []
        cases: list[tuple[Any, ...]] = []
        meldingen: list[tuple[Any, ...]] = []
        persons: list[tuple[Any, ...]] = []
        keys: list[tuple[Any, ...]] = []
        for house in chunk:
            h = house.household
            n = counts[done]
            done += 1
            # Open cases: reported over the last 400 days; closed: 200 to 730 days ago.
            span = (1, 400) if house.open else (200, 730)
            times = sorted(
                now - timedelta(days=rng.uniform(*span), seconds=rng.randint(0, 86400))
                for _ in range(n)
            )
            levels = [rng.choice(_LEVELS) for _ in range(n)]
            opened = times[0]
            closed = None if house.open else times[-1] + timedelta(days=30)
            households.append((house.id, house.key, h.postcode, h.huisnummer, h.toevoeging,
                               h.straat, h.woonplaats, house.gebied, opened))  # fmt: skip
            profile_persons = []
            for person in house.normal:
                entry = person.profile()
                if entry not in profile_persons:
                    profile_persons.append(entry)
            address = {"postcode": h.postcode, "huisnummer": h.huisnummer,
                       "toevoeging": h.toevoeging, "straat": h.straat,
                       "woonplaats": h.woonplaats}  # fmt: skip
            recent = [{"received_at": t.isoformat(), "level": lv}
                      for t, lv in zip(times, levels, strict=True)][-60:]  # fmt: skip
            cases.append((house.case_id, house.id, "open" if house.open else "closed",
                           house.gebied, opened, closed, json.dumps(profile_persons),
                           json.dumps([address]), json.dumps(recent),
                           "crisis" in levels))  # fmt: skip
            for key in stored_keys(house.normal, _address(h)):
                keys.append((key, house.case_id, house.id, house.open))
            for t, level in zip(times, levels, strict=True):
                melding_id = uuid.uuid4()
                meldingen.append((
                    melding_id, rng.choice(_SOURCES), f"SCALE-{melding_id.hex}",
                    rng.randbytes(32), t, t, "melding", "huiselijk_geweld", [],
                    rng.choice(summaries), h.postcode, h.huisnummer, h.toevoeging, h.straat,
                    h.woonplaats, None, house.gebied, house.id, house.case_id, "queued", level,
                    50, "[]", t + timedelta(hours=_WINDOW_H[level]), False, "loaded",
                    "new_case", None, None, _DEDUP_DETAIL, uuid.UUID(int=1), None,
                ))  # fmt: skip
                for position, p in enumerate(h.persons, start=1):
                    if position > 1 and rng.random() < 0.3:
                        continue  # not every melding names everyone
                    persons.append((
                        uuid.uuid4(), melding_id, house.id, position, p["role"], p.get("bsn"),
                        p["voornaam"], None, p["achternaam"],
                        _born(p),
                    ))  # fmt: skip
        await conn.copy_records_to_table("households", records=households)
        await conn.copy_records_to_table(
            "cases", records=cases,
            columns=["id", "household_id", "status", "gebied", "opened_at", "closed_at",
                     "match_persons", "match_addresses", "recent", "earlier_crisis"],
        )  # fmt: skip
        await conn.copy_records_to_table("meldingen", records=meldingen, columns=_MELDING_COLUMNS)
        await conn.copy_records_to_table("persons", records=persons)
        await conn.copy_records_to_table(
            "match_keys", records=keys, columns=["key", "case_id", "household_id", "open"]
        )
        print(f"[load] {done:,} households, {sum(counts[:done]):,} meldingen "
              f"({time.monotonic() - started:.0f} s)", flush=True)  # fmt: skip
    await conn.execute("VACUUM ANALYZE")


_MELDING_COLUMNS = [
    "id", "source", "external_id", "request_hash", "received_at", "created_at", "kind",
    "category", "signals", "summary", "postcode", "huisnummer", "toevoeging", "straat",
    "woonplaats", "gebied_hint", "gebied", "household_id", "case_id", "status",
    "urgency_level", "urgency_score", "urgency_reasons", "respond_before", "callback_required",
    "rules_version", "dedup_decision", "dedup_matched_case_id", "dedup_score", "dedup_detail",
    "submitted_by_client", "submitted_by_user",
]  # fmt: skip


def _sample_households(args: argparse.Namespace, count: int) -> list[Household]:
    """Open loaded households, regenerated from the seed (the first ``open_cases``)."""
    factory = MeldingFactory(seed=args.seed, undated_share=args.undated)
    every = max(1, args.open_cases // count)
    return [factory.household() for _ in range(args.open_cases)][::every][:count]


def _scrape(port: int) -> dict[float, float]:
    """Cumulative bucket counts of the recognition histogram (summed over processes)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    buckets: dict[float, float] = {}
    pattern = re.compile(r'^triage_intake_recognition_seconds_bucket\{le="([^"]+)"\} (\S+)$')
    for line in text.splitlines():
        match = pattern.match(line)
        if match:
            buckets[float(match.group(1))] = float(match.group(2))
    return buckets


def quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float:
    """``histogram_quantile`` over the increase between two scrapes (linear in a bucket)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1]
    if total == 0:
        return float("nan")
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in zip(bounds, counts, strict=True):
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = bound, cumulative
    return lower


async def measure(args: argparse.Namespace, db_url: str, tokens: dict[str, str],
                  households: list[Household], seed: int) -> dict[str, Any]:  # fmt: skip
    client = aioredis.Redis.from_url(args.redis_url)
    await forget(client, BENCH_KEYS)
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2, init=init_connection)
    await reconcile_queues(
        pool, client, BENCH_KEYS
    )  # the queues as a running service would have them
    await pool.close()
    await client.aclose()
    os.environ["TRIAGE_METRICS_OPEN"] = "true"
    port = _free_port()
    service = start_service(db_url, args.redis_url, port, args.processes)
    factory = MeldingFactory(seed=seed, known_share=0.5, undated_share=args.undated)
    factory.households = list(households)
    figures: dict[str, Any] = {}
    try:
        warm, _ = payloads(factory, 400, tokens, 0, port)
        await run_open_loop("127.0.0.1", port, warm, 100)
        offset = len(warm)
        for rate in args.rates:
            count = int(rate * args.duration)
            requests, _ = payloads(factory, count, tokens, offset, port)
            offset += count
            before = _scrape(port)
            result = await run_open_loop("127.0.0.1", port, requests, rate)
            after = _scrape(port)
            figures[str(rate)] = {
                "ok": result.ok, "sent": result.sent,
                "intake_p50_ms": result.percentile(50) * 1000,
                "intake_p99_ms": result.percentile(99) * 1000,
                "recognition_p50_ms": quantile(0.5, before, after) * 1000,
                "recognition_p99_ms": quantile(0.99, before, after) * 1000,
            }  # fmt: skip
    finally:
        service.terminate()
        service.wait(timeout=20)
    return figures


_Q = load_queries("triage.intake", "intake.sql")
_RECHECK = """
SELECT coalesce(array_agg(DISTINCT x.case_id ORDER BY x.case_id), '{}')
  FROM unnest($1::text[]) AS k(key)
 CROSS JOIN LATERAL (SELECT case_id FROM match_keys
                      WHERE match_keys.key = k.key AND match_keys.open OFFSET 0) AS x"""


def _keys(households: list[Household]) -> tuple[list[str], list[str]]:
    """Lookup and stored keys of meldingen about ``households``, as the intake makes them."""
    lookup: set[str] = set()
    stored: set[str] = set()
    for h in households:
        normal = _persons(h)
        lookup.update(lookup_keys(normal, _address(h)))
        stored.update(stored_keys(normal, _address(h)))
    return sorted(lookup), sorted(stored)


def _persons(h: Household) -> list[Person]:
    """The household's people as the intake compares them."""
    return [Person.of(bsn=p.get("bsn"), voornaam=p["voornaam"], tussenvoegsel=None,
                      achternaam=p["achternaam"],
                      geboortedatum=_born(p))
            for p in h.persons]  # fmt: skip


def _born(person: dict[str, Any]) -> date | None:
    return date.fromisoformat(person["geboortedatum"]) if "geboortedatum" in person else None


def _address(h: Household) -> Address:
    """The household's address as the intake compares it."""
    return Address.written(postcode=h.postcode, huisnummer=h.huisnummer,
                           toevoeging=h.toevoeging, woonplaats=h.woonplaats,
                           straat=h.straat)  # fmt: skip


async def plans(db_url: str, households: list[Household]) -> str:
    """EXPLAIN ANALYZE of recognition's queries for one melding about a loaded household
    and for a full batch (48 meldingen, the intake's largest)."""
    conn = await asyncpg.connect(db_url)
    out = []
    for label, group in (("one melding", households[:1]), ("a batch of 48", households[:48])):
        lookup, stored = _keys(group)
        rows = await conn.fetch(_Q["cases_by_keys"], lookup)
        case_ids = sorted({r["case_id"] for r in rows})
        out.append(f"\n==== {label} about loaded households: {len(lookup)} lookup keys, "
                   f"{len(case_ids)} candidate case(s)")  # fmt: skip
        for title, sql, arg in (
            ("cases_by_keys (blocking)", _Q["cases_by_keys"], lookup),
            ("candidates (profiles of the candidate cases)", _Q["candidates"], case_ids),
            ("re-check in intake_store_one (open cases sharing a stored key)", _RECHECK, stored),
        ):
            for _ in range(3):  # warm: the plans shown are of a running service's cache state
                await conn.fetch(sql, arg)
            plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", arg)
            lines = [r[0] for r in plan]
            if len(arg) > 3:  # the literal arrays would fill the page
                lines = [re.sub(r"'\{[^}]*\}'", "'{...}'", line) for line in lines]
            out.append(f"\n-- {title}\n" + "\n".join(lines))
    await conn.close()
    return "\n".join(out)


def count_candidates(args: argparse.Namespace, new: int) -> None:
    """Counted in memory, without a database: the keys the loaded households' cases hold,
    and how many of those cases a melding about a household not loaded finds (its lookup
    keys, a key shared by more cases than the model's cap left out, as the intake
    leaves it out), on average over ``new`` such households; by kind of key, the cases
    each kind finds (a case found by two kinds counts in both)."""
    cap = load_model().key_cap
    index: dict[str, list[int]] = {}
    stored = 0
    houses = (house for chunk in _houses(args) for house in chunk)
    for number, house in enumerate(houses):
        for key in stored_keys(house.normal, _address(house.household)):
            index.setdefault(key, []).append(number)
            stored += 1
    factory = MeldingFactory(seed=args.seed + 1, undated_share=args.undated)
    found = 0
    by_kind: dict[str, int] = {}
    for _ in range(new):
        h = factory.household()
        normal = _persons(h)
        cases: set[int] = set()
        for key in lookup_keys(normal, _address(h)):
            hits = index.get(key, [])
            if len(hits) <= cap:
                cases.update(hits)
                by_kind[key[0]] = by_kind.get(key[0], 0) + len(hits)
        found += len(cases)
    kinds = ", ".join(f"{k}: {n / new:.2f}" for k, n in sorted(by_kind.items()))
    print(f"[candidates] {stored:,} keys for {args.open_cases + args.closed_cases:,} "
          f"households; a melding about a new household finds {found / new:.2f} cases "
          f"(over {new:,}); by kind {kinds}")  # fmt: skip


def _median(values: list[float]) -> float:
    return statistics.median(values)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--open-cases", type=int, default=100_000)
    parser.add_argument("--closed-cases", type=int, default=50_000)
    parser.add_argument("--meldingen", type=int, default=1_000_000)
    parser.add_argument("--rates", default="100,400", help="offered meldingen/s")
    parser.add_argument("--duration", type=int, default=20, help="seconds per rate")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--undated", type=float, default=0.0,
        help="share of people without a birth date, in the loaded households and the "
        "meldingen offered (the Dutch labelled set has 0.2); 0 gives the data of earlier runs",
    )  # fmt: skip
    parser.add_argument("--reuse", action="store_true", help="keep a loaded triage_scale")
    parser.add_argument(
        "--candidates", type=int, metavar="N",
        help="only count in memory (no database) the candidates a melding about a new "
        "household brings, over N such households, and the keys stored",
    )  # fmt: skip
    add_server_options(parser)
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",")]
    if args.candidates:
        count_candidates(args, args.candidates)
        return

    loaded_url = _db_url(args.admin_url, LOADED_DB)
    if args.reuse:
        conn = await asyncpg.connect(loaded_url)
        tokens = {
            row["source"]: token_of(await rotate_client(conn, row["name"]))
            for row in await conn.fetch("SELECT name, source FROM api_clients")
        }
    else:
        loaded_url, tokens = await prepare_database(args.admin_url, LOADED_DB)
        conn = await asyncpg.connect(loaded_url)
        await load(conn, args)
    counts = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM cases WHERE status = 'open') AS open_cases,"
        " (SELECT count(*) FROM meldingen) AS meldingen,"
        " (SELECT count(*) FROM match_keys) AS keys,"
        " pg_size_pretty(pg_database_size(current_database())) AS size"
    )
    await conn.close()
    print(f"[data] {counts['open_cases']:,} open cases, {counts['meldingen']:,} meldingen, "
          f"{counts['keys']:,} blocking keys, database {counts['size']}", flush=True)  # fmt: skip

    households = _sample_households(args, 2000)
    # External ids come from the workload's seed: a reused database holds the previous
    # invocation's, so each invocation takes its own.
    workload_seed = int(time.time())
    print(f"[workload] seed {workload_seed}", flush=True)
    runs = []
    for index in range(args.repeat):
        print(f"== run {index + 1} of {args.repeat}", flush=True)
        empty_url, empty_tokens = await prepare_database(args.admin_url, EMPTY_DB)
        run = {
            "empty": await measure(args, empty_url, empty_tokens, [], workload_seed + index),
            "loaded": await measure(args, loaded_url, tokens, households, workload_seed + index),
        }
        for rate in args.rates:
            for name in ("empty", "loaded"):
                f = run[name][str(rate)]
                print(f"  {name:>6} {rate:>5.0f}/s: {f['ok']}/{f['sent']} ok; recognition "
                      f"p50 {f['recognition_p50_ms']:.2f} ms p99 {f['recognition_p99_ms']:.2f} "
                      f"ms; intake p50 {f['intake_p50_ms']:.1f} ms p99 "
                      f"{f['intake_p99_ms']:.1f} ms", flush=True)  # fmt: skip
        runs.append(run)

    print(f"== medians over {len(runs)} run(s), {args.processes} API processes, "
          f"{args.duration} s per rate")  # fmt: skip
    for rate in args.rates:
        for name in ("empty", "loaded"):
            rows = [r[name][str(rate)] for r in runs]
            med = {k: _median([row[k] for row in rows]) for k in rows[0] if k.endswith("_ms")}
            print(f"  {name:>6} {rate:>5.0f}/s: recognition p50 {med['recognition_p50_ms']:.2f}"
                  f" ms p99 {med['recognition_p99_ms']:.2f} ms; intake p50 "
                  f"{med['intake_p50_ms']:.1f} ms p99 {med['intake_p99_ms']:.1f} ms")  # fmt: skip
    shown = await plans(loaded_url, households)
    print(shown)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S}"
    (out_dir / f"scale-{stamp}.json").write_text(orjson.dumps(runs).decode())
    (out_dir / f"scale-plans-{stamp}.txt").write_text(shown)
    print(f"[report] {out_dir / f'scale-{stamp}.json'}")


if __name__ == "__main__":
    asyncio.run(main())
