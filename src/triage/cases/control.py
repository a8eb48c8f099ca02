"""Operators and CIT correct household recognition by hand.

Link a melding to another case, take it out of its case, merge two cases, settle a
possible duplicate (confirm: merge; reject: keep apart), close a case. Each change is one
transaction that:

1. takes the advisory locks of the touched cases' blocking keys (the ones the intake
   takes, so no intake decides against these cases meanwhile), then the case rows;
2. moves meldingen and rebuilds the matching profile and keys of every case touched, so
   that recognition afterwards sees the households as corrected;
3. re-scores the meldingen that joined a household's history and still wait for first
   contact (queued, offered, escalated or accepted): a melding that turns
   out to be a herhaalmelding is raised. A correction never lowers an urgency; lowering
   is an operator's explicit override with its own reason;
4. records the change with its reason (``case_changes``) and audits it.

The raised meldingen's queue order follows after the commit: their effects come back
with the answer (triage/effects.py).
A merged case is closed with ``merged_into`` set; its meldingen, persons and history
move to the case it joined, and the change log keeps where each came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field

from triage.auth.principal import Principal, ReadScope
from triage.cases.read import ELSEWHERE, cases_in_gebied
from triage.dispatch.manual import move_to
from triage.effects import Changed, Done, Effect, Enqueue
from triage.households.keys import lock_keys
from triage.households.profile import MeldingFacts, PersonFacts, build_profile, history_of
from triage.ids import uuid7
from triage.observability import metrics
from triage.problems import conflict, forbidden, not_found
from triage.request_body import RequestBody
from triage.scoring import History, Rules, score_melding
from triage.store.sql import load_queries
from triage.vocabulary import LEVEL_ASCENDING, WAITING, Category, Kind, Level

_Q = load_queries("triage.cases", "control.sql")

Action = Literal["link", "unlink", "merge", "review_confirm", "review_reject", "close"]


class _Reasoned(RequestBody):
    reason: str = Field(
        min_length=5, max_length=1000, description="Why; kept with the change, shown to colleagues."
    )


class LinkIn(_Reasoned):
    case_id: UUID = Field(description="The open case the melding belongs to.")


class UnlinkIn(_Reasoned):
    pass


class MergeIn(_Reasoned):
    into_case_id: UUID = Field(description="The open case that stays; this one joins it.")


class MergeHereIn(_Reasoned):
    case_id: UUID = Field(description="The open case that joins the melding's case.")


class CloseIn(_Reasoned):
    pass


class ReviewDecisionIn(_Reasoned):
    decision: Literal["confirm", "reject"] = Field(
        description="confirm: the same household, the cases are merged; reject: another "
        "household, they stay apart."
    )


class RaisedOut(BaseModel):
    melding_id: UUID
    gebied: str
    level: Level
    score: int
    respond_before: datetime
    queued: bool = Field(exclude=True)  # on a queue, whose order follows the new level


class CaseChangeOut(BaseModel):
    action: Action
    case_id: UUID = Field(description="The case the melding or case is in after the change.")
    moved_melding_ids: list[UUID]
    closed_case_ids: list[UUID]
    raised: list[RaisedOut] = Field(
        description="Meldingen waiting for first contact whose urgency rose because they "
        "joined a history."
    )
    rescored: list[RaisedOut] = Field(
        default_factory=list,
        description="A melding taken out of its case, scored again without that case's "
        "history (its level may be lower; an operator's override stands).",
    )
    rerouted: list[UUID] = Field(
        default_factory=list,
        description="Meldingen not yet accepted that followed their new case to its gebied "
        "(an open offer withdrawn, queued there).",
    )


class ReviewOut(BaseModel):
    melding_id: UUID
    case_id: UUID = Field(description="The case the melding was queued under.")
    candidate_case_id: UUID | None = Field(
        description="The case it may belong to (followed through any merge since); none "
        "for a coordinator when that case lies outside their gebied (the desk settles it)."
    )
    received_at: datetime
    gebied: str
    level: Level
    score: float | None
    reasons: list[str]


class ReviewsOut(BaseModel):
    reviews: list[ReviewOut]


@dataclass(frozen=True, slots=True)
class ChangeContext:
    """Who changes what, when, through which request."""

    principal: Principal
    now: datetime
    endpoint: str
    request_id: str
    rules: Rules


@dataclass(frozen=True, slots=True)
class _Stored:
    """A stored melding as a change needs it."""

    facts: MeldingFacts
    case_id: UUID
    status: str
    kind: Kind
    category: Category
    signals: list[str]
    score: int
    reasons: list[dict[str, Any]]
    respond_before: datetime
    gebied: str


def _stored(row: asyncpg.Record) -> _Stored:
    persons = tuple(
        PersonFacts(
            bsn=p["bsn"], voornaam=p["voornaam"], tussenvoegsel=p["tussenvoegsel"],
            achternaam=p["achternaam"],
            geboortedatum=date.fromisoformat(p["geboortedatum"]) if p["geboortedatum"] else None,
        )
        for p in row["persons"]
    )  # fmt: skip
    return _Stored(
        facts=MeldingFacts(
            id=row["id"], received_at=row["received_at"], level=row["urgency_level"],
            postcode=row["postcode"], huisnummer=row["huisnummer"],
            toevoeging=row["toevoeging"], straat=row["straat"], woonplaats=row["woonplaats"],
            persons=persons,
        ),
        case_id=row["case_id"], status=row["status"], kind=Kind(row["kind"]),
        category=Category(row["category"]), signals=list(row["signals"]),
        score=row["urgency_score"], reasons=list(row["urgency_reasons"]),
        respond_before=row["respond_before"], gebied=row["gebied"],
    )  # fmt: skip


async def lock_cases(
    conn: asyncpg.Connection, case_ids: Sequence[UUID], more_keys: Sequence[str] = ()
) -> dict[UUID, asyncpg.Record]:
    """The cases, locked as a change to their households must lock them: first the
    advisory locks of their blocking keys and of ``more_keys`` (keys the change may give
    them), the ones the intake takes, so that no intake decides against these cases
    meanwhile; then the case rows. Cases that do not exist are left out."""
    keys = [r["key"] for r in await conn.fetch(_Q["case_keys"], list(case_ids))]
    await conn.fetchval(_Q["advisory_locks"], list(lock_keys([*keys, *more_keys])))
    return {r["id"]: r for r in await conn.fetch(_Q["lock_cases"], list(case_ids))}


async def case_contents(
    conn: asyncpg.Connection, case_ids: Sequence[UUID]
) -> dict[UUID, list[_Stored]]:
    by_case: dict[UUID, list[_Stored]] = {c: [] for c in case_ids}
    for row in await conn.fetch(_Q["case_meldingen"], list(case_ids)):
        by_case[row["case_id"]].append(_stored(row))
    return by_case


async def rebuild_profiles(
    conn: asyncpg.Connection, cases: dict[UUID, tuple[asyncpg.Record, list[_Stored]]]
) -> None:
    """Profile and keys of each case (locked: ``lock_cases``) from the meldingen it holds,
    so that recognition afterwards sees the households as they are now."""
    keys: list[str] = []
    owners: list[UUID] = []
    households: list[UUID] = []
    open_flags: list[bool] = []
    for case_id, (case, meldingen) in cases.items():
        profile = build_profile([m.facts for m in meldingen])
        await conn.execute(
            _Q["set_profile"], case_id, profile.persons, profile.addresses, profile.recent,
            profile.earlier_crisis,
        )  # fmt: skip
        for key in sorted(profile.keys):
            keys.append(key)
            owners.append(case_id)
            households.append(case["household_id"])
            open_flags.append(case["status"] == "open")
    await conn.execute(_Q["drop_keys"], list(cases))
    await conn.execute(_Q["add_keys"], keys, owners, households, open_flags)


_MAY_CHANGE_ROLES = "operators, CIT and coordinators (in their gebied)"


def _scope(principal: Principal) -> ReadScope:
    scope = principal.change_scope()
    if scope is None:
        raise forbidden(f"only {_MAY_CHANGE_ROLES} change which case a melding belongs to")
    return scope


class _Change:
    """One correction in one transaction: locks, moves, rebuilds, re-scores, records."""

    def __init__(self, conn: asyncpg.Connection, ctx: ChangeContext) -> None:
        self.conn = conn
        self.ctx = ctx
        self.scope = _scope(ctx.principal)
        self.moved: list[UUID] = []
        self.closed: list[UUID] = []
        self.raised: list[RaisedOut] = []
        self.rescored: list[RaisedOut] = []
        self.rerouted: list[_Stored] = []
        self.effects: list[Effect] = []

    def in_scope(self, gebied: str) -> bool:
        return self.scope.everything or gebied == self.scope.gebied

    async def melding(
        self, melding_id: UUID, *, query: str = "melding_for_change"
    ) -> asyncpg.Record:
        row = await self.conn.fetchrow(
            _Q[query], melding_id, self.scope.everything, self.scope.gebied
        )
        if row is None:
            raise not_found("no melding with this id that you may change")
        return row

    async def lock(self, case_ids: Sequence[UUID]) -> dict[UUID, asyncpg.Record]:
        """Lock the cases (404 for one that does not exist or is out of scope)."""
        rows = await lock_cases(self.conn, case_ids)
        for case_id in case_ids:
            row = rows.get(case_id)
            if row is None or not self.in_scope(row["gebied"]):
                raise not_found(f"no case {case_id} that you may change")
        return rows

    async def relock_melding(self, melding_id: UUID, case_id: UUID) -> asyncpg.Record:
        """The melding again, locked now its case is: it must not have moved meanwhile."""
        row = await self.melding(melding_id, query="melding_locked")
        if row["case_id"] != case_id:
            raise conflict(
                "the melding was moved to another case meanwhile; look again",
                "de melding is intussen naar een andere casus verplaatst; kijk opnieuw",
            )
        return row

    async def contents(self, case_ids: Sequence[UUID]) -> dict[UUID, list[_Stored]]:
        return await case_contents(self.conn, case_ids)

    async def move(self, meldingen: Sequence[_Stored], case: asyncpg.Record) -> None:
        ids = [m.facts.id for m in meldingen]
        await self.conn.execute(_Q["move_meldingen"], ids, case["id"], case["household_id"])
        self.moved.extend(ids)

    async def rebuild(self, cases: dict[UUID, tuple[asyncpg.Record, list[_Stored]]]) -> None:
        """Profile and keys of each case from the meldingen it now holds."""
        await rebuild_profiles(self.conn, cases)

    async def close(self, case_id: UUID, merged_into: UUID | None) -> None:
        await self.conn.execute(_Q["close_case"], case_id, self.ctx.now, merged_into)
        self.closed.append(case_id)

    async def raise_urgency(self, members: Sequence[_Stored], subjects: set[UUID]) -> None:
        """Re-score the ``subjects`` still waiting for first contact (queued, offered,
        escalated or accepted) with the history of the case ``members`` form; store what
        rose (level and score only go up). Only queued ones used to be: a melding is
        offered within seconds of intake, so a link by hand raised next to none."""
        facts = [m.facts for m in members]
        for m in members:
            if m.facts.id not in subjects or m.status not in WAITING:
                continue
            raised = _rescored(m, facts, self.ctx)
            if raised is None:
                continue
            level, score, reasons, respond_before = raised
            await self.conn.execute(
                _Q["raise_urgency"], m.facts.id, level.value, score, reasons, respond_before
            )
            self.raised.append(RaisedOut(
                melding_id=m.facts.id, gebied=m.gebied, level=level, score=score,
                respond_before=respond_before, queued=m.status == "queued",
            ))  # fmt: skip

    async def record(
        self,
        action: Action,
        reason: str,
        *,
        melding_id: UUID | None,
        from_case: UUID | None,
        to_case: UUID | None,
    ) -> None:
        p = self.ctx.principal
        detail = {
            "moved": self.moved,
            "closed": self.closed,
            "raised": [r.model_dump(mode="json") for r in self.raised],
            "rules_version": self.ctx.rules.version,
        }
        await self.conn.execute(
            _Q["record_change"], self.ctx.now, action, melding_id, from_case, to_case, p.kind,
            p.id, p.role, reason, detail, self.ctx.endpoint, self.ctx.request_id,
        )  # fmt: skip
        metrics.CASE_CHANGES.labels(action).inc()

    def out(self, action: Action, case_id: UUID) -> Done[CaseChangeOut]:
        answer = CaseChangeOut(
            action=action, case_id=case_id, moved_melding_ids=self.moved,
            closed_case_ids=self.closed, raised=self.raised, rescored=self.rescored,
            rerouted=[m.facts.id for m in self.rerouted],
        )  # fmt: skip
        changed = {r.melding_id for r in [*self.raised, *self.rescored]}
        queue = [Enqueue(r.gebied, r.melding_id, r.level, r.respond_before)
                 for r in [*self.raised, *self.rescored] if r.queued]  # fmt: skip
        queue += [Enqueue(m.gebied, m.facts.id, Level(m.facts.level), m.respond_before)
                  for m in self.rerouted if m.facts.id not in changed]  # fmt: skip
        # Not on a queue (offered, accepted): the pages that show it are told.
        shown = [Changed(r.gebied, r.melding_id)
                 for r in [*self.raised, *self.rescored] if not r.queued]  # fmt: skip
        return Done(answer, (*self.effects, *queue, *shown))

    async def reroute(self, m: _Stored, gebied: str) -> _Stored:
        """A melding not yet accepted follows its new case to that case's gebied; as it is
        then (queued there), or unchanged."""
        if m.gebied == gebied or m.status not in ("queued", "offered", "escalated"):
            return m
        if not self.in_scope(m.gebied):
            # A coordinator changes their own gebied: merging a case of theirs must not
            # pull another gebied's melding into it (and with it, its offer and a read
            # of all of it). The desk and CIT, who change the region, can.
            raise forbidden(
                "this would move a melding of another gebied into yours; the desk or CIT "
                "can make this change",
                "hiermee zou een melding van een ander gebied naar jouw gebied gaan; het "
                "meldpunt of het CIT kan dit doen",
            )
        self.effects += await move_to(
            self.conn, m.facts.id, m.gebied, gebied, now=self.ctx.now,
            actor=self.ctx.principal, endpoint=self.ctx.endpoint,
            request_id=self.ctx.request_id,
        )  # fmt: skip
        moved = replace(m, gebied=gebied, status="queued")
        self.rerouted.append(moved)
        return moved

    async def rescore_alone(self, m: _Stored) -> None:
        """Score ``m`` again from itself alone: taken out of its case, the history of the
        case it left no longer counts (its level may drop). An operator's override stands,
        and a melding that had its first contact keeps what it had."""
        if m.status not in WAITING:
            return
        if await self.conn.fetchval(_Q["has_override"], m.facts.id):
            return
        urgency = score_melding(
            self.ctx.rules, kind=m.kind, category=m.category, signals=m.signals,
            birth_dates=[p.geboortedatum for p in m.facts.persons],
            received_at=m.facts.received_at, history=History(),
        )  # fmt: skip
        if urgency.level == Level(m.facts.level) and urgency.score == m.score:
            return
        reasons = [{"rule": r.rule, "text": r.text, "contribution": r.contribution}
                   for r in urgency.reasons]  # fmt: skip
        await self.conn.execute(_Q["rescore"], m.facts.id, urgency.level.value, urgency.score,
                                reasons, urgency.respond_before)  # fmt: skip
        self.rescored.append(RaisedOut(
            melding_id=m.facts.id, gebied=m.gebied, level=urgency.level, score=urgency.score,
            respond_before=urgency.respond_before, queued=m.status == "queued",
        ))  # fmt: skip


def _rescored(
    m: _Stored, members: Sequence[MeldingFacts], ctx: ChangeContext
) -> tuple[Level, int, list[dict[str, Any]], datetime] | None:
    at = m.facts.received_at
    urgency = score_melding(
        ctx.rules,
        kind=m.kind,
        category=m.category,
        signals=m.signals,
        birth_dates=[p.geboortedatum for p in m.facts.persons],
        received_at=at,
        history=history_of(members, at, exclude=m.facts.id),
    )
    current = Level(m.facts.level)
    higher = LEVEL_ASCENDING.index(urgency.level) > LEVEL_ASCENDING.index(current)
    if not higher and urgency.score <= m.score:
        return None
    fresh = [{"rule": r.rule, "text": r.text, "contribution": r.contribution}
             for r in urgency.reasons]  # fmt: skip
    fresh_rules = {r["rule"] for r in fresh}
    # What scoring says now, and whatever it does not say any more (an operator's
    # override, a closed case's history) kept.
    reasons = fresh + [r for r in m.reasons if r["rule"] not in fresh_rules]
    level = urgency.level if higher else current
    respond_before = min(m.respond_before, urgency.respond_before) if higher else m.respond_before
    return level, max(urgency.score, m.score), reasons, respond_before


async def link_melding(
    conn: asyncpg.Connection, melding_id: UUID, change: LinkIn, ctx: ChangeContext
) -> Done[CaseChangeOut]:
    async with conn.transaction():
        c = _Change(conn, ctx)
        before = await c.melding(melding_id)
        await conn.execute(_Q["lock_work"], [melding_id], [])
        source_id, target_id = before["case_id"], change.case_id
        if source_id == target_id:
            raise conflict("the melding is in this case already", "de melding zit al in deze casus")
        cases = await c.lock(sorted({source_id, target_id}))
        await c.relock_melding(melding_id, source_id)
        target = cases[target_id]
        if target["status"] != "open":
            raise conflict(
                "that case is closed; link to an open case (or merge it first)",
                "die casus is gesloten; koppel aan een open casus (of voeg eerst samen)",
            )
        held = await c.contents([source_id, target_id])
        moving = [await c.reroute(m, target["gebied"]) for m in held[source_id]
                  if m.facts.id == melding_id]  # fmt: skip
        staying = [m for m in held[source_id] if m.facts.id != melding_id]
        await c.move(moving, target)
        joined = held[target_id] + moving
        if staying:
            await c.rebuild({source_id: (cases[source_id], staying), target_id: (target, joined)})
        else:  # its case held only this melding: it has gone into the other case
            await c.close(source_id, merged_into=target_id)
            await c.rebuild({source_id: (cases[source_id], []), target_id: (target, joined)})
        await c.raise_urgency(joined, {melding_id})
        await c.record(
            "link", change.reason, melding_id=melding_id, from_case=source_id, to_case=target_id
        )
        return c.out("link", target_id)


async def unlink_melding(
    conn: asyncpg.Connection, melding_id: UUID, change: UnlinkIn, ctx: ChangeContext
) -> Done[CaseChangeOut]:
    """Take a melding out of its case into a case of its own (a new household)."""
    async with conn.transaction():
        c = _Change(conn, ctx)
        before = await c.melding(melding_id)
        await conn.execute(_Q["lock_work"], [melding_id], [])
        source_id = before["case_id"]
        cases = await c.lock([source_id])
        await c.relock_melding(melding_id, source_id)
        held = (await c.contents([source_id]))[source_id]
        if len(held) == 1:
            raise conflict(
                "this is the only melding of its case; it stands alone already",
                "dit is de enige melding van de casus; die staat al op zichzelf",
            )
        new_id = uuid7()
        await conn.execute(_Q["new_case"], melding_id, uuid7(), new_id, ctx.now)
        new_case = (await c.lock([new_id]))[new_id]
        moving = [m for m in held if m.facts.id == melding_id]
        staying = [m for m in held if m.facts.id != melding_id]
        await c.move(moving, new_case)
        await c.rebuild({source_id: (cases[source_id], staying), new_id: (new_case, moving)})
        for m in moving:
            await c.rescore_alone(m)
        await c.record(
            "unlink", change.reason, melding_id=melding_id, from_case=source_id, to_case=new_id
        )
        return c.out("unlink", new_id)


async def _merge(c: _Change, case_id: UUID, into_id: UUID) -> None:
    if case_id == into_id:
        raise conflict(
            "a case cannot be merged into itself",
            "een casus kan niet met zichzelf worden samengevoegd",
        )
    await c.conn.execute(_Q["lock_work"], [], [case_id])
    cases = await c.lock(sorted({case_id, into_id}))
    for which, cid in (("this case", case_id), ("the case to merge into", into_id)):
        if cases[cid]["status"] != "open":
            raise conflict(
                f"{which} is closed; only open cases are merged",
                "een van beide casussen is gesloten; alleen open casussen worden samengevoegd",
            )
    held = await c.contents([case_id, into_id])
    # Meldingen not yet accepted follow the case they join to its gebied.
    moving = [await c.reroute(m, cases[into_id]["gebied"]) for m in held[case_id]]
    await c.move(moving, cases[into_id])
    await c.close(case_id, merged_into=into_id)
    joined = held[into_id] + moving
    await c.rebuild({case_id: (cases[case_id], []), into_id: (cases[into_id], joined)})
    # Both sides gain history: each queued melding is re-scored with the other's.
    await c.raise_urgency(joined, {m.facts.id for m in joined})


async def merge_cases(
    conn: asyncpg.Connection, case_id: UUID, change: MergeIn, ctx: ChangeContext
) -> Done[CaseChangeOut]:
    async with conn.transaction():
        c = _Change(conn, ctx)
        await _merge(c, case_id, change.into_case_id)
        await c.record(
            "merge", change.reason, melding_id=None, from_case=case_id,
            to_case=change.into_case_id,
        )  # fmt: skip
        return c.out("merge", change.into_case_id)


async def merge_into_case_of(
    conn: asyncpg.Connection, melding_id: UUID, change: MergeHereIn, ctx: ChangeContext
) -> Done[CaseChangeOut]:
    """The case ``change.case_id`` joins the case the melding is in now (the console's
    notice of one household in two cases): the case is read here, not taken from a page
    that may be older than a move of the melding. merge_cases checks the scope of both."""
    into = await conn.fetchval(_Q["case_of"], melding_id)
    if into is None:
        raise not_found("no melding with this id")
    return await merge_cases(
        conn, change.case_id, MergeIn(into_case_id=into, reason=change.reason), ctx
    )


async def close_case(
    conn: asyncpg.Connection, case_id: UUID, change: CloseIn, ctx: ChangeContext
) -> Done[CaseChangeOut]:
    """Close a case whose meldingen have all been taken up. Its keys stay, not open: a new
    melding about the household within 180 days opens a new case that refers to it."""
    async with conn.transaction():
        c = _Change(conn, ctx)
        case = (await c.lock([case_id]))[case_id]
        if case["status"] != "open":
            raise conflict("this case is closed already", "deze casus is al gesloten")
        waiting = await conn.fetchval(_Q["waiting_count"], case_id)
        if waiting:
            raise conflict(
                f"{waiting} melding(en) of this case still wait for first contact; a case "
                "closes after every melding has been taken up",
                f"{waiting} melding(en) van deze casus wachten nog op eerste contact; een "
                "casus sluit pas als elke melding is opgepakt",
            )
        await c.close(case_id, merged_into=None)
        await c.record("close", change.reason, melding_id=None, from_case=case_id, to_case=None)
        return c.out("close", case_id)


async def settle_review(
    conn: asyncpg.Connection, melding_id: UUID, change: ReviewDecisionIn, ctx: ChangeContext
) -> Done[CaseChangeOut]:
    """Confirm (merge the melding's case into the case it may belong to) or reject."""
    async with conn.transaction():
        c = _Change(conn, ctx)
        row = await c.melding(melding_id)
        _check_review(row)
        own_case = row["case_id"]
        into = None
        if change.decision == "confirm":
            live = await conn.fetchrow(_Q["live_case"], row["dedup_matched_case_id"])
            if live is None or live["status"] != "open":
                raise conflict(
                    "the case to compare with has been closed since; link the melding by "
                    "hand to the household's open case, or reject",
                    "de casus om mee te vergelijken is intussen gesloten; koppel de melding "
                    "zelf aan de open casus van het huishouden, of wijs af",
                )
            into = live["id"]
            if into != own_case:  # else: merged by hand already
                await _merge(c, own_case, into)
        settled = await c.relock_melding(melding_id, own_case if into is None else into)
        _check_review(settled)
        c.effects.append(Changed(settled["gebied"], melding_id))  # its review mark goes
        action: Action = "review_confirm" if into is not None else "review_reject"
        outcome = "confirmed" if into is not None else "rejected"
        await conn.execute(_Q["settle_review"], melding_id, outcome, ctx.now)
        await c.record(action, change.reason, melding_id=melding_id, from_case=own_case,
                       to_case=into)  # fmt: skip
        return c.out(action, into or own_case)


def _check_review(row: asyncpg.Record) -> None:
    if row["dedup_decision"] != "review":
        raise conflict(
            "this melding was not sent to review", "deze melding is niet ter beoordeling gestuurd"
        )
    if row["review_outcome"] is not None:
        raise conflict(
            f"this review was settled already ({row['review_outcome']})",
            "deze beoordeling is al afgehandeld",
        )


async def pending_reviews(conn: asyncpg.Connection, principal: Principal, limit: int) -> ReviewsOut:
    """Possible duplicates to settle, oldest first (no personal data: ids and reasons)."""
    scope = _scope(principal)
    rows = await conn.fetch(_Q["pending_reviews"], scope.everything, scope.gebied, limit)
    # A coordinator's list keeps out which case elsewhere a review is against, and why,
    # as their read of the melding does (read.py, _dedup_in_scope).
    others = {r["candidate_case_id"] for r in rows} - {None}
    hidden = set()
    if others and not scope.everything and scope.gebied is not None:
        hidden = others - await cases_in_gebied(conn, others, scope.gebied)
    return ReviewsOut(reviews=[_review(r, elsewhere=r["candidate_case_id"] in hidden)
                               for r in rows])  # fmt: skip


def _review(row: asyncpg.Record, *, elsewhere: bool) -> ReviewOut:
    score = row["dedup_score"]
    return ReviewOut(
        melding_id=row["melding_id"], case_id=row["case_id"], received_at=row["received_at"],
        gebied=row["gebied"], level=Level(row["urgency_level"]),
        candidate_case_id=None if elsewhere else row["candidate_case_id"],
        score=None if elsewhere or score is None else round(score, 2),
        reasons=[ELSEWHERE] if elsewhere else row["reasons"] or [],
    )  # fmt: skip
