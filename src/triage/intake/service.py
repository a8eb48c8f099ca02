"""The intake stage: check a validated melding against the configuration, then store it
durably and exactly once, then queue it.

Order of work (ARCHITECTURE "Data flow"): one PostgreSQL transaction stores the melding,
links or opens the household's case, scores it and writes the audit entry; only after the
commit is the id put on the gebied's Redis queue. If Redis is down at that moment the
melding is still safe: the reconciler queues it from PostgreSQL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from triage.auth.principal import Principal
from triage.clock import Clock
from triage.households.normalise import address_key
from triage.ids import uuid7
from triage.intake.models import (
    DedupOut,
    IntakeContext,
    MeldingAccepted,
    MeldingIn,
    ReasonOut,
    UrgencyOut,
)
from triage.observability import metrics
from triage.problems import Problem, forbidden
from triage.queue.enqueue import Enqueuer
from triage.region import REGIONAL_POOL, Region
from triage.scoring import History, Rules, Urgency, score_melding
from triage.store.sql import load_queries
from triage.vocabulary import Kind, Level

log = structlog.get_logger(__name__)
_Q = load_queries("triage.intake", "intake.sql")

#: How often to decide again when concurrent intakes keep changing the same household.
_MAX_ATTEMPTS = 5
_DEDUP_METHOD = "provisional: open case at the same postcode, house number and addition"


@dataclass(frozen=True, slots=True)
class Submitted:
    accepted: MeldingAccepted
    created: bool  # False: a replay of an earlier, identical submission


def request_hash(melding: MeldingIn) -> bytes:
    """Hash of the normalised request: equal for the same melding in another spelling.
    The model serialises its fields in declaration order, so the form is canonical."""
    return hashlib.sha256(melding.model_dump_json().encode()).digest()


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A checked melding with everything derived from it before the transaction starts."""

    melding: MeldingIn
    principal: Principal
    digest: bytes
    gebied: str
    key: str | None  # the dwelling's address key, if it has an address
    number: tuple[int, str] | None
    now: datetime
    request_id: str
    endpoint: str


@dataclass(frozen=True, slots=True)
class _Decision:
    """What the transaction decided: ids, case link, urgency."""

    melding_id: UUID
    case_id: UUID
    household_id: UUID
    new_case: bool
    status: str
    urgency: Urgency
    dedup: DedupOut


class Intake:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        enqueuer: Enqueuer,
        region: Region,
        rules: Rules,
        clock: Clock,
        acquire_timeout: float,
    ) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._enqueuer = enqueuer
        self._region = region
        self._rules = rules
        self._clock = clock

    def parse(self, body: bytes) -> MeldingIn:
        """Validate a request body against the schema and the configuration, in one pass."""
        context = IntakeContext(
            signals=frozenset(self._rules.signals),
            gebieden=tuple(self._region.gebied_codes),
            now=self._clock.now(),
        )
        return MeldingIn.model_validate_json(body, context=context)

    def gebied_for(self, melding: MeldingIn) -> str:
        """Postcode, else woonplaats, else the melding's hint, else the regional pool."""
        address = melding.address
        if address is not None and address.postcode is not None:
            found = self._region.gebied_for_postcode(address.postcode)
            if found:
                return found
        if address is not None and address.woonplaats:
            found = self._region.gebied_for_place(address.woonplaats)
            if found:
                return found
        return melding.gebied or REGIONAL_POOL

    async def submit(
        self, melding: MeldingIn, principal: Principal, *, request_id: str, endpoint: str
    ) -> Submitted:
        if not principal.may_submit_as(melding.source):
            raise forbidden(
                f'this client may submit only as source "{principal.source}"'
                if principal.kind == "client"
                else "your role may not submit meldingen"
            )
        now = self._clock.now()
        prepared = self._prepare(melding, principal, now, request_id=request_id, endpoint=endpoint)
        async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
            try:
                stored = await self._store(conn, prepared)
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name != "meldingen_idempotency":
                    raise
                # Stored before (or just now by a concurrent retry): answer as the first time.
                return await self._replay(conn, melding, prepared.digest)

        if stored.status == "queued":
            self._queue(stored)
        metrics.MELDINGEN_STORED.labels(melding.source.value, melding.kind.value).inc()
        metrics.URGENCY_LEVELS.labels(stored.urgency.level.value).inc()
        metrics.DEDUP_DECISIONS.labels(stored.dedup.decision).inc()
        return Submitted(stored, created=True)

    def _prepare(
        self,
        melding: MeldingIn,
        principal: Principal,
        now: datetime,
        *,
        request_id: str,
        endpoint: str,
    ) -> _Prepared:
        address = melding.address
        number = address.number_and_addition() if address is not None else None
        key = None
        if address is not None and address.postcode is not None and number is not None:
            key = address_key(address.postcode, *number)
        return _Prepared(
            melding=melding,
            principal=principal,
            digest=request_hash(melding),
            gebied=self.gebied_for(melding),
            key=key,
            number=number,
            now=now,
            request_id=request_id,
            endpoint=endpoint,
        )

    def _decide(self, prepared: _Prepared, existing: asyncpg.Record | None) -> _Decision:
        melding = prepared.melding
        urgency = score_melding(
            self._rules,
            kind=melding.kind,
            category=melding.category,
            signals=melding.signals,
            received_at=melding.received_at,
            history=History(open_case=existing is not None),
        )
        status = "advies" if melding.kind is Kind.adviesvraag else "queued"
        if existing is not None:
            return _Decision(
                melding_id=uuid7(),
                case_id=existing["case_id"],
                household_id=existing["household_id"],
                new_case=False,
                status=status,
                urgency=urgency,
                dedup=DedupOut(
                    decision="linked",
                    matched_case_id=existing["case_id"],
                    score=1.0,
                    method=_DEDUP_METHOD,
                ),
            )
        return _Decision(
            melding_id=uuid7(),
            case_id=uuid7(),
            household_id=uuid7(),
            new_case=True,
            status=status,
            urgency=urgency,
            dedup=DedupOut(
                decision="new_case", matched_case_id=None, score=None, method=_DEDUP_METHOD
            ),
        )

    async def _store(self, conn: asyncpg.Connection, prepared: _Prepared) -> MeldingAccepted:
        """Look up, decide, write; decide again if another intake changed the household."""
        key = prepared.key
        for _attempt in range(_MAX_ATTEMPTS):
            existing = await conn.fetchrow(_Q["open_case_by_address"], key) if key else None
            decision = self._decide(prepared, existing)
            outcome = await conn.fetchval(_Q["store_melding"], *_store_args(prepared, decision))
            if outcome == "stored":
                return MeldingAccepted(
                    melding_id=decision.melding_id,
                    case_id=decision.case_id,
                    status=decision.status,
                    gebied=prepared.gebied,
                    urgency=_urgency_out(decision.urgency),
                    dedup=decision.dedup,
                )
            metrics.INTAKE_RETRIES.inc()
        raise Problem(
            503,
            "Busy",
            "this household is being updated by many meldingen at once; nothing was stored, "
            "retry with the same source and external_id",
            headers={"Retry-After": "1"},
        )

    async def _replay(
        self, conn: asyncpg.Connection, melding: MeldingIn, digest: bytes
    ) -> Submitted:
        row = await conn.fetchrow(_Q["melding_by_key"], melding.source.value, melding.external_id)
        if row is None:  # the conflicting row was rolled back meanwhile; the source retries
            raise Problem(
                409,
                "Conflict",
                "another submission with this source and external_id is in progress; retry",
            )
        if row["request_hash"] != digest:
            metrics.MELDINGEN_REJECTED.labels(melding.source.value, "conflict").inc()
            raise Problem(
                409,
                "Conflict",
                "a different melding was already stored under this source and external_id; "
                "use a new external_id for a new melding",
                "https://triage.invalid/problems/idempotency-conflict",
            )
        metrics.MELDINGEN_REPLAYED.labels(melding.source.value).inc()
        return Submitted(accepted_from_row(row), created=False)

    def _queue(self, accepted: MeldingAccepted) -> None:
        self._enqueuer.submit(
            accepted.gebied,
            accepted.melding_id,
            accepted.urgency.level,
            accepted.urgency.respond_before,
        )


def _store_args(prepared: _Prepared, decision: _Decision) -> list[Any]:
    """Positional parameters of intake_store(), in its order (intake_functions.sql)."""
    melding, principal = prepared.melding, prepared.principal
    address, number = melding.address, prepared.number
    urgency, dedup = decision.urgency, decision.dedup
    return [
        decision.melding_id,
        melding.source.value,
        melding.external_id,
        prepared.digest,
        melding.received_at,
        melding.kind.value,
        melding.category.value,
        melding.signals,
        melding.summary,
        address.postcode if address else None,
        number[0] if number else None,
        number[1] if number else "",
        address.straat if address else None,
        address.woonplaats if address else None,
        melding.gebied,
        prepared.gebied,
        prepared.key,
        None if decision.new_case else decision.case_id,  # the open case the decision saw
        decision.case_id,
        decision.household_id,
        decision.status,
        urgency.level.value,
        urgency.score,
        [{"rule": r.rule, "text": r.text, "contribution": r.contribution} for r in urgency.reasons],
        urgency.respond_before,
        urgency.callback,
        urgency.rules_version,
        dedup.decision,
        dedup.matched_case_id,
        dedup.score,
        {"method": dedup.method},
        principal.id if principal.kind == "client" else None,
        principal.id if principal.kind == "user" else None,
        principal.kind,
        principal.role,
        prepared.now,
        [p.model_dump(mode="json") for p in melding.persons],
        prepared.endpoint,
        prepared.request_id,
    ]


def _urgency_out(urgency: Urgency) -> UrgencyOut:
    return UrgencyOut(
        level=urgency.level,
        score=urgency.score,
        reasons=[
            ReasonOut(rule=r.rule, text=r.text, contribution=r.contribution)
            for r in urgency.reasons
        ],
        respond_before=urgency.respond_before,
        callback_required=urgency.callback,
        rules_version=urgency.rules_version,
    )


def accepted_from_row(row: asyncpg.Record) -> MeldingAccepted:
    return MeldingAccepted(
        melding_id=row["id"],
        case_id=row["case_id"],
        status=row["status"],
        gebied=row["gebied"],
        urgency=UrgencyOut(
            level=Level(row["urgency_level"]),
            score=row["urgency_score"],
            reasons=[ReasonOut(**r) for r in row["urgency_reasons"]],
            respond_before=row["respond_before"],
            callback_required=row["callback_required"],
            rules_version=row["rules_version"],
        ),
        dedup=DedupOut(
            decision=row["dedup_decision"],
            matched_case_id=row["dedup_matched_case_id"],
            score=row["dedup_score"],
            method=row["dedup_detail"]["method"],
        ),
    )
