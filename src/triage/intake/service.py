"""The intake stage: check a validated melding against the configuration, then store it
durably and exactly once, then queue it.

Order of work (ARCHITECTURE "Data flow"): one PostgreSQL transaction stores the melding,
links or opens the household's case, scores it and writes the audit entry; only after the
commit does the caller get its answer, and the id goes on the gebied's Redis queue.

Meldingen are written in batches. Whatever arrives while earlier batches are being
written goes together into the next one: one lookup round trip, one store round trip and
one commit for all of them. At low load a batch holds one melding and nothing waits; under
load the batching is what lets a two-core machine keep up (README, "Performance").

A batch is one statement, so one melding the database refuses fails all of it. Then its
halves are written apart, and theirs, down to the melding that fails on its own: only
that one is refused (422), the others are stored. A database that is away fails the whole
batch (503), as splitting it would only ask it more often.

Past capacity a melding is refused at once instead of queued without bound: when this
process holds more than a batch of meldingen not yet answered and the oldest of them has
waited longer than the configured bound, a new one gets a 503 with Retry-After and
nothing of it is stored (docs/design.md, "Admission").
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from triage.auth.principal import Principal
from triage.clock import Clock
from triage.config import INTAKE_MAX_WAIT_SECONDS, RECEIVED_AT_MAX_AGE_DAYS
from triage.effects import AfterCommit, Enqueue
from triage.households.keys import (
    dwelling_key,
    identifying,
    lock_keys,
    lookup_keys,
    stored_keys,
)
from triage.households.match import (
    Address,
    Candidate,
    Contribution,
    Outcome,
    Person,
    decide,
)
from triage.households.model import Model
from triage.ids import uuid7
from triage.intake.models import (
    CandidateOut,
    ContributionOut,
    DedupOut,
    IntakeContext,
    MeldingAccepted,
    MeldingIn,
    ReasonOut,
    UrgencyOut,
)
from triage.observability import metrics
from triage.problems import Problem, forbidden, idempotency_conflict, overloaded, unstorable
from triage.region import Region
from triage.routing import gebied_for
from triage.scoring import HISTORY_WINDOW, History, Rules, Urgency, score_melding
from triage.store.db import is_unavailable
from triage.store.sql import load_queries
from triage.vocabulary import Kind, Level

log = structlog.get_logger(__name__)
_Q = load_queries("triage.intake", "intake.sql")

#: How often one melding is decided again when concurrent intakes keep changing its
#: household first, before the source is asked to retry.
_MAX_ATTEMPTS = 5
#: Meldingen per batch. intake_store_batch() writes them in one transaction; more than
#: this gains little and makes one slow batch delay many answers.
_MAX_BATCH = 48
#: Batches in flight at once, each on its own pooled connection: one, and another only for
#: a full batch waiting besides (``_start_writers``).
_MAX_WRITERS = 4
#: Past capacity, at most one log line per this many seconds says how many were refused.
_SHED_LOG_SECONDS = 1.0
_DEDUP_METHOD = "blocking + Fellegi-Sunter with learned weights (households/match.py)"
#: Candidates whose waterfall is kept with the decision, best first.
_CANDIDATES_KEPT = 3


@dataclass
class _CandidateCase:
    """A candidate case with what matching and urgency need of it."""

    match: Candidate
    closed_at: datetime | None
    recent: list[tuple[datetime, str]]  # (received_at, level) of its recent meldingen
    earlier_crisis: bool

    def history(self, at: datetime) -> History:
        before = [(t, lv) for t, lv in self.recent if t < at]
        # The case's crisis flag only for a crisis no longer in ``recent`` (older ones
        # fall out of it): a crisis in it received after this melding (which reached us
        # late) was no "earlier" crisis.
        only_flagged = not any(lv == "crisis" for _, lv in self.recent)
        return History(
            open_case=self.match.open,
            meldingen_30d=sum(1 for t, _ in before if t >= at - timedelta(days=30)),
            meldingen_180d=sum(1 for t, _ in before if t >= at - HISTORY_WINDOW),
            earlier_crisis=(only_flagged and self.earlier_crisis)
            or any(lv == "crisis" for _, lv in before),
            closed_case_180d=self.closed_at is not None and self.closed_at >= at - HISTORY_WINDOW,
        )


@dataclass
class _BatchState:
    """Blocking results for a batch, updated as its meldingen are decided in order, so
    that a later melding in the batch finds the case an earlier one opened or joined."""

    cases_by_key: dict[str, set[UUID]] = field(default_factory=dict)
    candidates: dict[UUID, _CandidateCase] = field(default_factory=dict)
    #: Keys shared by more cases than the model's cap: they find nobody (too common).
    too_common: set[str] = field(default_factory=set)

    def remember(
        self,
        prepared: _Prepared,
        case_id: UUID,
        household_id: UUID,
        *,
        new_case: bool,
        level: Level,
    ) -> None:
        for key in prepared.keys:
            self.cases_by_key.setdefault(key, set()).add(case_id)
        entry = self.candidates.get(case_id)
        if entry is None or new_case:
            entry = _CandidateCase(
                match=Candidate(case_id, household_id, True, []),
                closed_at=None,
                recent=[],
                earlier_crisis=False,
            )
            self.candidates[case_id] = entry
        entry.match.addresses.append(prepared.address)
        entry.match.persons.extend(prepared.persons)
        entry.recent.append((prepared.melding.received_at, level.value))


def as_compared(melding: MeldingIn) -> tuple[tuple[Person, ...], Address]:
    """The melding's people and address as recognition compares them (normalised, with
    their sound keys): what its keys are made of and what candidates are scored on."""
    address = melding.address
    number = address.number_and_addition() if address is not None else None
    persons = tuple(
        Person.of(
            bsn=p.bsn, voornaam=p.voornaam, tussenvoegsel=p.tussenvoegsel,
            achternaam=p.achternaam, geboortedatum=p.geboortedatum,
        )
        for p in melding.persons
    )  # fmt: skip
    compared = Address.written(
        postcode=address.postcode if address is not None else None,
        huisnummer=number[0] if number else None,
        toevoeging=number[1] if number else None,
        woonplaats=address.woonplaats if address else None,
        straat=address.straat if address else None,
    )
    return persons, compared


def _candidate_from_row(row: asyncpg.Record) -> _CandidateCase:
    return _CandidateCase(
        match=Candidate(
            case_id=row["case_id"],
            household_id=row["household_id"],
            open=row["open"],
            addresses=[
                Address.written(
                    postcode=a["postcode"], huisnummer=a["huisnummer"],
                    toevoeging=a["toevoeging"], woonplaats=a["woonplaats"],
                    straat=a.get("straat"),
                )
                for a in row["match_addresses"]
            ],
            persons=[Person.from_profile(p) for p in row["match_persons"]],
        ),
        closed_at=row["closed_at"],
        recent=[(datetime.fromisoformat(r["received_at"]), r["level"]) for r in row["recent"]],
        earlier_crisis=row["earlier_crisis"],
    )  # fmt: skip


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
    """A checked melding with everything derived from it before it is written."""

    melding: MeldingIn
    principal: Principal
    digest: bytes
    gebied: str
    gebied_note: str | None  # why the regional pool, when the address did not decide
    key: str | None  # the dwelling's address key, if it has an address
    persons: tuple[Person, ...]
    address: Address
    keys: tuple[str, ...]  # blocking keys to store for its case (households/keys.py)
    lookup: tuple[str, ...]  # blocking keys to look candidates up by (with variants)
    locks: tuple[int, ...]  # advisory-lock keys of the identifying blocking keys
    request_id: str
    endpoint: str
    origin: str | None  # the keyed digest of the sender's address (audit/context.py)
    on_behalf_of: str | None  # the person at the source its system acts for


@dataclass(frozen=True, slots=True)
class _Decision:
    """What was decided for one melding: ids, case link, urgency."""

    melding_id: UUID
    case_id: UUID
    household_id: UUID
    new_case: bool
    new_household: bool
    previous_case_id: UUID | None
    expected: tuple[UUID, ...]  # the open cases sharing a checked key, when deciding
    checked: tuple[str, ...]  # the identifying keys the store checks again under the lock
    new_keys: tuple[str, ...]  # keys its case does not have yet
    status: str
    urgency: Urgency
    dedup: DedupOut
    dedup_detail: dict[str, Any]


@dataclass(slots=True)
class _Pending:
    prepared: _Prepared
    future: asyncio.Future[Submitted]
    taken_at: float  # Intake.timer() when the intake took it in
    attempts: int = 0
    decision: _Decision | None = field(default=None)


class Intake:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        region: Region,
        rules: Rules,
        recognition: Model,
        clock: Clock,
        after_commit: AfterCommit,
        acquire_timeout: float,
        received_at_max_age: timedelta = timedelta(days=RECEIVED_AT_MAX_AGE_DAYS),
        max_wait: float = INTAKE_MAX_WAIT_SECONDS,
        retry_after: int = 5,
    ) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._region = region
        self._rules = rules
        self._recognition = recognition
        self._weights = recognition.weights()
        self._clock = clock
        self._after_commit = after_commit
        self._received_at_max_age = received_at_max_age
        self._max_wait = max_wait
        self._retry_after = retry_after
        #: The clock of waits (seconds, monotonic): how long a melding has been held. A test
        #: stops it to take in more than a slow machine takes in within the bound.
        self.timer: Callable[[], float] = time.monotonic
        # Refusals not yet in a log line, and when the last such line was written.
        self._shed_unlogged = 0
        self._shed_logged_at = float("-inf")
        self._pending: deque[_Pending] = deque()
        self._writers: set[asyncio.Task[None]] = set()
        # Writers started that have not taken their first batch yet: each will take up to
        # a batch of what is pending now.
        self._starting: set[asyncio.Task[None]] = set()
        # Per writer busy with a batch: when its oldest melding was taken in, and how many.
        self._writing: dict[object, tuple[float, int]] = {}
        # Configuration does not change while the process runs: build this once, not per
        # request.
        self._signals = frozenset(rules.signals)
        self._gebieden = tuple(region.gebied_codes)

    @property
    def link_at(self) -> float:
        """The evidence from which a melding joins a case by itself (the model's)."""
        return self._recognition.link_at

    def parse(self, body: bytes) -> MeldingIn:
        """Validate a request body against the schema and the configuration, in one pass."""
        context = IntakeContext(
            signals=self._signals, gebieden=self._gebieden, now=self._clock.now(),
            received_at_max_age=self._received_at_max_age,
        )  # fmt: skip
        return MeldingIn.model_validate_json(body, context=context)

    async def submit(
        self,
        melding: MeldingIn,
        principal: Principal,
        *,
        request_id: str,
        endpoint: str,
        origin: str | None = None,
        on_behalf_of: str | None = None,
    ) -> Submitted:
        """Store ``melding`` (or find it stored before) and return only after the commit."""
        if not principal.may_submit_as(melding.source):
            raise forbidden(
                f'this client may submit only as source "{principal.source}"'
                if principal.kind == "client"
                else "your role may not submit meldingen"
            )
        self.admit()
        pending = _Pending(
            self._prepare(
                melding,
                principal,
                request_id=request_id,
                endpoint=endpoint,
                origin=origin,
                on_behalf_of=on_behalf_of,
            ),
            asyncio.get_running_loop().create_future(),
            self.timer(),
        )
        self._pending.append(pending)
        self._start_writers()
        return await pending.future

    def admit(self) -> None:
        """Refuse a new melding at once (503 with Retry-After, nothing stored) when this
        process is past capacity (``past_capacity``). submit() asks, and so does the
        console's form; such a refusal is answered, and logged, as its request is. The
        API's pipeline asks ``admits`` first."""
        if self.past_capacity():
            metrics.INTAKE_SHED.inc()
            raise overloaded(self._retry_after)

    def admits(self) -> bool:
        """For the API's pipeline, before authentication and the body, as refusing must
        cost far less than taking in: False (counted) past capacity. These refusals are
        logged as one line a second with their number, not a line each: past capacity a
        line per refusal is thousands a second, written by the process that has no time
        to spare (about a fifth of a refusal's CPU went to its line)."""
        if self.past_capacity():
            metrics.INTAKE_SHED.inc()
            self._shed_unlogged += 1
            self._log_shed()
            return False
        if self._shed_unlogged:
            self._log_shed()
        return True

    def past_capacity(self) -> bool:
        """This process holds more than a batch and the oldest it holds has waited longer
        than the bound: a new melding would wait at least as long, behind all of it. Fewer
        than a batch are never refused: they go in one statement, and a source's retry
        would cost it seconds where a stall costs it a fraction of one."""
        return self.held() > _MAX_BATCH and self.waited() > self._max_wait

    def _log_shed(self) -> None:
        now = self.timer()
        if now - self._shed_logged_at >= _SHED_LOG_SECONDS:
            log.warning("intake_shed", refused=self._shed_unlogged, held=self.held(),
                        waited_ms=round(self.waited() * 1000, 1))  # fmt: skip
            self._shed_unlogged, self._shed_logged_at = 0, now

    def held(self) -> int:
        """Meldingen taken in and not answered yet: waiting for a writer or being written."""
        return len(self._pending) + sum(n for _, n in self._writing.values())

    def waited(self) -> float:
        """How long the oldest melding this process holds has waited (0 when it holds
        none). They are written first in, first out, so one taken in now is answered no
        sooner than that wait again.

        This measure, rather than a count of waiting meldingen, is the bound: it follows
        the pace at which the database writes now (a stall, a busy machine) without an
        estimate of that pace, and it counts the batches being written as well as those
        waiting for a writer, as both are part of a source's wait."""
        oldest = min((t for t, _ in self._writing.values()), default=None)
        if self._pending:
            first = self._pending[0].taken_at
            oldest = first if oldest is None else min(oldest, first)
        return 0.0 if oldest is None else self.timer() - oldest

    def _refuse_late(self, batch: list[_Pending]) -> list[_Pending]:
        """What of ``batch`` is still to be written: the meldingen that waited longer than
        the bound for a writer are refused (503 with Retry-After, nothing stored) when this
        process holds more than a batch besides them. admit() bounds the wait of what it
        takes in by the wait of what it holds; a pause of the process (a slow batch, the
        machine busy with other work) can still let the oldest wait past the bound. Written
        now, they would be answered later than a source waits for; refused, they are
        retried when the queue is short again. The meldingen still held are answered in
        time. Fewer than a batch are never refused, as in admit()."""
        if self.held() <= _MAX_BATCH:
            return batch
        now = self.timer()
        late = [p for p in batch if now - p.taken_at > self._max_wait]
        if not late:
            return batch
        metrics.INTAKE_SHED.inc(len(late))
        _fail(late, overloaded(self._retry_after))
        return [p for p in batch if not p.future.done()]

    def _prepare(
        self,
        melding: MeldingIn,
        principal: Principal,
        *,
        request_id: str,
        endpoint: str,
        origin: str | None,
        on_behalf_of: str | None,
    ) -> _Prepared:
        persons, compared = as_compared(melding)
        key = dwelling_key(compared)
        keys = stored_keys(persons, compared)
        gebied, gebied_note = gebied_for(self._region, melding)
        return _Prepared(
            melding=melding,
            principal=principal,
            digest=request_hash(melding),
            gebied=gebied,
            gebied_note=gebied_note,
            key=key,
            persons=persons,
            address=compared,
            keys=tuple(keys),
            lookup=tuple(lookup_keys(persons, compared, keys)),
            locks=lock_keys(keys),
            request_id=request_id,
            endpoint=endpoint,
            origin=origin,
            on_behalf_of=on_behalf_of,
        )

    # -- the batch writer ----------------------------------------------------------------

    def _start_writers(self) -> None:
        """A writer when none is writing; another only while a full batch waits besides.
        What arrives while a batch is written goes into the next one, so the batches grow
        with the load. A writer for every arrival (as up to 2026-11-30) kept them at a few
        meldingen each past capacity, each paying a statement's fixed cost, with eight
        transactions contending for the cores (docs/design.md, "Write coalescing").
        A writer whose loop has ended is done() at once, before its callback drops it:
        it is not counted, so a melding taken in just then gets a writer. A writer started
        but not yet run (requests taken in within one turn of the loop) will take a batch
        of what is pending: only what is pending beyond that calls for another."""
        while self._pending:
            running = sum(1 for task in self._writers if not task.done())
            unclaimed = len(self._pending) - _MAX_BATCH * len(self._starting)
            if running >= _MAX_WRITERS or (running and unclaimed < _MAX_BATCH):
                return
            task = asyncio.create_task(self._write_while_pending())
            self._writers.add(task)
            self._starting.add(task)
            task.add_done_callback(self._writer_done)

    def _writer_done(self, task: asyncio.Task[None]) -> None:
        self._writers.discard(task)
        self._starting.discard(task)  # cancelled before it ran (a stop)

    async def _write_while_pending(self) -> None:
        writer = object()
        self._starting.discard(asyncio.current_task())
        while self._pending:
            batch = [self._pending.popleft() for _ in range(min(_MAX_BATCH, len(self._pending)))]
            batch = [p for p in batch if not p.future.done()]  # the caller went away
            batch = self._refuse_late(batch)
            if not batch:
                continue
            self._writing[writer] = (min(p.taken_at for p in batch), len(batch))
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                _fail(batch, Problem(503, "Shutting down", "nothing was stored; retry"))
                raise
            except Exception as exc:  # PostgreSQL down or failing: every caller gets it
                _fail(batch, exc)
            finally:
                del self._writing[writer]

    async def _write(self, batch: list[_Pending]) -> None:
        refused: Exception | None = None
        async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
            started = time.perf_counter()
            state = await self._lookup(conn, batch)
            payload = []
            for pending in batch:
                pending.decision = self._decide(pending.prepared, state)
                payload.append(_payload(pending.prepared, pending.decision))
            # Every melding of the batch waited for all of it.
            recognition = time.perf_counter() - started
            for _ in batch:
                metrics.RECOGNITION_DURATION.observe(recognition)
            locks = sorted({lock for p in batch for lock in p.prepared.locks})
            committed_at = self._clock.now()
            statuses: list[str]
            try:
                statuses = await conn.fetchval(_Q["store_batch"], payload, locks, committed_at)
            except Exception as exc:
                if (
                    isinstance(exc, asyncpg.UniqueViolationError)
                    and exc.constraint_name == "meldingen_idempotency"
                ):
                    # A concurrent batch stored one of these keys between our check and our
                    # insert; nothing of this batch was written. Decide all of it again.
                    statuses = ["stale"] * len(batch)
                elif is_unavailable(exc):
                    raise
                else:  # nothing of the batch was written; something in it was refused
                    refused = exc
                    statuses = ["refused"] * len(batch)
            duplicates = [p for p, s in zip(batch, statuses, strict=True) if s == "duplicate"]
            if duplicates:
                await self._answer_replays(conn, duplicates)
        if refused is not None:  # after the connection went back: the halves take their own
            await self._write_apart(batch, refused)
            return
        for pending, status in zip(batch, statuses, strict=True):
            if status == "stored":
                self._answer_stored(pending)
            elif status == "stale":
                self._retry(pending)

    async def _write_apart(self, batch: list[_Pending], exc: Exception) -> None:
        """The batch's statement failed with ``exc``: write its halves on their own, down to
        the melding that fails alone (about 2 log2(n) statements for one in n). Each half
        is decided again: without the others, the cases they opened are not there."""
        if len(batch) == 1:
            _fail(batch, _refusal(batch[0], exc))
            return
        middle = len(batch) // 2
        for half in (batch[:middle], batch[middle:]):
            waiting = [p for p in half if not p.future.done()]  # callers may have gone
            if waiting:
                await self._write(waiting)

    async def _lookup(self, conn: asyncpg.Connection, batch: list[_Pending]) -> _BatchState:
        """Blocking and candidate profiles for the whole batch: two queries."""
        keys = sorted({k for p in batch for k in p.prepared.lookup})
        state = _BatchState()
        if not keys:
            return state
        cap = self._recognition.key_cap
        for row in await conn.fetch(_Q["cases_by_keys"], keys):
            state.cases_by_key.setdefault(row["key"], set()).add(row["case_id"])
        state.too_common = {k for k, cases in state.cases_by_key.items() if len(cases) > cap}
        for key in state.too_common:
            del state.cases_by_key[key]
        case_ids = sorted({c for cases in state.cases_by_key.values() for c in cases})
        if case_ids:
            for row in await conn.fetch(_Q["candidates"], case_ids):
                state.candidates[row["case_id"]] = _candidate_from_row(row)
        return state

    def _decide(self, prepared: _Prepared, state: _BatchState) -> _Decision:
        """Link to the household's open case, send to review, or open a case; score the
        urgency with the history of the household it was recognised as."""
        melding = prepared.melding
        candidate_ids = {c for k in prepared.lookup for c in state.cases_by_key.get(k, ())}
        candidates = [state.candidates[c] for c in sorted(candidate_ids) if c in state.candidates]
        by_id = {c.match.case_id: c for c in candidates}
        here = state.cases_by_key.get(f"a:{prepared.key}", ()) if prepared.key else ()
        outcome = decide(
            prepared.persons, prepared.address, [c.match for c in candidates], self._weights,
            households_here=sum(1 for c in here if c in by_id and by_id[c].match.open),
        )  # fmt: skip
        # What the store re-checks under the lock: the open cases sharing an identifying
        # key (not one too common to say anything: the store skips those too).
        checked = tuple(k for k in identifying(prepared.keys) if k not in state.too_common)
        sharing = {c for k in checked for c in state.cases_by_key.get(k, ())}
        expected = tuple(sorted(c for c in sharing if c in by_id and by_id[c].match.open))
        source = by_id[outcome.history_from.candidate.case_id] if outcome.history_from else None
        urgency = score_melding(
            self._rules,
            kind=melding.kind,
            category=melding.category,
            signals=melding.signals,
            birth_dates=[p.born for p in prepared.persons],
            received_at=melding.received_at,
            history=source.history(melding.received_at) if source else History(),
        )
        best = outcome.best_open
        if outcome.decision == "linked" and best is not None:
            case_id, household_id = best.candidate.case_id, best.candidate.household_id
            new_case = new_household = False
            previous = None
        elif source is not None and not source.match.open:  # a closed case: same household
            case_id, household_id = uuid7(), source.match.household_id
            new_case, new_household, previous = True, False, source.match.case_id
        else:
            case_id, household_id = uuid7(), uuid7()
            new_case, new_household, previous = True, True, None
        new_keys = tuple(k for k in prepared.keys if case_id not in state.cases_by_key.get(k, ()))
        state.remember(prepared, case_id, household_id, new_case=new_case, level=urgency.level)
        reasons = list(best.reasons) if best else []
        detail = self._detail(outcome, previous, reasons)
        return _Decision(
            melding_id=uuid7(),
            case_id=case_id,
            household_id=household_id,
            new_case=new_case,
            new_household=new_household,
            previous_case_id=previous,
            expected=expected,
            checked=checked,
            new_keys=new_keys,
            status="advies" if melding.kind is Kind.adviesvraag else "queued",
            urgency=urgency,
            dedup=dedup_out(
                outcome.decision,
                best.candidate.case_id if best else None,
                round(best.score, 2) if best else None,
                detail if prepared.principal.kind != "client" else _without_evidence(detail),
            ),
            dedup_detail=detail,
        )

    def _detail(
        self, outcome: Outcome, previous: UUID | None, reasons: list[str]
    ) -> dict[str, Any]:
        """What the decision stores: the model, the reasons, and each candidate considered
        with its score, best first, the best few with their waterfall."""
        ranked = [s for s in (outcome.best_open, *outcome.others) if s is not None]
        detail: dict[str, Any] = {
            "method": _DEDUP_METHOD,
            "model": self._recognition.version,
            "reasons": reasons,
            "candidates": [
                {
                    "case_id": str(s.candidate.case_id), "open": s.candidate.open,
                    "score": round(s.score, 2),
                    **({"contributions": [
                        {"field": c.field, "level": c.level, "weight": round(c.weight, 2)}
                        for c in s.contributions
                    ]} if i < _CANDIDATES_KEPT else {}),
                }
                for i, s in enumerate(ranked)
            ],
        }  # fmt: skip
        if outcome.history_from is not None:
            detail["history_from"] = str(outcome.history_from.candidate.case_id)
        if previous is not None:
            detail["previous_case_id"] = str(previous)
        return detail

    def _answer_stored(self, pending: _Pending) -> None:
        decision, prepared = pending.decision, pending.prepared
        assert decision is not None
        accepted = MeldingAccepted(
            melding_id=decision.melding_id,
            case_id=decision.case_id,
            status=decision.status,
            gebied=prepared.gebied,
            gebied_note=prepared.gebied_note,
            urgency=_urgency_out(decision.urgency),
            dedup=decision.dedup,
        )
        if decision.status == "queued":  # committed: on its queue, whether or not the
            # caller still waits for the answer (a stop cancels the handlers it waits on)
            self._after_commit.enqueue(Enqueue(
                accepted.gebied, accepted.melding_id, decision.urgency.level,
                decision.urgency.respond_before,
            ))  # fmt: skip
        melding = prepared.melding
        metrics.MELDINGEN_STORED.labels(melding.source.value, melding.kind.value).inc()
        metrics.URGENCY_LEVELS.labels(decision.urgency.level.value).inc()
        metrics.DEDUP_DECISIONS.labels(decision.dedup.decision).inc()
        if not pending.future.done():
            pending.future.set_result(Submitted(accepted, created=True))

    def _retry(self, pending: _Pending) -> None:
        metrics.INTAKE_RETRIES.inc()
        pending.attempts += 1
        if pending.attempts >= _MAX_ATTEMPTS:
            _fail(
                [pending],
                Problem(
                    503,
                    "Busy",
                    "this household is being updated by many meldingen at once; nothing was "
                    "stored, retry with the same source and external_id",
                    headers={"Retry-After": "1"},
                ),
            )
            return
        self._pending.append(pending)
        self._start_writers()

    async def _answer_replays(self, conn: asyncpg.Connection, replays: list[_Pending]) -> None:
        """Answer meldingen sent again: the stored answer to who stored it, a 409 to
        anyone else or for another body. Each is audited before it is answered: a replay
        (``melding.replay``), or a refused one (``result = 'denied'``) with the id tried."""
        rows = await conn.fetch(
            _Q["meldingen_by_keys"],
            [p.prepared.melding.source.value for p in replays],
            [p.prepared.melding.external_id for p in replays],
        )
        by_key = {(r["source"], r["external_id"]): r for r in rows}
        answers: list[tuple[_Pending, asyncpg.Record, Problem | None]] = []
        for pending in replays:
            melding = pending.prepared.melding
            row = by_key.get((melding.source.value, melding.external_id))
            if row is None:  # cannot happen: 'duplicate' means the row exists
                self._retry(pending)
            elif not _same_sender(row, pending.prepared.principal):
                answers.append((pending, row, idempotency_conflict(
                    "this source and external_id were stored by another sender; use a new "
                    "external_id for a new melding")))  # fmt: skip
            elif row["request_hash"] != pending.prepared.digest:
                answers.append((pending, row, idempotency_conflict(
                    "a different melding was already stored under this source and "
                    "external_id; use a new external_id for a new melding")))  # fmt: skip
            else:
                answers.append((pending, row, None))
        await _audit_replays(conn, answers, self._clock.now())
        for pending, row, problem in answers:
            source = pending.prepared.melding.source.value
            if problem is not None:
                metrics.MELDINGEN_REJECTED.labels(source, "conflict").inc()
                _fail([pending], problem)
            else:
                metrics.MELDINGEN_REPLAYED.labels(source).inc()
                if not pending.future.done():
                    pending.future.set_result(Submitted(accepted_from_row(row), created=False))


async def _audit_replays(
    conn: asyncpg.Connection,
    answers: list[tuple[_Pending, asyncpg.Record, Problem | None]],
    now: datetime,
) -> None:
    if not answers:
        return
    principals = [p.prepared.principal for p, _, _ in answers]
    await conn.execute(
        _Q["audit_replays"], now, [p.kind for p in principals], [p.id for p in principals],
        [p.role for p in principals], [r["id"] for _, r, _ in answers],
        [r["case_id"] for _, r, _ in answers],
        [p.prepared.endpoint for p, _, _ in answers],
        [p.prepared.request_id for p, _, _ in answers],
        [None if problem is None else "denied" for _, _, problem in answers],
        [p.prepared.origin for p, _, _ in answers],
        [p.prepared.on_behalf_of for p, _, _ in answers],
    )  # fmt: skip


def _same_sender(row: asyncpg.Record, principal: Principal) -> bool:
    """Whether a replay comes from who stored the melding: the same API client, or staff
    (only operator and cit submit, and they read every melding anyway). A replay answers
    with where the melding stands: another client of the same source must not learn
    that, nor which id it has (its 409 names none)."""
    if principal.kind == "client":
        return bool(row["submitted_by_client"] == principal.id)
    return True


def _fail(batch: list[_Pending], exc: BaseException) -> None:
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(exc)


#: SQLSTATE classes of a value the database refuses: data exceptions (22, such as a NUL
#: in text, a number out of range, or text asyncpg cannot encode) and integrity
#: constraints (23, such as a CHECK).
_REFUSED_DATA = ("22", "23")


def _refusal(pending: _Pending, exc: Exception) -> Exception:
    """What to answer for a melding that failed on its own: a 422 when the database
    refused a value of it (retrying it unchanged would fail again), else the error itself
    (a 500). Logged with its codes only: the database's message may quote the value."""
    state = getattr(exc, "sqlstate", None) or ""
    log.error(
        "intake_refused", request_id=pending.prepared.request_id, error=type(exc).__name__,
        sqlstate=state or None, constraint=getattr(exc, "constraint_name", None),
    )  # fmt: skip
    if state[:2] not in _REFUSED_DATA:
        return exc
    return unstorable()


def _payload(prepared: _Prepared, decision: _Decision) -> dict[str, Any]:
    """One melding for intake_store_batch() (intake_functions.sql reads these keys)."""
    melding, principal = prepared.melding, prepared.principal
    address, dwelling = melding.address, prepared.address
    urgency, dedup = decision.urgency, decision.dedup
    return {
        "id": decision.melding_id,
        "source": melding.source.value,
        "external_id": melding.external_id,
        "request_hash": prepared.digest.hex(),
        "received_at": melding.received_at,
        "kind": melding.kind.value,
        "category": melding.category.value,
        "signals": melding.signals,
        "summary": melding.summary,
        "postcode": address.postcode if address else None,
        "huisnummer": dwelling.huisnummer,
        "toevoeging": dwelling.toevoeging,
        "straat": address.straat if address else None,
        "woonplaats": address.woonplaats if address else None,
        "gebied_hint": melding.gebied,
        "gebied": prepared.gebied,
        "gebied_note": prepared.gebied_note,
        "address_key": prepared.key,
        "keys": decision.checked,
        "new_keys": decision.new_keys,
        "expected": decision.expected,
        "new_case": decision.new_case,
        "new_household": decision.new_household,
        "previous_case_id": decision.previous_case_id,
        "case_id": decision.case_id,
        "household_id": decision.household_id,
        "status": decision.status,
        "urgency_level": urgency.level.value,
        "urgency_score": urgency.score,
        "urgency_reasons": [
            {"rule": r.rule, "text": r.text, "contribution": r.contribution}
            for r in urgency.reasons
        ],
        "respond_before": urgency.respond_before,
        "callback_required": urgency.callback,
        "rules_version": urgency.rules_version,
        "dedup_decision": dedup.decision,
        "dedup_matched_case_id": dedup.matched_case_id,
        "dedup_score": dedup.score,
        "dedup_detail": decision.dedup_detail,
        "client_id": principal.id if principal.kind == "client" else None,
        "user_id": principal.id if principal.kind == "user" else None,
        "actor_kind": principal.kind,
        "actor_role": principal.role,
        "persons": [p.model_dump(mode="json") for p in melding.persons],
        # The case's matching profile: who (in normal form); when, how urgent. Where is
        # taken from the address fields above.
        "profile_persons": [p.profile() for p in prepared.persons],
        "profile_recent": {"received_at": melding.received_at, "level": urgency.level.value},
        "endpoint": prepared.endpoint,
        "request_id": prepared.request_id,
        "origin": prepared.origin,
        "on_behalf_of": prepared.on_behalf_of,
    }


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
        gebied_note=row["gebied_note"],
        urgency=UrgencyOut(
            level=Level(row["urgency_level"]),
            score=row["urgency_score"],
            reasons=[ReasonOut(**r) for r in row["urgency_reasons"]],
            respond_before=row["respond_before"],
            callback_required=row["callback_required"],
            rules_version=row["rules_version"],
        ),
        dedup=_dedup_from(row),
    )


def _dedup_from(row: asyncpg.Record) -> DedupOut:
    """The decision as answered when it was made, from what was stored with it."""
    # Stored as a real: rounded as it was answered (22.99, not 22.989999771118164).
    score = None if row["dedup_score"] is None else round(row["dedup_score"], 2)
    out = dedup_out(row["dedup_decision"], row["dedup_matched_case_id"], score,
                    row["dedup_detail"])  # fmt: skip
    if row.get("review_outcome") is not None:  # a read of the melding: how it was settled
        out.review, out.review_at = row["review_outcome"], row["review_at"]
    return out


def _without_evidence(detail: dict[str, Any]) -> dict[str, Any]:
    """The decision's detail without its candidates, for an answer that becomes a source's
    receipt (receipt.py: no recognition in it): their models cost about 50 us a melding on
    the intake's path, for nothing. What is stored keeps them; a read answers them."""
    return {k: detail[k] for k in ("method", "model", "reasons")}


def dedup_out(
    decision: str, matched: UUID | None, score: float | None, detail: dict[str, Any]
) -> DedupOut:
    """The decision as answered: from what is stored with it (``dedup_detail``), so that
    the answer at intake and every later read say the same."""
    candidates = [
        CandidateOut(
            case_id=c["case_id"], open=c["open"], score=c.get("score"),
            contributions=[
                ContributionOut(**step, text=Contribution(step["field"], step["level"], 0).text)
                for step in c.get("contributions", ())
            ],
        )
        for c in detail.get("candidates", ())
    ]  # fmt: skip
    chosen = next((c for c in candidates if matched and c.case_id == matched), None)
    return DedupOut(
        decision=decision,
        matched_case_id=matched,
        score=score,
        method=detail["method"],
        model=detail.get("model"),
        reasons=detail.get("reasons", []),
        contributions=chosen.contributions if chosen else [],
        candidates=candidates,
    )
