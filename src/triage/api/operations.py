"""The operation table: one entry per endpoint, used both to route and to document.

Because routes and the OpenAPI document come from the same table, and the schemas from the
same pydantic models that validate requests, the published contract cannot drift from the
code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel

from triage.api import handlers as h
from triage.api import lists
from triage.audit.context import ON_BEHALF_HEADER
from triage.auth.policy import (
    ANSWERERS,
    ANYONE,
    CASE_WORK,
    CLIENT,
    EDITORS,
    OPS,
    PEOPLE,
    STAFF,
    Policy,
    allow,
)
from triage.auth.sessions import LoginIn, SessionOut
from triage.cases import control as c
from triage.cases.handover import HandoverEndIn, HandoverIn, HandoverOut
from triage.cases.milestones import MilestoneDoneIn, MilestoneOut
from triage.cases.notes import NoteIn, NoteOut
from triage.cases.read import ACCESS_REASON_HEADER, ACCESS_REASON_PATTERN, BreakGlassListOut
from triage.dispatch import answers as a
from triage.dispatch import manual as m
from triage.dispatch import views as v
from triage.intake.models import (
    CaseOut,
    MeldingAccepted,
    MeldingAsSent,
    MeldingIn,
    MeldingOut,
    MeldingReceipt,
)
from triage.lists.cases import CasesOut
from triage.lists.cursor import PATTERN as CURSOR
from triage.lists.cursor import RANKED_PATTERN as RANKED_CURSOR
from triage.lists.households import HouseholdSearchIn, HouseholdSearchOut
from triage.lists.werkvoorraad import WerkvoorraadOut
from triage.notify import webhooks as w
from triage.privacy.correction import CorrectionIn, PersonOut
from triage.privacy.inzage import InzageIn, InzageOut
from triage.reporting.kpi import KpiOut
from triage.request_body import ID_MAX, VOCABULARY
from triage.routing import roster_changes as rc
from triage.scoring.override import UrgencyOverrideIn, UrgencyOverrideOut
from triage.vocabulary import WAITING, Level, Source, UserRole

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    #: Per status, the answer's model; several when it depends on who asks (anyOf).
    responses: dict[int, type[BaseModel] | tuple[type[BaseModel], ...] | None]
    request: type[BaseModel] | None = None
    #: The body may be left out (the operation has defaults for all of it).
    request_optional: bool = False
    public: bool = False
    #: Who may call it (enforced in the pipeline before the body is read) and what of the
    #: data they reach; None only for public operations.
    policy: Policy | None = None
    errors: tuple[int, ...] = field(default=(401, 403))
    #: Query parameters: name -> (description, JSON schema).
    query: tuple[tuple[str, str, dict[str, object]], ...] = ()
    #: Request headers it reads beyond authentication, as for query.
    headers: tuple[tuple[str, str, dict[str, object]], ...] = ()
    #: Path parameters that are codes, not ids (the rest are UUIDs).
    code_params: tuple[str, ...] = ()
    #: Path parameters that are numeric ids (bigint columns), not UUIDs.
    number_params: tuple[str, ...] = ()
    #: Answers with a stream that stays open (server-sent events): no HEAD.
    stream: bool = False
    #: The body as form fields (application/x-www-form-urlencoded), not JSON.
    form: bool = False
    #: Answers with a page (text/html) for a person's browser, not JSON.
    page: bool = False
    #: What an error status means here, where the general text (openapi.py) is not it.
    error_texts: tuple[tuple[int, str], ...] = ()

    def __post_init__(self) -> None:
        if (self.policy is None) != self.public:
            raise ValueError(f"{self.method} {self.path}: public, or a policy; not both")


U = UserRole
_ROSTER = allow(U.coordinator, scope="Their own gebied's roster.")
_METRICS = allow(U.ops, U.admin,
                 scope="Counts only (anyone when TRIAGE_METRICS_OPEN=true).")  # fmt: skip
_CONTACT = allow(U.specialist, U.coordinator, scope="The one who accepted the melding.")
#: The header of a specialist's reason to read what is not their work (break the glass).
_REASON = ((ACCESS_REASON_HEADER,
            "A specialist's reason to read what is not offered to, assigned to or led by "
            "them in their gebied (audited, listed for the coordinator).",
            {"type": "string", "minLength": 10, "maxLength": 500,
             "pattern": ACCESS_REASON_PATTERN}),)  # fmt: skip
#: The header of a source system that acts for a person of its own (NEN 7513: on whose
#: behalf), kept in the audit.
_BEHALF: tuple[tuple[str, str, dict[str, object]], ...] = ((ON_BEHALF_HEADER,
            "The id of the person this request is made for, kept in the audit: for an API "
            "client the person at the source (a staff number or account name), for a "
            "person a colleague they act for. Never a name or a BSN.",
            {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$"}),)  # fmt: skip
_CASE_READERS = allow(
    U.operator,
    U.cit,
    U.coordinator,
    U.specialist,
    scope="Operator and cit: the region; coordinator: their gebied; specialist: what they "
    "are offered, assigned or lead, and the rest of their gebied with a reason in the "
    "Triage-Access-Reason header (audited; listed for the coordinator).",
)
_TAKING_OVER = allow(U.specialist, U.coordinator, scope="The colleague proposed.")
#: A numeric id (roster changes, webhooks: bigint columns), as handlers._whole_number reads it.
ID_NUMBER: dict[str, object] = {"type": "integer", "minimum": 1, "maximum": ID_MAX}


def _limit(default: int, most: int) -> tuple[str, str, dict[str, object]]:
    """The limit parameter as the handler parses it (handlers._limit)."""
    schema = {"type": "integer", "minimum": 1, "maximum": most, "default": default}
    return "limit", "How many, at most.", schema


#: Who lists meldingen and cases: the desk and CIT the region, the network its gebied.
_LISTERS = allow(U.operator, U.cit, U.coordinator, U.specialist,
                 scope="Operator and cit: the region; coordinator and specialist: their "
                 "gebied.")  # fmt: skip
_AFTER: tuple[str, str, dict[str, object]] = (
    "after", "Where the page starts: the 'next' of the page before.",
    {"type": "string", "pattern": CURSOR},
)  # fmt: skip


def _codes(name: str, text: str, allowed: tuple[str, ...]) -> tuple[str, str, dict[str, object]]:
    """A comma-separated list of codes, as api/lists.py ``codes`` reads it."""
    one = "(?:" + "|".join(allowed) + ")"
    return name, text, {"type": "string", "pattern": f"^{one}(?:,{one}){{0,{len(allowed) - 1}}}$"}


def _moment(name: str, text: str) -> tuple[str, str, dict[str, object]]:
    return name, text, {"type": "string", "format": "date-time"}


_CHANGE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 503)


def _conflict(text: str) -> tuple[tuple[int, str], ...]:
    """What a 409 means for this operation: the state that does not allow it."""
    return ((409, text),)


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST", "/auth/login", h.post_login,
        "Log in with a username and password (form fields): a session in an HttpOnly, "
        "SameSite=Strict, Secure cookie, ended by logout, by disabling the user, after "
        "TRIAGE_SESSION_IDLE_MINUTES without a request and TRIAGE_SESSION_HOURS after "
        "login. Failed attempts per address and per username are limited (429).", "auth",
        {200: SessionOut}, request=LoginIn, form=True, public=True,
        errors=(400, 401, 403, 413, 415, 422, 429, 503),
        error_texts=((400, "The form could not be read"),
                     (403, "Posted from another site's page (login CSRF)")),
    ),
    Operation(
        "POST", "/auth/logout", h.post_logout,
        "End the session of this browser and clear its cookie", "auth", {204: None},
        public=True, errors=(),
    ),
    Operation(
        "GET", "/auth/oidc/login", h.get_oidc_login,
        "Log in at the region's identity provider (OpenID Connect, Authorization Code with "
        "PKCE): a redirect there, with a state bound to this browser by a cookie. 404 when "
        "no provider is configured.", "auth", {302: None}, public=True, errors=(404, 503),
        error_texts=((404, "No identity provider is configured"),),
    ),
    Operation(
        "GET", "/auth/oidc/callback", h.get_oidc_callback,
        "Where the identity provider sends the person back: the code is exchanged for an ID "
        "token, checked (signature by the provider's JWKS, issuer, audience, expiry, "
        "nonce), role and gebied are taken from its claims, and a session starts as with "
        "a password (a page that moves on to /).", "auth", {200: None}, public=True, page=True,
        errors=(400, 401, 403, 404, 429, 503),
        error_texts=((400, "The login was not started in this browser (no or another flow "
                           "cookie): start again"),
                     (401, "The provider did not log the person in, or did not take the "
                           "code, or its ID token is not valid"),
                     (403, "The claims give no role here, the network file does not list "
                           "the person, or the account is disabled here"),
                     (404, "No identity provider is configured")),
        query=(("code", "The provider's authorization code.", {"type": "string"}),
               ("state", "The state this login started with.", {"type": "string"})),
    ),
    Operation(
        "POST", "/api/v1/meldingen", h.post_melding,
        "Submit a melding or adviesvraag (idempotent on source + external_id)", "meldingen",
        {201: (MeldingAccepted, MeldingReceipt), 200: (MeldingAccepted, MeldingReceipt)},
        request=MeldingIn,
        policy=allow(CLIENT, U.operator, U.cit,
                     scope="API clients: as their own source, and they get a MeldingReceipt; "
                     "operator and cit: for any source (MeldingAccepted)."),
        errors=(400, 401, 403, 409, 413, 415, 422, 503), headers=_BEHALF,
        error_texts=_conflict(
            "This source and external_id were stored before, by another client of the source "
            "or with another body; the answer names no id"
        ),
    ),
    Operation(
        "GET", "/api/v1/meldingen", lists.get_meldingen,
        "The werkvoorraad: meldingen waiting for first contact, most urgent first (crisis, "
        "acuut, hoog, regulier), then nearest deadline (or by deadline alone: order), one "
        "page at a time (ids, codes, times and staff ids: no personal data)",
        "meldingen", {200: WerkvoorraadOut}, policy=_LISTERS,
        errors=(401, 403, 422, 503),
        query=(_codes("status", "Statuses, comma-separated (default: all four).", WAITING),
               ("gebied", "Gebieden, comma-separated (a coordinator or specialist: their "
                "own).", {"type": "string", VOCABULARY: "gebieden_and_pool_list"}),
               _codes("level", "Urgency levels, comma-separated.",
                      tuple(x.value for x in Level if x != Level.advies)),
               _codes("source", "Sources, comma-separated.", tuple(Source)),
               _moment("received_from", "Received at or after (RFC 3339, with offset)."),
               _moment("received_until", "Received before (RFC 3339, with offset)."),
               ("review", "Only those whose recognition waits for an operator's review.",
                {"type": "boolean"}),
               ("order", "urgency (default): most urgent first, then nearest deadline; "
                "deadline: nearest deadline first, whatever the level.",
                {"type": "string", "enum": ["urgency", "deadline"], "default": "urgency"}),
               (_AFTER[0], _AFTER[1], {"type": "string", "pattern": RANKED_CURSOR}),
               _limit(50, 200)),
        error_texts=((422, "A filter names an unknown code, a time without offset, or a "
                           "cursor not given by this list"),),
    ),
    Operation(
        "GET", "/api/v1/cases", lists.get_cases,
        "Cases newest first, by gebied, status and lead (ids, codes and times: open one to "
        "see its people)", "cases", {200: CasesOut}, policy=_LISTERS,
        errors=(401, 403, 422, 503),
        query=(("gebied", "One gebied (a coordinator or specialist: their own).",
                {"type": "string", VOCABULARY: "gebieden_and_pool"}),
               ("status", "open or closed.", {"type": "string", "enum": ["open", "closed"]}),
               ("lead", "The staff id of the lead (casusregie), as in the network file.",
                {"type": "string", "pattern": lists.STAFF_ID}),
               _AFTER, _limit(50, 200)),
    ),
    Operation(
        "POST", "/api/v1/households/search", lists.post_household_search,
        "Find a household's case by address, name (with or without birth date, spelled any "
        "way recognition knows) or BSN. States its purpose; audited with the terms and what "
        "it found. The terms go in the body, never in the address (logs keep addresses)",
        "cases", {200: HouseholdSearchOut}, request=HouseholdSearchIn,
        policy=allow(U.operator, U.cit, U.coordinator,
                     scope="Operator and cit: the region; coordinator: their gebied."),
        errors=(400, 401, 403, 413, 415, 422, 503),
    ),
    Operation(
        "GET", "/api/v1/meldingen/{melding_id}", h.get_melding,
        "Read a melding with its personal data (audited)", "meldingen",
        {200: (MeldingOut, MeldingAsSent)},
        policy=allow(CLIENT, U.operator, U.cit, U.coordinator, U.specialist,
                     scope="Operator and cit: the region; coordinator: their gebied; "
                     "specialist: what they are offered, assigned or lead, and the rest "
                     "of their gebied with a reason in the Triage-Access-Reason header "
                     "(audited; listed for the coordinator); API clients: the meldingen "
                     "they submitted, as sent (MeldingAsSent)."),
        errors=(401, 403, 404, 422, 503), headers=(*_REASON, *_BEHALF),
    ),
    Operation(
        "POST", "/api/v1/meldingen/{melding_id}/urgency", h.post_urgency,
        "Set a melding's urgency level by hand, with a reason (audited; the queue follows)",
        "meldingen", {200: UrgencyOverrideOut}, request=UrgencyOverrideIn,
        policy=EDITORS, errors=_CHANGE_ERRORS,
        error_texts=_conflict("The melding is closed: it keeps the urgency it was closed with"),
    ),
    Operation(
        "POST", "/api/v1/meldingen/{melding_id}/link", h.post_link,
        "Move a melding to the household's open case (with a reason; audited; a "
        "herhaalmelding found this way is raised and re-queued)", "cases",
        {200: c.CaseChangeOut}, request=c.LinkIn, policy=EDITORS, errors=_CHANGE_ERRORS,
        error_texts=_conflict(
            "The melding is in this case already, the case is closed, or the melding moved "
            "meanwhile"
        ),
    ),
    Operation(
        "POST", "/api/v1/meldingen/{melding_id}/unlink", h.post_unlink,
        "Take a melding out of its case into a case of its own (with a reason; audited)",
        "cases", {200: c.CaseChangeOut}, request=c.UnlinkIn, policy=EDITORS,
        errors=_CHANGE_ERRORS,
        error_texts=_conflict("The melding is the only one of its case, or it moved meanwhile"),
    ),
    Operation(
        "POST", "/api/v1/meldingen/{melding_id}/review", h.post_review,
        "Settle a possible duplicate: confirm (merge the cases) or reject (keep apart)",
        "cases", {200: c.CaseChangeOut}, request=c.ReviewDecisionIn, policy=EDITORS,
        errors=_CHANGE_ERRORS,
        error_texts=_conflict(
            "The melding was not sent to review, its review was settled already, or the case "
            "to compare with has been closed since"
        ),
    ),
    Operation(
        "GET", "/api/v1/reviews", h.get_reviews,
        "Possible duplicates waiting for an operator, oldest first (ids and reasons only)",
        "cases", {200: c.ReviewsOut}, policy=EDITORS, errors=(400, 401, 403, 422, 503),
        query=(_limit(100, 500),),
    ),
    Operation(
        "POST", "/api/v1/cases/{case_id}/merge", h.post_merge,
        "Merge this case into another open case of the same household (history kept; "
        "audited; the queue follows)", "cases",
        {200: c.CaseChangeOut}, request=c.MergeIn, policy=EDITORS, errors=_CHANGE_ERRORS,
        error_texts=_conflict("A case cannot be merged into itself, and only open cases are "
                              "merged"),
    ),
    Operation(
        "POST", "/api/v1/cases/{case_id}/close", h.post_close,
        "Close a case whose meldingen have all been taken up (with a reason; audited)",
        "cases", {200: c.CaseChangeOut}, request=c.CloseIn, policy=EDITORS,
        errors=_CHANGE_ERRORS,
        error_texts=_conflict("The case is closed already, or meldingen of it still wait for "
                              "first contact"),
    ),
    Operation(
        "GET", "/api/v1/me/assignments", h.get_my_assignments,
        "My open offers and accepted meldingen, earliest deadline first (ids and reasons)",
        "dispatch", {200: a.AssignmentsOut}, policy=ANSWERERS, errors=(401, 403, 503),
    ),
    Operation(
        "GET", "/api/v1/me/events", h.get_my_events,
        "Server-sent events for me: offer, reassigned, escalation (ids and links only; "
        "best effort: fetch /api/v1/me/assignments on (re)connect). The desk and CIT also "
        "get werkvoorraad: the ids of meldingen that arrived or changed (read the list "
        "again); a coordinator, those of their own gebied", "dispatch",
        {200: None}, policy=PEOPLE, errors=(401, 403), stream=True,
    ),
    Operation(
        "POST", "/api/v1/assignments/{assignment_id}/accept", h.post_accept,
        "Accept an offer made to me (the first to accept a case's melding leads the case)",
        "dispatch", {200: a.AnswerOut}, policy=ANSWERERS, errors=(401, 403, 404, 409, 503),
        error_texts=_conflict("The offer is answered, expired or withdrawn already"),
    ),
    Operation(
        "POST", "/api/v1/assignments/{assignment_id}/decline", h.post_decline,
        "Decline an offer made to me, with a reason; it goes to the next candidate",
        "dispatch", {200: a.AnswerOut}, request=a.DeclineIn, policy=ANSWERERS,
        errors=(400, 401, 403, 404, 409, 413, 415, 422, 503),
        error_texts=_conflict("The offer is answered, expired or withdrawn already"),
    ),
    Operation(
        "POST", "/api/v1/meldingen/{melding_id}/first-contact", h.post_first_contact,
        "Record first contact with the household (meets the 24-72 h norm for the melding): "
        "when, how and a note; without a body, by phone now",
        "dispatch", {200: a.ContactOut}, request=a.FirstContactIn, request_optional=True,
        policy=_CONTACT, errors=(400, 401, 403, 409, 413, 415, 422, 503),
        error_texts=_conflict("First contact is recorded once, by the specialist who accepted "
                              "the melding"),
    ),
    Operation(
        "POST", "/api/v1/meldingen/{melding_id}/reassign", h.post_reassign,
        "Give a melding to a named specialist: the current offer or assignment ends "
        "(reason kept; audited)", "dispatch", {200: m.ReassignedOut}, request=m.ReassignIn,
        policy=EDITORS, errors=_CHANGE_ERRORS,
        error_texts=_conflict("The melding is no longer dispatched, or the person has it already"),
    ),
    Operation(
        "POST", "/api/v1/meldingen/{melding_id}/gebied", h.post_move_gebied,
        "Hand a melding not yet accepted (queued, offered or escalated) to another gebied's "
        "team: an open offer is withdrawn and its specialist told (reason kept; audited)",
        "dispatch", {200: m.MovedOut}, request=m.GebiedIn, policy=EDITORS,
        errors=_CHANGE_ERRORS,
        error_texts=_conflict("The melding is no longer dispatched, or is in that gebied already"),
    ),
    Operation(
        "POST", "/api/v1/meldingen/{melding_id}/close", h.post_close_melding,
        "Close a melding still waiting for first contact (queued, offered, accepted or "
        "escalated) with an outcome and a reason: a second report of what a waiting melding "
        "says, nothing to follow after triage, or taken on by another organisation. It "
        "leaves the queue and the werkvoorraad; an offer or assignment ends and its "
        "specialist is told (audited)",
        "dispatch", {200: m.ClosedOut}, request=m.CloseIn, policy=EDITORS,
        errors=_CHANGE_ERRORS,
        error_texts=_conflict("The melding had first contact, is an adviesvraag, or is "
                              "closed already"),
    ),
    Operation(
        "GET", "/api/v1/gebieden/{gebied}/on-duty", h.get_on_duty,
        "Who is on duty now in a gebied, the regional backup and the coordinators",
        "dispatch", {200: v.OnDutyOut}, policy=STAFF, errors=(401, 403, 404),
        code_params=("gebied",),
    ),
    Operation(
        "GET", "/api/v1/gebieden/{gebied}/queue", h.get_gebied_queue,
        "What waits in a gebied, in dispatch order, with the current offer (ids only)",
        "dispatch", {200: v.QueueOut}, policy=STAFF, errors=(401, 403, 404, 422, 503),
        code_params=("gebied",), query=(_limit(200, 1000),),
    ),
    Operation(
        "GET", "/api/v1/gebieden/{gebied}/roster-changes", h.get_roster_changes,
        "Roster changes made through the API for a gebied, running or to come",
        "dispatch", {200: rc.RosterChangesOut}, policy=STAFF, errors=(401, 403, 404, 503),
        code_params=("gebied",),
    ),
    Operation(
        "POST", "/api/v1/gebieden/{gebied}/roster-changes", h.post_roster_change,
        "Mark someone absent, add an extra shift or record a swap (with a reason; audited)",
        "dispatch", {201: rc.RosterChangeRef}, request=rc.RosterChangeIn,
        policy=_ROSTER, errors=(400, 401, 403, 404, 413, 415, 422, 503),
        code_params=("gebied",),
    ),
    Operation(
        "POST", "/api/v1/gebieden/{gebied}/roster-changes/{change_id}/withdraw",
        h.post_roster_withdraw, "Withdraw a roster change (audited)", "dispatch",
        {200: rc.RosterChangeRef}, policy=_ROSTER,
        errors=(401, 403, 404, 409, 422, 503), code_params=("gebied",),
        number_params=("change_id",),
        error_texts=_conflict("No current change with this id in the gebied's roster"),
    ),
    Operation(
        "GET", "/api/v1/escalations", h.get_escalations,
        "The last day's escalations (at risk, breached), newest first, and case milestones overdue",
        "dispatch", {200: v.EscalationsOut}, policy=STAFF, errors=(401, 403, 422, 503),
        query=(_limit(100, 500),),
    ),
    Operation(
        "GET", "/api/v1/break-glass", h.get_break_glass,
        "Reads of meldingen and cases that took a stated reason (break the glass), the "
        "last 30 days, newest first: who, when, what and why", "cases",
        {200: BreakGlassListOut},
        policy=allow(U.coordinator, scope="The reads in their gebied."),
        errors=(401, 403, 422, 503),
        query=(_limit(100, 1000),
               ("before", "Only entries before this one (the last id of the page before).",
                ID_NUMBER)),
    ),
    Operation(
        "POST", "/api/v1/inzage", h.post_inzage,
        "Everything held about one person (AVG art. 15), found by BSN or by surname, first "
        "name and birth date exactly: their records with corrections, the meldingen they "
        "are in, the cases, offers, and which roles did what when. JSON, or a page to read "
        "and print with Accept: text/html. Audited per melding with the reason.", "privacy",
        {200: InzageOut}, request=InzageIn,
        policy=allow(U.admin, scope="One person's data, for their request; audited."),
        errors=(400, 401, 403, 413, 415, 422, 503),
    ),
    Operation(
        "PATCH", "/api/v1/persons/{person_id}", h.patch_person,
        "Correct a person's data (AVG art. 16): the old value is kept with the reason, and "
        "recognition finds the household by the corrected data only", "privacy",
        {200: PersonOut}, request=CorrectionIn,
        policy=allow(U.admin, scope="One person's data, on their request; audited."),
        errors=(400, 401, 403, 404, 409, 413, 415, 422, 503),
        error_texts=_conflict("The person holds these values already; nothing to correct"),
    ),
    Operation(
        "GET", "/api/v1/kpi", h.get_kpi,
        "The process indicators (24-72-7-30-100-180) per gebied over a period: counts and "
        "shares, no personal data", "reporting", {200: KpiOut},
        policy=allow(U.operator, U.cit, U.coordinator, U.admin,
                     scope="Coordinator: their gebied; operator, cit and admin: the region. "
                     "Counts and shares only."),
        errors=(401, 403, 422, 503),
        query=(
            ("from", "First local date (default: 30 days before until); 2000 to 2999.",
             {"type": "string", "format": "date"}),
            ("until", "Day after the last (default: tomorrow); 2000 to 2999.",
             {"type": "string", "format": "date"}),
            ("gebied", "One gebied only (or the regio pool).",
             {"type": "string", VOCABULARY: "gebieden_and_pool"}),
        ),
    ),
    Operation(
        "GET", "/api/v1/webhooks/dead-letters", h.get_dead_letters,
        "Webhook deliveries that failed every attempt, newest first", "operations",
        {200: w.DeadLettersOut}, policy=OPS, errors=(401, 403, 422, 503),
        query=(("webhook_id", "Only this webhook's.", ID_NUMBER), _limit(100, 1000)),
    ),
    Operation(
        "POST", "/api/v1/webhooks/dead-letters/replay", h.post_replay,
        "Deliver dead letters again from their first attempt, by id or all of a webhook "
        "(audited); the answer lists those replayed", "operations", {200: w.ReplayedOut},
        request=w.ReplayIn, policy=OPS, errors=(400, 401, 403, 413, 415, 422, 503),
    ),
    Operation(
        "POST", "/api/v1/cases/{case_id}/milestones/{kind}/done", h.post_milestone_done,
        "Mark a case milestone done: plan, outreach, handover or evaluation (audited)",
        "cases", {200: MilestoneOut}, request=MilestoneDoneIn,
        policy=CASE_WORK,
        errors=(400, 401, 403, 404, 409, 413, 415, 422, 503), code_params=("kind",),
        error_texts=_conflict(
            "No open milestone of this kind on a case the caller leads or coordinates (it "
            "starts with the first contact and is marked done once)"
        ),
    ),
    Operation(
        "POST", "/api/v1/cases/{case_id}/handover", h.post_handover,
        "Propose a colleague as the case's lead; the lead stays until they accept (audited)",
        "cases", {200: HandoverOut}, request=HandoverIn,
        policy=CASE_WORK,
        errors=(400, 401, 403, 404, 409, 413, 415, 422, 503),
        error_texts=_conflict(
            "A handover of this case is proposed already, or the caller neither leads the "
            "open case nor coordinates its gebied"
        ),
    ),
    Operation(
        "POST", "/api/v1/cases/{case_id}/handover/accept", h.post_handover_accept,
        "Accept the lead of a case proposed to me (warm handover; audited)", "cases",
        {200: HandoverOut}, policy=_TAKING_OVER, errors=(401, 403, 404, 409, 503),
        error_texts=_conflict("No handover of this case is proposed to the caller"),
    ),
    Operation(
        "POST", "/api/v1/cases/{case_id}/handover/withdraw", h.post_handover_withdraw,
        "End the case's proposed handover without a takeover: the colleague proposed "
        "declines it, or the lead, whoever proposed it or a coordinator of the gebied "
        "withdraws it; the lead stays, the others are told (audited)",
        "cases", {200: HandoverOut}, request=HandoverEndIn, policy=CASE_WORK,
        errors=(400, 401, 403, 404, 409, 413, 415, 422, 503),
        error_texts=_conflict("No open handover of this case that the caller may end"),
    ),
    Operation(
        "POST", "/api/v1/cases/{case_id}/notes", h.post_note,
        "Add a note to an open case, for the people working it (audited; erased with the "
        "case)", "cases", {201: NoteOut}, request=NoteIn,
        policy=allow(U.operator, U.cit, U.coordinator, U.specialist,
                     scope="Operator and cit: the region; coordinator: their gebied; "
                     "specialist: the cases they lead."),
        errors=(400, 401, 403, 404, 413, 415, 422, 503),
        error_texts=((404, "No open case with this id that you may write in"),),
    ),
    Operation(
        "GET", "/api/v1/cases/{case_id}", h.get_case,
        "Read a household's case with its meldingen and persons (audited)", "cases",
        {200: CaseOut}, policy=_CASE_READERS,
        errors=(401, 403, 404, 422, 503), headers=_REASON,
    ),
    Operation(
        "GET", "/api/v1/vocabulary/signals", h.get_vocabulary,
        "The signal codes and categories a melding may carry", "reference",
        {200: h.VocabularyOut}, policy=ANYONE,
    ),
    Operation(
        "GET", "/api/v1/gebieden", h.get_gebieden,
        "The region's gebieden (for the gebied hint)", "reference",
        {200: h.RegionOut}, policy=ANYONE,
    ),
    Operation("GET", "/healthz", h.healthz, "The process is alive", "operations",
              {200: h.Health}, public=True, errors=()),
    Operation("GET", "/readyz", h.readyz, "PostgreSQL is reachable (Redis: degraded)", "operations",
              {200: h.Readiness, 503: h.Readiness}, public=True, errors=()),
    Operation("GET", "/metrics", h.get_metrics, "Prometheus metrics", "operations",
              {200: None}, policy=_METRICS),
)  # fmt: skip
