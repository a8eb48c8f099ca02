"""Estimate the recognition model from a region's own meldingen, without labels.

Splink's recipe, on the service's own comparisons and blocking:

1. ``u`` from random pairs of meldingen in two different cases: almost none of them are
   one household, so how often each level occurs among them is how often it occurs by
   chance. (Not from any two meldingen: a few households account for much of a
   region's intake, and pairs of their meldingen would count as chance what is not.)
2. The candidate pairs: meldingen that share a blocking key (``keys.py``), as the intake
   finds them; a key shared by more than ``key_cap`` meldingen is skipped, as it is there.
3. ``m`` and the prior by expectation maximisation over those pairs with ``u`` held
   fixed: each pair's probability of being one household under the current model (E),
   then each level's share among the pairs weighted by it (M), until nothing moves.
   Pairs are counted by their pattern of levels, so each round costs the number of
   distinct patterns, not of pairs.
4. Term frequencies of surnames and first names, only names seen at least
   ``min_count`` times.

A melding names several people and a case knows several; a pair of meldingen is compared
as the matcher compares it, by its best-matching pair of people under the current
weights, so the alignment is redone once the first estimate is in.

The thresholds (``link_at``, ``review_at``), the share of other people and the key cap
are choices about what a desk accepts, not estimates: they are carried over from the
model trained from, unless given.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from triage.households.keys import lookup_keys, stored_keys
from triage.households.match import Address, Person, address_level, person_evidence
from triage.households.model import LEVELS, LevelProbabilities, Model, TermFrequencies, Weights
from triage.ids import uuid7
from triage.store.sql import load_queries

_Q = load_queries("triage.households", "train.sql")

FIELDS: tuple[str, ...] = tuple(LEVELS)
Pattern = tuple[str | None, ...]  # one level (or None: not compared) per field
Probabilities = dict[str, dict[str, float]]  # field -> level -> probability

#: Probabilities are estimated with this much added to every count, so that a level not
#: seen (yet) in the sample keeps a small chance rather than none.
_PSEUDO_COUNT = 0.5


@dataclass(frozen=True, slots=True)
class Record:
    """One melding as recognition sees it."""

    persons: tuple[Person, ...]
    address: Address
    case: object = None  # the case it is in now, if any: pairs for u come from two cases

    def keys(self) -> tuple[list[str], list[str]]:
        return stored_keys(self.persons, self.address), lookup_keys(self.persons, self.address)


@dataclass(frozen=True, slots=True)
class Training:
    """What one run saw, for the model's provenance and the command's report."""

    meldingen: int
    candidate_pairs: int
    random_pairs: int
    patterns: int
    iterations: int
    skipped_keys: int


def pattern(a: Record, b: Record, w: Weights) -> Pattern:
    """The levels of a pair of meldingen: the address, and the fields of their
    best-matching people (as the matcher scores them)."""
    best: tuple[float, list[Any]] | None = None
    for pa in a.persons:
        for pb in b.persons:
            found = person_evidence(pa, pb, w, as_compared=True)
            if best is None or found[0] > best[0]:
                best = found
    levels: dict[str, str | None] = dict.fromkeys(FIELDS)
    for c in best[1] if best else ():
        if c.field in levels:
            levels[c.field] = c.level
    levels["address"] = address_level(a.address, b.address)
    return tuple(levels[f] for f in FIELDS)


Pairs = dict[tuple[int, int], set[str]]  # (earlier, later) -> the kinds of key they share


def candidate_pairs(records: Sequence[Record], key_cap: int) -> tuple[Pairs, int]:
    """Pairs (earlier, later) where the later one's lookup keys find the earlier one's
    stored keys, with the kinds of key that found them; keys shared by more than
    ``key_cap`` meldingen are skipped (and counted)."""
    by_key: dict[str, list[int]] = {}
    lookups: list[list[str]] = []
    for i, record in enumerate(records):
        stored, lookup = record.keys()
        for key in stored:
            by_key.setdefault(key, []).append(i)
        lookups.append(lookup)
    too_common = {k for k, ids in by_key.items() if len(ids) > key_cap}
    pairs: Pairs = {}
    for j, lookup in enumerate(lookups):
        for key in lookup:
            if key in too_common:
                continue
            for i in by_key.get(key, ()):
                if i < j:
                    pairs.setdefault((i, j), set()).add(key[0])
    return pairs, len(too_common)


def _random_pairs(
    records: Sequence[Record], count: int, rng: random.Random
) -> list[tuple[int, int]]:
    """Pairs of meldingen at random, never two of one case: a region's herhaalmeldingen
    are many (a few households account for much of the intake), and pairs of them would
    count as chance agreement what is the same household."""
    n = len(records)
    if n < 2:
        return []
    pairs: list[tuple[int, int]] = []
    for _ in range(count * 3):
        i, j = rng.randrange(n), rng.randrange(n - 1)
        j += j >= i
        case = records[i].case
        if case is None or case != records[j].case:
            pairs.append((i, j))
            if len(pairs) == count:
                break
    return pairs


def _shares(counts: Counter[str], levels: Sequence[str]) -> dict[str, float]:
    total = sum(counts[lv] for lv in levels) + _PSEUDO_COUNT * len(levels)
    return {lv: (counts[lv] + _PSEUDO_COUNT) / total for lv in levels}


def estimate_u(patterns: Counter[Pattern], known: Probabilities) -> Probabilities:
    """Each level's share among random pairs; a field no pair compared (a region whose
    sources never send a BSN) keeps ``known``'s: nothing was learned about it, and an
    even split would make a matching BSN worth almost nothing the day one arrives."""
    counts = {f: Counter[str]() for f in FIELDS}
    for p, c in patterns.items():
        for f, level in zip(FIELDS, p, strict=True):
            if level is not None:
                counts[f][level] += c
    return {f: _shares(counts[f], LEVELS[f]) if counts[f] else known[f] for f in FIELDS}


def expectation_maximisation(
    patterns: Counter[Pattern],
    m: Probabilities,
    u: Probabilities,
    prior: float,
    *,
    estimate_m: bool = True,
    max_iterations: int = 200,
    tolerance: float = 1e-6,
) -> tuple[Probabilities, float, int]:
    """``m`` and the prior estimated over the candidate pairs' ``patterns``, ``u`` fixed
    (with ``estimate_m`` false, the prior only)."""
    items = list(patterns.items())
    for iteration in range(1, max_iterations + 1):
        weighted = {f: Counter[str]() for f in FIELDS}
        matches = 0.0
        for p, count in items:
            pm, pu = prior, 1 - prior
            for f, level in zip(FIELDS, p, strict=True):
                if level is not None:
                    pm *= m[f][level]
                    pu *= u[f][level]
            posterior = pm / (pm + pu)
            matches += count * posterior
            for f, level in zip(FIELDS, p, strict=True):
                if level is not None:
                    weighted[f][level] += count * posterior  # type: ignore[assignment]
        total = sum(c for _, c in items)
        new_prior = min(max(matches / total, 1e-6), 1 - 1e-6)
        new_m: Probabilities = (
            {f: _shares(weighted[f], LEVELS[f]) if weighted[f] else m[f] for f in FIELDS}
            if estimate_m else m
        )  # fmt: skip
        change = max(
            [abs(new_prior - prior)]
            + [abs(new_m[f][lv] - m[f][lv]) for f in FIELDS for lv in LEVELS[f]]
        )
        m, prior = new_m, new_prior
        if change < tolerance:
            return m, prior, iteration
    return m, prior, max_iterations


def term_frequencies(records: Sequence[Record], min_count: int) -> dict[str, TermFrequencies]:
    surnames, firsts = Counter[str](), Counter[str]()
    for record in records:
        for person in record.persons:
            if person.core:
                surnames[person.core] += 1
            if len(person.first) > 1:
                firsts[person.first] += 1
    out = {}
    for name, counts in (("surname", surnames), ("first", firsts)):
        total = sum(counts.values())
        out[name] = TermFrequencies(
            min_count=min_count,
            names={n: c / total for n, c in sorted(counts.items()) if c >= min_count},
        )
    return out


#: The estimation sessions: pairs found by one kind of key, and the fields that kind of
#: key makes agree by construction, whose m cannot be learned from those pairs (Splink
#: does the same: each field's m comes from sessions blocked on other fields).
SESSIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("b", ("bsn",)),
    ("a", ("address",)),
    ("n", ("surname", "born")),
    ("f", ("first", "born")),
)
#: A session with fewer pairs than this teaches nothing reliable and is left out.
_SESSION_AT_LEAST = 100


def _masked(p: Pattern, blocked: Sequence[str]) -> Pattern:
    return tuple(None if f in blocked else lv for f, lv in zip(FIELDS, p, strict=True))


def _estimate_m(
    patterns: dict[tuple[int, int], Pattern], pairs: Pairs, start: Probabilities,
    u: Probabilities, prior: float,
) -> tuple[Probabilities, int]:  # fmt: skip
    """Each field's m, the mean of what the sessions that do not block on it learned."""
    learned: dict[str, list[dict[str, float]]] = {f: [] for f in FIELDS}
    iterations = 0
    for kind, blocked in SESSIONS:
        session = Counter(_masked(patterns[p], blocked) for p, kinds in pairs.items()
                          if kind in kinds)  # fmt: skip
        if sum(session.values()) < _SESSION_AT_LEAST:
            continue
        m, _, used = expectation_maximisation(session, start, u, prior)
        iterations += used
        for f in FIELDS:
            if f not in blocked:
                learned[f].append(m[f])
    m = {
        f: {lv: sum(x[lv] for x in learned[f]) / len(learned[f]) for lv in LEVELS[f]}
        if learned[f] else start[f]
        for f in FIELDS
    }  # fmt: skip
    return m, iterations


def train(
    records: Sequence[Record],
    start: Model,
    *,
    described_as: str,
    now: datetime,
    seed: int = 1,
    random_pairs: int = 200_000,
    min_count: int = 5,
    rounds: int = 2,
) -> tuple[Model, Training]:
    """A model estimated from ``records``, starting from ``start`` (its m and prior as
    first guesses; its thresholds and caps kept)."""
    rng = random.Random(seed)  # noqa: S311 - a sample, not a secret
    weights = start.weights()
    pairs, skipped = candidate_pairs(records, start.key_cap)
    sample = _random_pairs(records, random_pairs, rng)
    m: Probabilities = {
        f: {lv: p.m for lv, p in levels.items()} for f, levels in start.fields.items()
    }
    known_u: Probabilities = {
        f: {lv: p.u for lv, p in levels.items()} for f, levels in start.fields.items()
    }
    prior, iterations, distinct = start.prior, 0, 0
    for _ in range(rounds):
        u = estimate_u(
            Counter(pattern(records[i], records[j], weights) for i, j in sample), known_u
        )
        patterns = {(i, j): pattern(records[i], records[j], weights) for i, j in pairs}
        m, used = _estimate_m(patterns, pairs, m, u, prior)
        # The prior among all candidate pairs, with m and u as learned.
        everything = Counter(patterns.values())
        distinct = len(everything)
        _, prior, used_prior = expectation_maximisation(everything, m, u, prior,
                                                        estimate_m=False)  # fmt: skip
        iterations += used + used_prior
        current = _model(start, m=m, u=u, prior=prior, provenance={}, tf=start.term_frequencies)
        weights = current.weights()  # align people again under what was learned
    training = Training(
        meldingen=len(records), candidate_pairs=len(pairs), random_pairs=len(sample),
        patterns=distinct, iterations=iterations, skipped_keys=skipped,
    )  # fmt: skip
    provenance = {
        "on": described_as, "at": now.isoformat(timespec="seconds"),
        "meldingen": training.meldingen, "candidate_pairs": training.candidate_pairs,
        "random_pairs": training.random_pairs, "em_iterations": training.iterations,
        "seed": seed,
    }  # fmt: skip
    tf = term_frequencies(records, min_count)
    model = _model(start, m=m, u=u, prior=prior, provenance=provenance, tf=tf)
    return model, training


def _model(
    start: Model,
    *,
    m: Probabilities,
    u: Probabilities,
    prior: float,
    provenance: dict[str, Any],
    tf: dict[Any, TermFrequencies],
) -> Model:
    fields = {f: _levels(start.fields[f], m[f], u[f]) for f in FIELDS}
    body = start.model_dump() | {
        "fields": fields, "prior": _clamp(prior), "trained": provenance or start.trained,
        "term_frequencies": tf,
    }  # fmt: skip
    draft = Model.model_validate(body | {"version": "draft"})
    digest = hashlib.sha256(
        repr(sorted(draft.model_dump(exclude={"version", "trained"}).items())).encode()
    ).hexdigest()[:10]
    stamp = str(provenance.get("at", ""))[:10] or "untrained"
    return draft.model_copy(update={"version": f"{stamp}.{digest}"})


def _levels(
    start: dict[str, LevelProbabilities], m: dict[str, float], u: dict[str, float]
) -> dict[str, LevelProbabilities]:
    """A field's levels as learned, but with the weight of each level fixed by people
    kept: its u as learned (random pairs say how common it is), its m from that weight;
    the learned levels share the m that the fixed ones leave."""
    fixed_m = {lv: u[lv] * p.m / p.u for lv, p in start.items() if p.fixed}
    left = max(1 - sum(fixed_m.values()), 1e-6)
    free = sum(v for lv, v in m.items() if lv not in fixed_m) or 1.0
    return {
        lv: LevelProbabilities(
            m=_clamp(fixed_m[lv] if lv in fixed_m else m[lv] * left / free), u=_clamp(u[lv]),
            fixed=lv in fixed_m,
        )
        for lv in start
    }  # fmt: skip


def _clamp(p: float) -> float:
    return min(max(p, 1e-12), 1 - 1e-12)


def describe(model: Model) -> list[str]:
    """Each field's levels with m, u and the weight, for a person to read."""
    lines = [f"model {model.version}: prior {model.prior:.4f} "
             f"({math.log2(model.prior / (1 - model.prior)):+.1f})"]  # fmt: skip
    for f, levels in model.fields.items():
        for lv, p in levels.items():
            weight = math.log2(p.m / p.u)
            lines.append(f"  {f:<8} {lv:<22} m {p.m:.4f}  u {p.u:.6f}  {weight:+6.1f}")
    return lines


async def read_records(
    conn: asyncpg.Connection, since: datetime, limit: int, *, now: datetime
) -> list[Record]:
    """The meldingen received since ``since`` (at most ``limit``, newest first) as
    recognition sees them; the read is audited."""
    rows = await conn.fetch(_Q["meldingen"], since, limit)
    records = [_record(r) for r in rows]
    await conn.execute(_Q["audit_training"], now, str(uuid7()),
                       {"meldingen": len(records), "since": since.isoformat()})  # fmt: skip
    return records


def _record(row: asyncpg.Record) -> Record:
    persons = tuple(
        Person.of(
            bsn=p["bsn"], voornaam=p["voornaam"], tussenvoegsel=p["tussenvoegsel"],
            achternaam=p["achternaam"],
            geboortedatum=date.fromisoformat(p["geboortedatum"]) if p["geboortedatum"] else None,
        )
        for p in row["persons"]
    )  # fmt: skip
    address = Address.written(
        postcode=row["postcode"], huisnummer=row["huisnummer"], toevoeging=row["toevoeging"],
        woonplaats=row["woonplaats"], straat=row["straat"],
    )  # fmt: skip
    return Record(persons, address, row["case_id"])
