"""An example of each request body, for the OpenAPI document (openapi.py puts it in the
request's media type, where the documentation page fills Try it out with it).

Made up and valid: each passes its model and the document's schema
(tests/test_openapi_and_operations.py), so that sending it is refused only for what a
schema cannot know: ids that do not exist here, a state that does not allow it, or a
caller who may not. Times are taken from the moment the document is built (a melding
received more than 30 days ago, or a roster change a year out, would be refused), codes
from the configuration the document lists.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from triage.auth.sessions import LoginIn
from triage.cases import control as c
from triage.cases.handover import HandoverEndIn, HandoverIn
from triage.cases.milestones import MilestoneDoneIn
from triage.cases.notes import NoteIn
from triage.dispatch import answers as a
from triage.dispatch import manual as m
from triage.intake.models import MeldingIn
from triage.lists.households import HouseholdSearchIn
from triage.notify.webhooks import ReplayIn
from triage.privacy.correction import CorrectionIn
from triage.privacy.inzage import InzageIn
from triage.routing.roster_changes import RosterChangeIn
from triage.scoring.override import UrgencyOverrideIn

_LOCAL = ZoneInfo("Europe/Amsterdam")
#: Ids of things that will not exist where the example is sent: the answer is a 404 or a
#: 409, never a change to something real.
_CASE = "3f0b2a9c-6d1e-4c57-9a80-2b7e5d4c1a63"
_OTHER_CASE = "8c41d7e2-0a9b-4f36-b1c5-7e2d9a6f3b10"
_DEAD_LETTER = "5a9e1c07-2b4d-4e8f-a6c3-d10f7b2e9c48"
#: Staff ids as the network file names them (the demo region's).
_SPECIALIST = "sp-tilburg-1"
_COLLEAGUE = "sp-tilburg-2"
#: Signals the example melding carries, where the configuration has them.
_SIGNALS = ("geweld_nu", "kinderen_aanwezig")


def request_examples(
    *, signals: list[str], gebieden: list[str], now: datetime
) -> dict[type[BaseModel], dict[str, Any]]:
    """Per request model, an example body; ``now`` is the service's clock."""
    received = now.astimezone(_LOCAL).replace(minute=0, second=0, microsecond=0)
    tomorrow = (now.astimezone(_LOCAL) + timedelta(days=1)).date()
    shift = [datetime.combine(tomorrow, at, tzinfo=_LOCAL).isoformat()
             for at in (time(8), time(17))]  # fmt: skip
    return {
        # Form fields, whose examples the model has (the page fills the form with those).
        LoginIn: {
            name: (field.examples or [""])[0] for name, field in LoginIn.model_fields.items()
        },
        MeldingIn: {
            "source": "politie",
            "external_id": "BVH-2026-000123",
            "received_at": received.isoformat(),
            "kind": "melding",
            "category": "huiselijk_geweld",
            "signals": [s for s in _SIGNALS if s in signals] or signals[:1],
            "summary": "E33-melding: ruzie tussen partners, buren horen geschreeuw, twee "
            "kinderen thuis. (Fictieve testgegevens.)",
            "address": {"postcode": "5038 AB", "huisnummer": "12-a", "woonplaats": "Tilburg"},
            "persons": [
                {
                    "role": "slachtoffer",
                    "voornaam": "Sanne",
                    "achternaam": "Jansen",
                    "geboortedatum": "1991-04-03",
                },
                {
                    "role": "pleger",
                    "voornaam": "Mark",
                    "tussenvoegsel": "van der",
                    "achternaam": "Berg",
                },
                {
                    "role": "kind",
                    "voornaam": "Noor",
                    "achternaam": "van der Berg",
                    "geboortedatum": "2019-08-15",
                },
            ],
        },
        HouseholdSearchIn: {
            "purpose": "koppelen",
            "adres": {"postcode": "5038 AB", "huisnummer": "12-a"},
            "achternaam": "Jansen",
        },
        UrgencyOverrideIn: {
            "level": "acuut",
            "reason": "Melder belde terug: de pleger is weer in huis.",
        },
        c.LinkIn: {
            "case_id": _CASE,
            "reason": "Zelfde huishouden: adres en achternaam komen overeen.",
        },
        c.UnlinkIn: {"reason": "Ander huishouden: de melder woont sinds mei elders."},
        c.ReviewDecisionIn: {
            "decision": "confirm",
            "reason": "Zelfde gezin; geboortedata en adres komen overeen.",
        },
        c.MergeIn: {
            "into_case_id": _OTHER_CASE,
            "reason": "Twee casussen voor hetzelfde huishouden.",
        },
        c.CloseIn: {"reason": "Alle meldingen opgepakt; de hulp loopt via het wijkteam."},
        NoteIn: {"text": "Moeder gebeld: afspraak huisbezoek donderdag met het wijkteam."},
        a.DeclineIn: {"reason": "Mijn caseload is deze week vol."},
        a.FirstContactIn: {
            "channel": "huisbezoek",
            "note": "Moeder en kinderen thuis gesproken; vervolgafspraak gemaakt.",
        },
        m.ReassignIn: {"to": _COLLEAGUE, "reason": "Expertise complexe scheiding nodig."},
        m.GebiedIn: {
            "gebied": gebieden[0] if gebieden else "regio",
            "reason": "Het gezin is verhuisd naar dit gebied.",
        },
        m.CloseIn: {
            "outcome": "dubbel",
            "reason": "Zelfde voorval als de melding van de politie van 14:02.",
        },
        RosterChangeIn: {
            "kind": "absent",
            "specialist": _SPECIALIST,
            "start": shift[0],
            "end": shift[1],
            "reason": "Afwezig wegens training.",
        },
        InzageIn: {
            "achternaam": "Jansen",
            "voornaam": "Sanne",
            "geboortedatum": "1991-04-03",
            "reason": "Inzageverzoek IZ-2026-0042 van betrokkene",
        },
        CorrectionIn: {
            "achternaam": "Jansen-de Vries",
            "reason": "Correctieverzoek CV-2026-0007 van betrokkene",
        },
        ReplayIn: {"ids": [_DEAD_LETTER]},
        MilestoneDoneIn: {"note": "Plan van aanpak met het gezin besproken en vastgelegd."},
        HandoverIn: {"to": _COLLEAGUE, "reason": "Ik ben drie weken met verlof."},
        HandoverEndIn: {"reason": "Mijn caseload is deze maand vol; vraag een collega."},
    }
