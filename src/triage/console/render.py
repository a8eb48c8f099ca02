"""Templates, the pages' security headers and the CSRF token of a session.

The pages' policy allows script and style from this origin only (no inline script, no
CDN): the one script and the one stylesheet are files served by the service. Forms carry a
token derived from the session (a page of another site cannot know it) besides the
Origin check that every change through a session passes (``app._session``).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from triage import problems_nl
from triage.api.handlers import FormFields
from triage.api.keys import PRINCIPAL, RUNTIME
from triage.auth import sessions
from triage.auth.tokens import credential_bytes
from triage.problems import forbidden
from triage.vocabulary import ROLE_NL

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: A page's own headers: its policy, and a referrer policy under which the browser sends
#: the Origin of its forms (with no-referrer, Chromium sends "Origin: null").
PAGE_HEADERS = {"Content-Security-Policy": PAGE_POLICY, "Referrer-Policy": "same-origin"}
_ZONE = ZoneInfo("Europe/Amsterdam")
CSRF_FIELD = "csrf"

LEVEL_LABEL = {"crisis": "Crisis", "acuut": "Acuut", "hoog": "Hoog", "regulier": "Regulier",
               "advies": "Advies"}  # fmt: skip
STATUS_LABEL = {
    "queued": "Wacht op aanbod", "offered": "Aangeboden", "assigned": "Aangenomen",
    "contacted": "Contact gehad", "advies": "Adviesvraag", "escalated": "Geëscaleerd",
    "closed": "Afgesloten",
}  # fmt: skip
OFFER_LABEL = {
    "offered": "aangeboden", "accepted": "aangenomen", "declined": "afgewezen",
    "expired": "verlopen", "reassigned": "overgedragen", "closed": "gesloten",
    "withdrawn": "ingetrokken",
}  # fmt: skip
TIER_LABEL = {
    "continuity": "kent het huishouden", "network": "netwerk van het gebied",
    "backup": "regionale achtervang", "coordinator": "coördinator",
    "operator": "met de hand toegewezen", "handover": "overdracht",
}  # fmt: skip
#: What the audit says was done to a melding, as the melding page says it.
AUDIT_LABEL = {
    "melding.create": "ontvangen", "melding.read": "gelezen",
    "melding.read.break_glass": "gelezen met een reden (niet het eigen werk)",
    "melding.replay": "nog eens gestuurd door de bron", "melding.offer": "aangeboden",
    "melding.reassign": "met de hand toegewezen",
    "melding.escalate": "opgeschaald: niemand meer om aan te bieden",
    "melding.new_round": "nieuwe ronde van aanbod", "melding.gebied": "naar een ander gebied",
    "melding.first_contact": "eerste contact vastgelegd", "melding.close": "afgesloten",
    "melding.urgency_override": "urgentie met de hand aangepast",
    "melding.repair": "hersteld door de bewaking", "assignment.accept": "aangenomen",
    "assignment.decline": "afgewezen", "assignment.expire": "aanbod verlopen",
    "assignment.withdraw": "aanbod ingetrokken", "assignment.handover": "overgedragen",
    "assignment.close": "aanbod gesloten", "case.link": "gekoppeld aan een casus",
    "case.unlink": "losgemaakt uit de casus", "case.merge": "casussen samengevoegd",
    "case.review_confirm": "beoordeeld: zelfde huishouden",
    "case.review_reject": "beoordeeld: ander huishouden", "case.close": "casus gesloten",
    "person.correct": "persoon gecorrigeerd", "person.inzage": "inzage gegeven",
    "case.read": "casus gelezen", "case.read.break_glass": "casus gelezen met een reden",
    "case.note": "notitie bij de casus", "case.milestone_done": "mijlpaal gehaald",
    "case.handover_proposed": "overdracht voorgesteld",
    "case.handover_accepted": "casusregie overgenomen",
    "case.handover_withdrawn": "overdracht niet doorgegaan",
    "case.erased": "gewist (bewaartermijn)",
    "household.search": "huishouden gezocht",
    "access.denied.401": "geweigerd: niet ingelogd",
    "access.denied.403": "geweigerd: geen toegang",
    "access.denied.404": "geweigerd: niet te zien voor wie het vroeg",
}  # fmt: skip
#: Who did it, when no person: the service itself, a source system.
ACTOR_LABEL = {**ROLE_NL, "dispatcher": "dispatch", "system": "de dienst", "client": "bron"}
SOURCE_LABEL = {
    "politie": "Politie", "cit": "CIT", "veilig_thuis": "Veilig Thuis", "wijkteam": "Wijkteam",
    "meldpunt": "Meldpunt", "ggz": "GGZ", "huisarts": "Huisarts", "burger": "Burger",
    "other": "Anders",
}  # fmt: skip


def _when(value: datetime | None, form: str = "%d-%m %H:%M") -> str:
    return "" if value is None else value.astimezone(_ZONE).strftime(form)


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_ENV.filters["when"] = _when


@jinja2.pass_context
def _gebied(context: jinja2.runtime.Context, code: str | None, full: bool = False) -> str:
    """A gebied's name as people say it (``Langstraat``; ``full``: with its places),
    not its code; a code the region does not know (one since renamed) as it is."""
    if not code:
        return ""
    name = context["GEBIED_NAMES"].get(code, code)
    return str(name if full else name.split(" (")[0])


_ENV.filters["gebied"] = _gebied
_ENV.globals.update(LEVEL_LABEL=LEVEL_LABEL, STATUS_LABEL=STATUS_LABEL, SOURCE_LABEL=SOURCE_LABEL,
                    ROLE_LABEL=ROLE_NL, AUDIT_LABEL=AUDIT_LABEL, ACTOR_LABEL=ACTOR_LABEL,
                    OFFER_LABEL=OFFER_LABEL, TIER_LABEL=TIER_LABEL, said=problems_nl.said,
                    refusal_title=lambda p: problems_nl.by_status(p.status)[0],
                    field_label=problems_nl.field_label)  # fmt: skip


def csrf_token(request: web.Request) -> str:
    """The form token of this browser's session: a keyed digest of the session cookie."""
    session_id = request.cookies.get(sessions.COOKIE, "")
    return hmac.new(b"triage-console-form", credential_bytes(session_id),
                    hashlib.sha256).hexdigest()  # fmt: skip


def check_csrf(request: web.Request, fields: dict[str, str]) -> None:
    """A form posted without this session's token did not come from its pages."""
    if not hmac.compare_digest(fields.get(CSRF_FIELD, ""), csrf_token(request)):
        raise forbidden(
            "this form was not sent from this service's page: reload it and send again",
            "Dit formulier kwam niet van een pagina van deze dienst; herlaad de pagina en "
            "verstuur het opnieuw.",
        )


#: What a form's answer may say was done (``?gedaan=``), and how the page says it: these
#: words only, so that a link cannot make a page say something of its own.
DONE = {
    "urgentie": "De urgentie is aangepast; de redenen staan hieronder.",
    "gekoppeld": "De melding is gekoppeld aan de casus.",
    "ontkoppeld": "De melding is losgemaakt en heeft een eigen casus.",
    "beoordeeld": "De beoordeling is vastgelegd.",
    "samengevoegd": "De casussen zijn samengevoegd.",
    "toegewezen": "De melding is aangeboden aan wie je koos.",
    "naar ander gebied": "De melding is naar het andere gebied gegaan en wordt daar aangeboden.",
    "afgesloten": "De melding is afgesloten.",
    "opgeslagen": "De melding is opgeslagen.",
    "al eerder opgeslagen": "Deze melding was al eerder opgeslagen; er is niets dubbel.",
    "mijlpaal": "De mijlpaal is vastgelegd.",
    "overdracht voorgesteld": "De overdracht is voorgesteld; de collega krijgt bericht.",
    "overdracht beeindigd": "Het voorstel tot overdracht is beëindigd; de casusregie blijft "
    "waar die was en de anderen krijgen bericht.",
    "casusregie overgenomen": "Je hebt de casusregie overgenomen.",
    "gesloten": "De casus is gesloten.",
    "aangenomen": "Aangenomen: de melding staat nu bij jou, eerste contact nog te doen.",
    "afgewezen": "Afgewezen: de melding gaat naar de volgende.",
    "contact": "Het eerste contact is vastgelegd.",
    "roosterwijziging": "De roosterwijziging is vastgelegd en geldt meteen.",
    "ingetrokken": "De roosterwijziging is ingetrokken.",
    "gebruiker aangemaakt": "De gebruiker is aangemaakt.",
    "gebruiker uitgeschakeld": "De gebruiker is uitgeschakeld.",
    "toegang vernieuwd": "De toegang is vernieuwd.",
    "token vernieuwd": "Het token is vernieuwd.",
    "bron uitgeschakeld": "De bron is uitgeschakeld.",
    "opnieuw verstuurd": "De webhook wordt opnieuw verstuurd.",
    "notitie": "De notitie is toegevoegd.",
}


#: The form a request posted, read by ``page``.
SENT = web.RequestKey("sent_form", FormFields)


def page(
    request: web.Request, template: str, status: int = 200, *, echo: bool = True, **context: Any
) -> web.Response:
    """A page, rendered with the person's menu, the form token and what was done. A page
    that answers a refused form carries what was typed in it (``sent``), for the script
    to put back in the form sent to this address: the page is made again from what is
    stored, and retyping a reason or a visit's note after a refusal is how work is lost.
    Not ``echo``: a page that puts back what was given itself, or has no form to put it
    in (an error page), carries no copy."""
    said = request.query.get("gedaan")
    form = request.get(SENT) if echo else None
    html = _ENV.get_template(template).render(
        me=request.get(PRINCIPAL), csrf=csrf_token(request), path=request.path,
        posted=request.method == "POST",
        done=DONE[said] if said in DONE and status < 400 else None,
        sent=_typed(form) if form is not None and status >= 400 else None,
        sso=request.app[RUNTIME].oidc is not None,
        **_labels(request), **context,
    )  # fmt: skip
    return web.Response(text=html, status=status, content_type="text/html",
                        headers=PAGE_HEADERS)  # fmt: skip


def _labels(request: web.Request) -> dict[str, Any]:
    """The region's and the rules' words for their codes: gebieden and categories."""
    runtime = request.app[RUNTIME]
    return {
        "GEBIED_NAMES": runtime.region.names,
        "CATEGORY_LABEL": {c.value: r.label for c, r in runtime.rules.categories.items()},
    }


def _typed(form: FormFields) -> dict[str, str | list[str]]:
    """What the person typed in ``form``: not its token, which the page has anew."""
    return {name: value for name, value in form.as_sent().items() if name != CSRF_FIELD}


def fragment(request: web.Request, template: str, **context: Any) -> web.Response:
    """Part of a page, for the script to put in place (the werkvoorraad's rows)."""
    html = _ENV.get_template(template).render(**_labels(request), **context)
    return web.Response(text=html, content_type="text/html", headers=PAGE_HEADERS)
