"""The intake contract: request and response bodies of ``/api/v1/meldingen``.

Field names are fixed by the contract with the source systems. Validation messages never
repeat the submitted value: they name the field and the rule, because a message can end up
in a source system's log where personal data must not go.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from triage.cases.milestones import MilestoneOut
from triage.cases.notes import NoteOut
from triage.config import RECEIVED_AT_MAX_AGE_DAYS
from triage.households.normalise import (
    bsn_is_valid,
    normalise_postcode,
    normalise_toevoeging,
    split_huisnummer,
)
from triage.problems import Invalid
from triage.request_body import VOCABULARY, RequestBody, shaped, whole
from triage.vocabulary import Category, Kind, Level, PersonRole, Source

ShortText = Annotated[str, Field(min_length=1, max_length=100)]


def _bsn(value: str) -> str:
    digits = value.replace(" ", "").replace(".", "")
    if not bsn_is_valid(digits):
        raise Invalid(
            "not a valid BSN: 9 digits that pass the elfproef (11-check)",
            "geen geldig BSN: 9 cijfers die de elfproef doorstaan",
        )
    return digits.zfill(9)


#: A burgerservicenummer as people write it (spaces, dots), checked by the elfproef and
#: kept as its nine digits.
Bsn = Annotated[
    str,
    AfterValidator(_bsn),
    Field(
        json_schema_extra={"pattern": shaped(r"[ .]*(?:[0-9][ .]*){8,9}")},
        description="Burgerservicenummer: 8 or 9 digits (spaces and dots allowed between "
        "them) that pass the elfproef.",
    ),
]

#: How far a source's clock may run ahead of ours before received_at is refused.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class IntakeContext:
    """What validation needs beyond the schema: the published vocabulary, the region and
    the clock. Passed as pydantic's validation context, so that every error in a request,
    schema or configuration, is reported in one answer with its JSON pointer."""

    signals: frozenset[str]
    gebieden: tuple[str, ...]
    now: datetime
    received_at_max_age: timedelta = timedelta(days=RECEIVED_AT_MAX_AGE_DAYS)


def _context(info: ValidationInfo) -> IntakeContext | None:
    return info.context if isinstance(info.context, IntakeContext) else None


def _plausible_birth(value: date, info: ValidationInfo) -> date:
    if value.year < 1900:
        raise Invalid(
            "a birth date before 1900 is not plausible",
            "een geboortedatum voor 1900 is niet aannemelijk",
        )
    # Today is the latest: from the intake's context, or a correction's ({"now": ...}).
    ctx = _context(info)
    now = ctx.now if ctx is not None else (info.context or {}).get("now")
    if now is not None and value > now.date():
        raise Invalid(
            "a birth date cannot lie in the future",
            "een geboortedatum kan niet in de toekomst liggen",
        )
    return value


#: A birth date: from 1900, and not after today when the validation knows today.
BirthDate = Annotated[date, AfterValidator(_plausible_birth)]


def _known_signal(value: str, info: ValidationInfo) -> str:
    ctx = _context(info)
    if ctx is not None and value not in ctx.signals:
        raise Invalid(
            "unknown signal code; see GET /api/v1/vocabulary/signals. Known: "
            + ", ".join(sorted(ctx.signals)),
            "onbekend signaal; kies uit de lijst",
        )
    return value


SignalCode = Annotated[
    str,
    Field(max_length=40, json_schema_extra={VOCABULARY: "signals"}),
    AfterValidator(_known_signal),
]
#: A house number as text (households/normalise.py, split_huisnummer): 1 to 5 digits that
#: are not all 0, then an optional addition (at most 16 characters, under the 20 allowed).
_HOUSE_NUMBER = shaped(
    "(?:[1-9][0-9]{0,4}|0[1-9][0-9]{0,3}|00[1-9][0-9]{0,2}|000[1-9][0-9]?|0000[1-9])"
    " ?[-/ ]? ?[A-Za-z0-9 -]{0,8}"
)
_HUISNUMMER = 'give a number, optionally with its addition, such as 12 or "12-a"'
_HUISNUMMER_NL = 'geef een nummer, eventueel met toevoeging, zoals 12 of "12-a"'


class AddressIn(RequestBody):
    """Where the household lives. People without a fixed address give only ``woonplaats``."""

    postcode: str | None = Field(
        default=None, max_length=10, examples=["5038 AB"],
        # Four digits, not starting with 0, and two letters that PostNL issues (not SA, SD
        # or SS): households/normalise.py.
        json_schema_extra={"pattern": shaped(
            "[1-9][0-9]{3}[ \t\n\r\x0b\x0c]{0,4}(?:[A-RT-Za-rt-z][A-Za-z]|[Ss][B-CE-RT-Zb-ce-rt-z])"
        )},
    )  # fmt: skip
    huisnummer: (
        Annotated[int, WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 99999})]
        | Annotated[str, Field(max_length=20, json_schema_extra={"pattern": _HOUSE_NUMBER})]
        | None
    ) = Field(default=None, description='A number, or a number with addition such as "12-a".')
    toevoeging: str | None = Field(default=None, max_length=10)
    straat: str | None = Field(default=None, max_length=200)
    woonplaats: str | None = Field(default=None, max_length=100)

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str | None) -> str | None:
        if value is None:
            return None
        normal = normalise_postcode(value)
        if normal is None:
            raise Invalid(
                "not a Dutch postcode: four digits (not starting with 0), two letters",
                "geen Nederlandse postcode: vier cijfers (niet beginnend met 0), twee letters",
            )
        return normal

    @field_validator("huisnummer", mode="before")
    @classmethod
    def _number_or_text(cls, value: object) -> object:
        # Not true (read as 1 when lax), not 12.5: a whole number (12.0 is 12) or a string.
        value = whole(value)
        if value is None or type(value) in (int, str):
            return value
        raise Invalid(_HUISNUMMER, _HUISNUMMER_NL)

    @field_validator("huisnummer")
    @classmethod
    def _huisnummer(cls, value: int | str | None) -> int | str | None:
        if value is None:
            return None
        if isinstance(value, int):
            if not 1 <= value <= 99999:
                raise Invalid(
                    "a house number is between 1 and 99999", "een huisnummer ligt tussen 1 en 99999"
                )
            return value
        if split_huisnummer(value) is None:
            raise Invalid(_HUISNUMMER, _HUISNUMMER_NL)
        return value

    def number_and_addition(self) -> tuple[int, str] | None:
        """House number and normalised addition (``"12-a"`` -> ``(12, "A")``)."""
        if self.huisnummer is None:
            return None
        if isinstance(self.huisnummer, int):
            number, addition = self.huisnummer, ""
        else:
            split = split_huisnummer(self.huisnummer)
            assert split is not None  # checked by the validator
            number, addition = split
        if self.toevoeging:
            addition = normalise_toevoeging(self.toevoeging)
        return number, addition


class PersonIn(RequestBody):
    role: PersonRole
    bsn: Bsn | None = None
    voornaam: ShortText | None = None
    tussenvoegsel: str | None = Field(default=None, max_length=20)
    achternaam: ShortText | None = None
    geboortedatum: BirthDate | None = None


#: What an id of a source's own cannot hold: control characters (a line break, an escape
#: sequence) and invisible ones (zero width, direction marks). It is shown, searched and
#: quoted as written; two ids that look alike must be alike.
_NOT_IN_ID = "\x00-\x1f\x7f-\x9f\xad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff"
_ID_FAULT = re.compile(f"[{_NOT_IN_ID}]")


def _one_line_id(value: str) -> str:
    if _ID_FAULT.search(value):
        raise Invalid(
            "contains a control or invisible character; send the id as the source shows it",
            "bevat een stuurteken of onzichtbaar teken; geef het kenmerk zoals de bron het toont",
        )
    return value


class MeldingIn(RequestBody):
    """A melding or adviesvraag from a source system or a desk operator."""

    source: Source
    external_id: Annotated[str, AfterValidator(_one_line_id)] = Field(
        min_length=1,
        max_length=128,
        json_schema_extra={"pattern": shaped(f"[^{_NOT_IN_ID}]{{1,128}}")},
        description="The source's own id; with `source` the idempotency key. Printable: "
        "no control or invisible characters.",
    )
    received_at: AwareDatetime = Field(
        # Lax here: _rfc3339 lets only strings through, and hands them on as Python data,
        # from which a strict datetime takes no string.
        strict=False,
        description="When the source received it (RFC 3339 with offset); deadlines derive "
        "from this moment. At most 5 minutes ahead of the service's clock, and at most "
        f"{RECEIVED_AT_MAX_AGE_DAYS} days behind it (a setting of the service).",
    )
    kind: Kind
    category: Category
    signals: list[SignalCode] = Field(
        default_factory=list,
        max_length=40,
        json_schema_extra={"uniqueItems": True},
        description="Codes from GET /api/v1/vocabulary/signals.",
    )
    summary: str = Field(default="", max_length=4000)
    address: AddressIn | None = None
    # One name for the hint, as the answer (MeldingOut) has it: ``gebied`` there is the
    # gebied decided. ``gebied``, its name before, is still read. The attribute keeps that
    # name: request_hash dumps by it, so replays of meldingen stored before still match.
    gebied: str | None = Field(
        default=None,
        max_length=40,
        json_schema_extra={VOCABULARY: "gebieden"},
        validation_alias=AliasChoices("gebied_hint", "gebied"),
        description="A gebied hint, for people without an address (see GET "
        "/api/v1/gebieden). Formerly `gebied`, which is still accepted.",
    )
    persons: list[PersonIn] = Field(default_factory=list, max_length=30)

    @field_validator("received_at", mode="before")
    @classmethod
    def _rfc3339(cls, value: object) -> object:
        if not isinstance(value, str):
            raise Invalid(
                "give an RFC 3339 timestamp with offset, e.g. 2026-11-22T21:15:00+01:00",
                "geef datum en tijd",
            )
        return value

    @field_validator("received_at")
    @classmethod
    def _recent(cls, value: datetime, info: ValidationInfo) -> datetime:
        # The window is around the injected clock (the context's now), never the system's.
        ctx = _context(info)
        if ctx is not None and value > ctx.now + CLOCK_SKEW:
            raise Invalid(
                "lies in the future; check the source system's clock",
                "ligt in de toekomst; kijk datum en tijd na",
            )
        if ctx is not None and value < ctx.now - ctx.received_at_max_age:
            raise Invalid(
                f"lies more than {ctx.received_at_max_age.days} days in the past; check the "
                "date sent and the source system's clock",
                f"ligt meer dan {ctx.received_at_max_age.days} dagen terug; kijk de datum na",
            )
        return value.astimezone(UTC)

    @field_validator("gebied")
    @classmethod
    def _known_gebied(cls, value: str | None, info: ValidationInfo) -> str | None:
        ctx = _context(info)
        if value is not None and ctx is not None and value not in ctx.gebieden:
            raise Invalid(
                "unknown gebied; known: " + ", ".join(ctx.gebieden),
                "onbekend gebied; kies uit " + ", ".join(ctx.gebieden),
            )
        return value

    @field_validator("signals")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise Invalid("each signal code may appear once", "kies elk signaal maar één keer")
        return value


class ReasonOut(BaseModel):
    rule: str = Field(description="Id of the rule that fired.")
    text: str = Field(description="What it means, for the operator (Dutch).")
    contribution: int = Field(description="Points added to the score.")


class UrgencyOut(BaseModel):
    level: Level
    score: int = Field(ge=0, le=100)
    reasons: list[ReasonOut]
    respond_before: datetime
    callback_required: bool = Field(description="Weak information: call the reporter back.")
    rules_version: str


DedupDecision = Literal["linked", "review", "new_case"]


class ContributionOut(BaseModel):
    """One step of the match weight's waterfall."""

    field: str = Field(
        description="The field compared (bsn, born, surname, first, address), or "
        "households_here (several households at the dwelling), other_persons (more people "
        "of the melding found in the case), names (first name and surname swapped)."
    )
    level: str = Field(description="How it compared: exact, sound, close, different, ...")
    text: str = Field(description="What that means, in Dutch.")
    weight: float = Field(description="What it added to the match weight (log2 odds).")


class CandidateOut(BaseModel):
    """A case recognition weighed the melding against."""

    case_id: UUID
    open: bool = Field(description="Open; a closed case gives history only.")
    score: float | None = Field(
        description="The evidence for this case (as DedupOut.score); none for a decision "
        "made before each candidate's score was kept."
    )
    contributions: list[ContributionOut] = Field(
        default_factory=list,
        description="The waterfall; kept for the best three candidates only.",
    )


class DedupOut(BaseModel):
    decision: DedupDecision = Field(
        description="linked: joined the open case; review: possibly that case, queued under "
        "a case of its own until an operator decides; new_case: a household not seen open."
    )
    matched_case_id: UUID | None = Field(
        description="The case linked to, or to review against; none for a reader who may "
        "not read that case (a coordinator: a case of another gebied; the desk settles it)."
    )
    score: float | None = Field(
        description="The evidence for that case: log2 of how much likelier the comparisons "
        "are for one household than for two, the sum of the contributions. The model says "
        "from which score a melding links and from which it goes to review."
    )
    method: str = Field(description="How the household was recognised.")
    model: str | None = Field(
        default=None, description="Version of the recognition model that decided."
    )
    reasons: list[str] = Field(default_factory=list, description="The evidence, in Dutch.")
    contributions: list[ContributionOut] = Field(
        default_factory=list,
        description="The waterfall: each field's level and what it added to the score.",
    )
    candidates: list[CandidateOut] = Field(
        default_factory=list,
        description="Every case weighed that the reader may read, best first (the matched "
        "one among them): all for the desk and CIT, a coordinator's gebied's, a "
        "specialist's none but the melding's own case.",
    )
    review: Literal["confirmed", "rejected"] | None = Field(
        default=None,
        description="How an operator settled a review: confirmed (the melding joined the "
        "case) or rejected (kept apart); null while it waits, or without a review.",
    )
    review_at: datetime | None = Field(default=None, description="When it was settled.")


MeldingStatus = Literal[
    "queued", "offered", "assigned", "contacted", "advies", "escalated", "closed"
]


class MeldingAccepted(BaseModel):
    """The answer to a stored (201) or replayed (200) melding. Holds no personal data."""

    melding_id: UUID
    case_id: UUID
    status: MeldingStatus = Field(
        description="queued (waiting for an offer), offered, assigned (accepted), contacted "
        "(first contact made), advies (an adviesvraag: answered, not dispatched), or "
        "escalated (nobody was left to offer it to: the coordinators are told by name), or "
        "closed (by hand before first contact, with an outcome). A replay answers with the "
        "melding's status now."
    )
    gebied: str
    gebied_note: str | None = Field(
        default=None,
        description="Why the melding went to the regional pool (regio) when its address did "
        "not place it in a gebied: outside the region, an unknown place, no address. The "
        "regional crisis service passes it on.",
    )
    urgency: UrgencyOut
    dedup: DedupOut


class AddressOut(BaseModel):
    postcode: str | None
    huisnummer: int | None
    toevoeging: str
    straat: str | None
    woonplaats: str | None


class PersonOut(BaseModel):
    role: PersonRole
    bsn: str | None
    voornaam: str | None
    tussenvoegsel: str | None
    achternaam: str | None
    geboortedatum: date | None


class PersonSeen(BaseModel):
    """One person with every way they were written down (lists/people.py groups them)."""

    naam: str = Field(description="The name as most often written (the first of a tie).")
    bsn: str | None
    geboortedatum: date | None
    roles: list[PersonRole] = Field(description="Every role they had, first seen first.")
    variants: list[str] = Field(description="Other ways the name was written.")
    times: int = Field(description="How many persons of the meldingen this one stands for.")


class OfferOut(BaseModel):
    """One dispatch decision: to whom the melding was offered, how and why, and how the
    offer ended."""

    assignment_id: UUID
    specialist: str
    tier: Literal["continuity", "network", "backup", "coordinator", "operator", "handover"]
    reasons: list[str] = Field(description="Why this person, in Dutch.")
    state: Literal[
        "offered", "accepted", "declined", "expired", "reassigned", "closed", "withdrawn"
    ] = Field(
        description="withdrawn: the offer was taken back before an answer (its person was "
        "marked absent, the melding moved to another gebied, a handover)."
    )
    offered_at: datetime
    answer_before: datetime
    answered_at: datetime | None
    decline_reason: str | None


class SentContent(BaseModel):
    """What a source sent about the melding itself, as stored."""

    kind: Kind
    category: Category
    signals: list[str]
    summary: str
    address: AddressOut
    gebied_hint: str | None
    persons: list[PersonOut]


class MeldingOut(MeldingAccepted, SentContent):
    """A melding as an authorised reader sees it, personal data included (and audited)."""

    source: Source
    external_id: str
    received_at: datetime
    created_at: datetime
    first_contact_at: datetime | None
    first_contact_channel: str | None = Field(description="How: telefoon, huisbezoek, ...")
    first_contact_note: str | None
    closed_at: datetime | None = Field(default=None, description="Closed by hand, when.")
    closed_by: str | None = Field(default=None, description="Who closed it (staff id).")
    close_outcome: str | None = Field(
        default=None, description="dubbel, geen_vervolg or elders_belegd."
    )
    close_reason: str | None = None
    offers: list[OfferOut] = Field(description="Dispatch decisions, oldest first.")


class MeldingReceipt(BaseModel):
    """The answer to a source system (an API client): what it sent was stored, and where it
    stands. Nothing the service knows from elsewhere: not the household it was recognised
    as, its case, that case's history, the people of other meldingen, or who works on it.
    So the answer about a known BSN or address cannot be told from one about an unknown
    one. Staff who submit (operator, cit) get the full answer (MeldingAccepted)."""

    melding_id: UUID
    source: Source
    external_id: str
    received_at: datetime
    status: MeldingStatus = Field(
        description="queued (waiting for an offer), offered, assigned (accepted), contacted "
        "(first contact made), advies (an adviesvraag, not dispatched), escalated, or "
        "closed (before first contact: a second report, nothing to follow, or taken on "
        "elsewhere)."
    )
    urgency_level: Level | None = Field(
        default=None,
        description="Only for sources the region's configuration names in "
        "urgency_visible_to; null for the others. The level reflects the household's "
        "history, so it is a disclosure.",
    )


class MeldingAsSent(MeldingReceipt, SentContent):
    """A source system's own melding read back: what it sent, and the receipt."""


class MeldingRef(BaseModel):
    melding_id: UUID
    source: Source
    received_at: datetime
    kind: Kind
    category: Category
    level: Level
    status: str
    respond_before: datetime


class CaseChangeRef(BaseModel):
    """A correction by hand that touched the case (see POST .../link, .../merge)."""

    at: datetime
    action: str
    melding_id: UUID | None
    from_case: UUID | None
    to_case: UUID | None
    actor_role: str
    reason: str


class CaseOut(BaseModel):
    case_id: UUID
    household_id: UUID
    status: Literal["open", "closed"]
    gebied: str
    opened_at: datetime
    closed_at: datetime | None
    merged_into: UUID | None = Field(description="Set when the case was merged into another.")
    previous_case_id: UUID | None = Field(
        description="The household's case that closed before this one opened (history)."
    )
    lead: str | None = Field(description="Who leads the case (casusregie), by staff id.")
    address: AddressOut
    meldingen: list[MeldingRef]
    persons: list[PersonOut] = Field(description="Every person row of its meldingen.")
    people: list[PersonSeen] = Field(
        default_factory=list,
        description="Each person once, with the ways they were written: the person rows "
        "grouped by BSN, or by surname sound, first initial and birth date.",
    )
    changes: list[CaseChangeRef] = Field(description="Corrections by hand, oldest first.")
    milestones: list[MilestoneOut] = Field(
        description="Plan, outreach, handover, evaluation: due from the first contact."
    )
    notes: list[NoteOut] = Field(default_factory=list, description="Notes, oldest first.")
