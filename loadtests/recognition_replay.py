"""Household recognition replayed in memory: the intake's decisions in seconds, no service.

    python loadtests/recognition_replay.py febrl [--model FILE] [--train] [--show 0]
    python loadtests/recognition_replay.py dutch [--model FILE] [--train] [--show 0]

The API runs (``febrl_eval.py``, ``dedup_eval.py``) are what the bars are measured with;
they take minutes each. To try a blocking key, a level or a threshold, this replays the
same meldingen through the intake's own functions: ``as_compared`` (validated through
``MeldingIn`` as a request is), ``stored_keys`` and ``lookup_keys``, the model's key cap,
and ``decide`` with the model's weights; each case's profile grows as
``intake_store_one`` grows it (people and addresses not in it yet, at most 40 and 12).
Each melding is decided against all before it, as when each waits for its answer
(``febrl_eval.py``); ``dedup_eval.py`` posts at 400/s, so there a melding can share a
batch with one before it, which the batch's state also sees: the figures agree with the
API's to the fourth decimal on both sets, the last time both were run.

With ``--train`` it replays twice: once with the model given, then ``triage recognition
train``'s estimate from what that formed (its ``train()``, on the meldingen newest first
with the cases they were filed under, as the command reads them from the database), and
prints the second; ``--out`` keeps that model.

It prints the figures its API run prints; then why each melding that did not join its
household's case (FEBRL4: its pair's) did not, scored against that case as it stood at the
melding's turn (only the address in common, which goes to review by design; evidence below
``review_at``; not found by blocking; found with evidence below ``link_at``; held back or
another case better), with the highest recall that leaves in reach; then (``--show N``)
up to N false links and N true links it missed, each with the decision, the best score
and the fields compared, for reading.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson

import dedup_eval
import febrl_eval
from triage.households.keys import lookup_keys, stored_keys
from triage.households.match import (
    Address,
    Candidate,
    Outcome,
    Person,
    Scored,
    decide,
    score_candidate,
)
from triage.households.model import Model, Weights, dump_model, load_model
from triage.households.train import Record, train
from triage.intake.models import MeldingIn
from triage.intake.service import as_compared


@dataclass
class _Case:
    candidate: Candidate
    profiles: list[dict[str, str | None]] = field(default_factory=list)
    written: list[tuple[object, ...]] = field(default_factory=list)  # addresses as stored


@dataclass
class Filed:
    """Where a melding went, and why, for the report."""

    case_id: str
    decision: str
    matched_case_id: str | None
    best: Scored | None
    lookup: int  # its lookup keys
    compared: tuple[tuple[Person, ...], Address]
    found: frozenset[int]  # the cases blocking found


class Replay:
    """Cases and their keys in memory, decided into one melding at a time."""

    def __init__(self, model: Model) -> None:
        self._weights: Weights = model.weights()
        self._cap = model.key_cap
        self._cases: list[_Case] = []
        self._by_key: dict[str, set[int]] = {}

    def file(self, melding: dict[str, Any]) -> Filed:
        valid = MeldingIn.model_validate_json(orjson.dumps(melding))
        persons, address = as_compared(valid)
        keys = stored_keys(persons, address)
        lookup = lookup_keys(persons, address, keys)
        found = {k: cases for k in lookup if (cases := self._by_key.get(k))}
        found = {k: cases for k, cases in found.items() if len(cases) <= self._cap}
        ids = sorted({c for cases in found.values() for c in cases})
        dwelling = next((k for k in keys if k.startswith("a:")), None)
        here = found.get(dwelling, set()) if dwelling else set()
        outcome: Outcome = decide(
            persons, address, [self._cases[c].candidate for c in ids], self._weights,
            households_here=sum(1 for c in here if self._cases[c].candidate.open),
        )  # fmt: skip
        best = outcome.best_open
        if outcome.decision == "linked" and best is not None:
            index = best.candidate.case_id.int
            self._grow(self._cases[index], persons, address, _written(valid))
        else:
            index = len(self._cases)
            self._cases.append(_new_case(index, persons, address, _written(valid)))
        for key in keys:
            self._by_key.setdefault(key, set()).add(index)
        return Filed(
            case_id=str(index),
            decision=outcome.decision,
            matched_case_id=str(best.candidate.case_id.int) if best else None,
            best=best,
            lookup=len(lookup),
            compared=(persons, address),
            found=frozenset(ids),
        )

    def why_not_linked(self, filed: Filed, cases: set[int]) -> str:
        """Why a melding that belongs in one of ``cases`` (its household's) did not join
        it: scored against each of them as if blocking had found them all."""
        persons, address = filed.compared
        best = max(
            (score_candidate(persons, address, self._cases[c].candidate, self._weights)
             for c in cases),
            key=lambda s: s.score,
        )  # fmt: skip
        model = self._weights.model
        if best.persons_disagree:
            return ONLY_ADDRESS
        if best.score < model.review_at:
            return LITTLE
        if not cases & filed.found:
            return "not found by blocking"
        if best.score < model.link_at:
            return "found, evidence below link_at"
        return "found, held back or another case scored higher"

    @staticmethod
    def _grow(
        case: _Case, persons: Sequence[Person], address: Address, written: tuple[object, ...]
    ) -> None:
        """As case_profile_add (intake_functions.sql): what the profile lacks, bounded."""
        for person in persons:
            profile = person.profile()
            if profile not in case.profiles and len(case.profiles) < 40:
                case.profiles.append(profile)
                case.candidate.persons.append(Person.from_profile(profile))
        if written not in case.written and len(case.written) < 12:
            case.written.append(written)
            case.candidate.addresses.append(address)


#: Why a melding did not join its household's case, the two reasons no model could change
#: without linking wrongly: no person in common, the address alone (point 2 of
#: recognition sends it to review), and too little evidence to reach review at all.
ONLY_ADDRESS = "only the address in common (review, by design)"
LITTLE = "evidence below review_at"


def print_not_linked(reasons: Counter[str], should: int) -> None:
    """The reasons, and the highest recall any change of keys or thresholds could reach
    while the address alone does not link (and without linking on little evidence)."""
    said = ", ".join(f"{k} {v}" for k, v in reasons.most_common())
    print(f"not linked to their household's case ({sum(reasons.values())} of {should}): {said}")
    keeping = 1 - reasons[ONLY_ADDRESS] / should
    print(f"recall at most {keeping:.4f} while the address alone does not link; at most "
          f"{keeping - reasons[LITTLE] / should:.4f} without linking on evidence below "
          "review_at")  # fmt: skip


def _written(melding: MeldingIn) -> tuple[object, ...]:
    """The address as the store writes it into the profile (and compares for containment)."""
    a = melding.address
    if a is None:
        return (None,) * 5
    number = a.number_and_addition()
    return (a.postcode, *(number or (None, None)), a.straat, a.woonplaats)


def _new_case(index: int, persons: Sequence[Person], address: Address, written: tuple[object, ...]
              ) -> _Case:  # fmt: skip
    profiles = [p.profile() for p in persons]
    candidate = Candidate(
        case_id=UUID(int=index), household_id=UUID(int=index), open=True,
        addresses=[address], persons=[Person.from_profile(p) for p in profiles],
    )  # fmt: skip
    return _Case(candidate, profiles, [written])


def trained(start: Model, filed: Sequence[Filed], seed: int) -> Model:
    """What ``triage recognition train`` estimates from the cases the replay formed."""
    records = [Record(*f.compared, case=f.case_id) for f in reversed(filed)]
    model, seen = train(records, start, described_as="replay", now=datetime.now(UTC), seed=seed)
    print(f"[train] {seen.meldingen} meldingen, {seen.candidate_pairs} candidate pairs, "
          f"{seen.iterations} EM rounds")  # fmt: skip
    return model


def _steps(best: Scored | None) -> str:
    if best is None:
        return "no candidate"
    steps = ", ".join(f"{c.field}={c.level}({c.weight:+.1f})" for c in best.contributions)
    return f"score {best.score:.1f}: {steps}"


def replay_febrl(model: Model, seed: int, show: int, *, learn: bool) -> Model:
    records = febrl_eval.load_records(seed, None, datetime.now(UTC))
    truth = febrl_eval.truth_pairs(records)
    if learn:
        first = Replay(model)
        model = trained(model, [first.file(r.melding) for r in records], seed)
    replay = Replay(model)
    partner = dict(truth) | {b: a for a, b in truth}
    mine: dict[str, Filed] = {}
    reasons = Counter[str]()
    for r in records:
        mine[r.rec_id] = f = replay.file(r.melding)
        other = mine.get(partner[r.rec_id])
        if other and not (f.decision == "linked" and f.case_id == other.case_id):
            reasons[replay.why_not_linked(f, {int(other.case_id)})] += 1
    filed = {k: febrl_eval.Filed(f.case_id, f.decision, f.matched_case_id) for k, f in mine.items()}
    predicted, sizes = febrl_eval.case_pairs(filed)
    a = febrl_eval.score(febrl_eval.org_dup(predicted), truth)
    b = febrl_eval.score(predicted, {febrl_eval._pair(x, y) for x, y in truth})
    blocked, mean_lookup = febrl_eval.blocked_pairs(records, truth)
    later = febrl_eval.later_outcomes(records, truth, blocked, filed)
    decisions = Counter(f.decision for f in mine.values())
    febrl_eval.print_table([("service (replayed)", a, b)], [])
    print(f"blocking recall {len(blocked) / len(truth):.4f}; {mean_lookup:.1f} lookup keys a "
          f"record; decisions {dict(decisions)}; largest case {sizes[0]} records")  # fmt: skip
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(later.items()))
    print(f"later record of each true pair: {outcomes}")
    position = {r.rec_id: i for i, r in enumerate(records)}
    print_not_linked(reasons, len(truth))
    by_id = {r.rec_id: r for r in records}
    wrong = sorted(febrl_eval.org_dup(predicted) - truth)
    missed = sorted(p for p in truth if filed[p[0]].case_id != filed[p[1]].case_id)
    for what, pairs in (("false link", wrong[:show]), ("missed", missed[:show])):
        for pair in pairs:
            earlier, later_id = febrl_eval._in_order(pair, position)
            how = "blocked" if pair in blocked else "no key shared"
            print(f"\n{what} {later_id} ({mine[later_id].decision}, {how}): "
                  f"{_steps(mine[later_id].best)}")  # fmt: skip
            for rec in (earlier, later_id):
                print(f"  {rec:<16} {by_id[rec].peer}")
    return model


def replay_dutch(
    model: Model, seed: int, meldingen: int, households: int, show: int, *, learn: bool
) -> Model:
    world = dedup_eval.World(seed, households)
    labelled = dedup_eval.stream(world, meldingen, seed + 1)
    if learn:
        first = Replay(model)
        model = trained(model, [first.file(m) for _, _, m in labelled], seed)
    replay = Replay(model)
    rows = []
    mine = {}
    home: dict[int, set[int]] = {}  # household -> the cases its meldingen went into
    reasons = Counter[str]()
    for house, _, melding in labelled:
        f = replay.file(melding)
        mine[melding["external_id"]] = f
        if house in home and not (f.decision == "linked" and int(f.case_id) in home[house]):
            reasons[replay.why_not_linked(f, home[house])] += 1
        home.setdefault(house, set()).add(int(f.case_id))
        rows.append({"external_id": melding["external_id"], "case_id": f.case_id,
                     "dedup_decision": f.decision,
                     "dedup_matched_case_id": f.matched_case_id})  # fmt: skip
    truth = {m["external_id"]: house for house, _, m in labelled}
    groups = {m["external_id"]: group for _, group, m in labelled}
    dedup_eval.report(dedup_eval.figures(rows, truth, groups))
    owner = dedup_eval.owners(rows, truth)
    print_not_linked(reasons, len(labelled) - len(home))
    first_case: dict[int, str] = {}
    shown = Counter[str]()
    for house, group, melding in labelled:
        f = mine[melding["external_id"]]
        what = (
            "false link" if f.decision == "linked" and owner[f.case_id] != house
            else "missed" if house in first_case and f.case_id != first_case[house]
            else None
        )  # fmt: skip
        if what and shown[what] < show:
            shown[what] += 1
            print(f"\n{what} {melding['external_id']} [{group}] ({f.decision}): {_steps(f.best)}")
            print(f"  {orjson.dumps({k: melding.get(k) for k in ('persons', 'address')}).decode()}")
        first_case.setdefault(house, f.case_id)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("set", choices=("febrl", "dutch"))
    parser.add_argument("--model", type=Path, help="model file (default: the packaged one)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--meldingen", type=int, default=20_000, help="dutch only")
    parser.add_argument("--households", type=int, default=8_000, help="dutch only")
    parser.add_argument("--show", type=int, default=0, help="false and missed links to print")
    parser.add_argument("--train", action="store_true", help="replay with a model trained here")
    parser.add_argument("--out", type=Path, help="with --train: write the trained model here")
    args = parser.parse_args()
    model = load_model(args.model)
    began = time.perf_counter()
    if args.set == "febrl":
        model = replay_febrl(model, args.seed, args.show, learn=args.train)
    else:
        model = replay_dutch(model, args.seed, args.meldingen, args.households, args.show,
                             learn=args.train)  # fmt: skip
    if args.train and args.out:
        args.out.write_bytes(dump_model(model))
    print(f"[time] {time.perf_counter() - began:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
