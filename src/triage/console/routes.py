"""The console's routes: each page and form with who may open or send it (enforced by
the pipeline, as the API's policies are), and how a refusal shows on a page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from triage.auth.policy import ANSWERERS, CASE_WORK, EDITORS, OPS, PEOPLE, Policy, allow
from triage.console import beheer as b
from triage.console import gebied as g
from triage.console import intake as i
from triage.console import pages as p
from triage.console import render
from triage.problems import REASON_REQUIRED, Problem
from triage.vocabulary import UserRole

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
U = UserRole
_DESK = allow(U.operator, U.cit, U.coordinator, scope="The region; a coordinator their gebied.")
_READERS = allow(U.operator, U.cit, U.coordinator, U.specialist,
                 scope="As GET /api/v1/meldingen/{id} and /cases/{id}.")  # fmt: skip
_GEBIED = allow(U.operator, U.cit, U.coordinator, scope="A coordinator their own gebied.")
_INTAKE = allow(U.operator, U.cit, scope="As POST /api/v1/meldingen for a person.")
_ADMIN = allow(U.admin, scope="Every account.")
_ROSTER = allow(U.coordinator, scope="Their own gebied's roster.")
_GLASS = allow(U.specialist, scope="Their own gebied, what is not their work, with a reason.")


@dataclass(frozen=True)
class Page:
    method: str
    path: str
    handler: Handler
    #: Who may open it (enforced by the pipeline, as for the API); None: anyone (login).
    policy: Policy | None


PAGES: tuple[Page, ...] = (
    Page("GET", "/login", p.get_login, None),
    Page("POST", "/login", p.post_login, None),
    Page("GET", "/static/{name}", p.get_static, None),
    Page("POST", "/logout", p.post_logout, PEOPLE),
    Page("GET", "/sessie", p.get_session_alive, PEOPLE),
    Page("GET", "/", p.get_start, PEOPLE),
    Page("GET", "/werkvoorraad", p.get_werkvoorraad, _READERS),
    Page("GET", "/werkvoorraad/rijen", p.get_werkvoorraad_rows, _READERS),
    Page("GET", "/meldingen/{melding_id}", p.get_melding, _READERS),
    Page("POST", "/meldingen/{melding_id}/inzien", p.post_read_melding, _GLASS),
    Page("POST", "/meldingen/{melding_id}/urgentie", p.post_urgency, EDITORS),
    Page("POST", "/meldingen/{melding_id}/koppelen", p.post_link, EDITORS),
    Page("POST", "/meldingen/{melding_id}/ontkoppelen", p.post_unlink, EDITORS),
    Page("POST", "/meldingen/{melding_id}/beoordelen", p.post_review, EDITORS),
    Page("POST", "/meldingen/{melding_id}/samenvoegen", p.post_merge, EDITORS),
    Page("POST", "/meldingen/{melding_id}/zoek-casus", p.post_find_case, _DESK),
    Page("POST", "/meldingen/{melding_id}/contact", p.post_first_contact, ANSWERERS),
    Page("GET", "/zoeken", p.get_search, _DESK),
    Page("POST", "/zoeken", p.post_search, _DESK),
    Page("GET", "/casussen/{case_id}", p.get_case, _READERS),
    Page("POST", "/casussen/{case_id}/inzien", p.post_read_case, _GLASS),
    Page("POST", "/casussen/{case_id}/mijlpalen/{kind}", p.post_milestone, CASE_WORK),
    Page("POST", "/casussen/{case_id}/overdracht", p.post_handover, CASE_WORK),
    Page("POST", "/casussen/{case_id}/overnemen", p.post_take_over, CASE_WORK),
    Page("POST", "/casussen/{case_id}/overdracht/beeindigen", p.post_handover_withdraw, CASE_WORK),
    Page("POST", "/casussen/{case_id}/sluiten", p.post_close, EDITORS),
    Page("POST", "/casussen/{case_id}/notities", p.post_note, _READERS),
    Page("POST", "/meldingen/{melding_id}/toewijzen", p.post_reassign, EDITORS),
    Page("POST", "/meldingen/{melding_id}/gebied", p.post_move, EDITORS),
    Page("POST", "/meldingen/{melding_id}/afsluiten", p.post_close_melding, EDITORS),
    Page("GET", "/mijn-werk", p.get_my_work, ANSWERERS),
    Page("GET", "/mijn-werk/versie", p.get_my_work_version, ANSWERERS),
    Page("POST", "/aanbod/{assignment_id}/aannemen", p.post_accept, ANSWERERS),
    Page("POST", "/aanbod/{assignment_id}/afwijzen", p.post_decline, ANSWERERS),
    Page("GET", "/nieuwe-melding", i.get_new, _INTAKE),
    Page("POST", "/nieuwe-melding", i.post_new, _INTAKE),
    Page("GET", "/nieuwe-melding/gebied", i.get_gebied_hint, _INTAKE),
    Page("GET", "/beheer", b.get_beheer, OPS),
    Page("POST", "/beheer/gebruikers", b.post_add_user, _ADMIN),
    Page("POST", "/beheer/gebruikers/uitschakelen", b.post_disable_user, _ADMIN),
    Page("POST", "/beheer/gebruikers/vernieuwen", b.post_renew_user, _ADMIN),
    Page("POST", "/beheer/bronnen", b.post_add_client, _ADMIN),
    Page("POST", "/beheer/bronnen/vernieuwen", b.post_rotate_client, _ADMIN),
    Page("POST", "/beheer/bronnen/uitschakelen", b.post_disable_client, _ADMIN),
    Page("POST", "/beheer/dode-brieven/opnieuw", b.post_replay, OPS),
    Page("GET", "/gebied", g.get_gebied, _GEBIED),
    Page("POST", "/gebied/roosterwijzigingen", g.post_roster_change, _ROSTER),
    Page(
        "POST", "/gebied/roosterwijzigingen/{change_id}/intrekken", g.post_roster_withdraw, _ROSTER
    ),
)


def error_page(request: web.Request, problem: Problem) -> web.StreamResponse:
    """A refusal on a page, as a page: to the login when there is no session."""
    if problem.status == 401 and request.method in ("GET", "HEAD"):
        return p.see_other("/login?" + urlencode({"next": request.path_qs}))
    if problem.status == 401:  # a form sent after the session ended: back to its page
        back = urlsplit(request.headers.get("Referer", ""))
        here = back.netloc == request.host and back.scheme in ("http", "https")
        page = back.path + (f"?{back.query}" if back.query else "") if here else "/"
        return p.see_other("/login?" + urlencode({"next": page, "verlopen": "1"}))
    if problem.type == REASON_REQUIRED and request.match_info.keys() & {"melding_id", "case_id"}:
        return p.reason_page(request)  # a specialist, not their work: they may say why
    response = render.page(request, "fout.html", problem.status, echo=False, problem=problem)
    response.headers.update(problem.headers)
    return response
