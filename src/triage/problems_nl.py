"""Refusals in Dutch, for the people who work in the console.

The API answers in English (RFC 9457 problem details, read by the sources' developers);
the console's users are operators, CIT staff, specialists and coordinators, who read
Dutch. A refusal carries both: ``Problem.tekst`` and ``FieldError.tekst`` are what the
console shows, ``detail`` what the API returns. Where a refusal has no Dutch text of its
own, the console says in Dutch what kind of refusal it is (``by_status``).

Field errors get their Dutch text from pydantic's error type and its constraints (never
from the input: no personal data is repeated), or, for this service's own checks, from
the ``Invalid`` they raise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic_core import ErrorDetails

from triage.problems import Invalid, Problem


def _ctx(error: ErrorDetails) -> Mapping[str, Any]:
    return error.get("ctx") or {}


def _expected(error: ErrorDetails) -> str:
    return str(_ctx(error).get("expected", "")).replace(" or ", " of ")


#: pydantic's error types as a person reads them. Constraints come from the model (a
#: length, a bound, the values allowed), never from what was typed.
_BY_TYPE: dict[str, Callable[[ErrorDetails], str]] = {
    "missing": lambda e: "vul dit in",
    "string_too_short": lambda e: (
        "vul dit in"
        if _ctx(e).get("min_length") == 1
        else f"te kort: minstens {_ctx(e).get('min_length')} tekens"
    ),
    "string_too_long": lambda e: f"te lang: hoogstens {_ctx(e).get('max_length')} tekens",
    "string_type": lambda e: "moet tekst zijn",
    "string_pattern_mismatch": lambda e: "heeft niet de goede vorm",
    "int_type": lambda e: "moet een heel getal zijn",
    "int_parsing": lambda e: "moet een heel getal zijn",
    "int_from_float": lambda e: "moet een heel getal zijn",
    "greater_than_equal": lambda e: f"moet minstens {_ctx(e).get('ge')} zijn",
    "greater_than": lambda e: f"moet groter zijn dan {_ctx(e).get('gt')}",
    "less_than_equal": lambda e: f"mag hoogstens {_ctx(e).get('le')} zijn",
    "less_than": lambda e: f"moet kleiner zijn dan {_ctx(e).get('lt')}",
    "date_type": lambda e: "moet een datum zijn (jjjj-mm-dd)",
    "date_parsing": lambda e: "moet een datum zijn (jjjj-mm-dd)",
    "date_from_datetime_parsing": lambda e: "moet een datum zijn (jjjj-mm-dd)",
    "datetime_type": lambda e: "moet een datum met tijd zijn",
    "datetime_parsing": lambda e: "moet een datum met tijd zijn",
    "datetime_from_date_parsing": lambda e: "moet een datum met tijd zijn",
    "timezone_aware": lambda e: "geef de tijd met de tijdzone",
    "literal_error": lambda e: f"kies uit {_expected(e)}",
    "enum": lambda e: f"kies uit {_expected(e)}",
    "bool_type": lambda e: "moet ja of nee zijn",
    "bool_parsing": lambda e: "moet ja of nee zijn",
    "uuid_type": lambda e: "moet een geldige id zijn",
    "uuid_parsing": lambda e: "moet een geldige id zijn",
    "too_short": lambda e: f"geef er minstens {_ctx(e).get('min_length')}",
    "too_long": lambda e: f"hoogstens {_ctx(e).get('max_length')}",
    "list_type": lambda e: "moet een lijst zijn",
    "extra_forbidden": lambda e: "bevat een veld dat hier niet bestaat",
}

#: What a refusal without a Dutch text of its own is, by its status.
_STATUS: dict[int, tuple[str, str]] = {
    400: ("Verzoek niet te lezen", "Het verzoek kon niet gelezen worden; er is niets gewijzigd."),
    403: ("Geen toegang", "Dit mag je niet doen of inzien met je rol; er is niets gewijzigd."),
    404: ("Niet gevonden", "Dit bestaat niet, of je mag het niet zien."),
    409: (
        "Kan nu niet",
        "Dit kan niet in de toestand waarin het nu is; er is niets gewijzigd. "
        "Herlaad de pagina en kijk opnieuw.",
    ),
    413: ("Te groot", "Wat je stuurde is te groot; er is niets opgeslagen."),
    422: (
        "Niet goed ingevuld",
        "Een of meer velden zijn niet goed ingevuld; er is niets opgeslagen of gewijzigd.",
    ),
    429: (
        "Te veel verzoeken",
        "Te veel verzoeken kort na elkaar; wacht even en probeer het opnieuw.",
    ),
    503: (
        "Even niet beschikbaar",
        "Het systeem kan dit nu even niet; er is niets opgeslagen of gewijzigd.",
    ),
}


def field_text(error: ErrorDetails) -> str:
    """A field error in Dutch: this service's own check's text, else by pydantic's type."""
    found = _ctx(error).get("error")
    if isinstance(found, Invalid):
        return found.tekst
    made = _BY_TYPE.get(error["type"])
    return made(error) if made is not None else "is niet goed ingevuld"


def by_status(status: int) -> tuple[str, str]:
    """A refusal's title and text in Dutch, for one that has no text of its own."""
    return _STATUS.get(status, ("Niet gelukt", "Dit is niet gelukt; er is niets gewijzigd."))


#: The API's English field names as the console's labels (Dutch ones stay as they are).
_LABELS = {
    "reason": "reden", "to": "aan", "level": "urgentie", "outcome": "uitkomst",
    "note": "notitie", "text": "tekst", "received_at": "ontvangen", "summary": "samenvatting",
    "external_id": "kenmerk", "signals": "signalen", "category": "categorie", "kind": "soort",
    "source": "bron", "role": "rol", "address": "adres", "persons": "personen",
    "start": "begin", "end": "einde", "replaced_by": "vervangen door", "purpose": "doel",
    "into": "samenvoegen met", "case_id": "casus", "melding_id": "melding",
}  # fmt: skip


def field_label(pointer: str) -> str:
    """A field as the console names it: ``/persons/0/bsn`` (or the form's ``p0_bsn``) is
    "persoon 1, bsn"; the whole request ("") is "formulier"."""
    parts = [p for p in pointer.strip("/").split("/") if p]
    if len(parts) == 1 and parts[0][:1] == "p" and "_" in parts[0]:
        row, _, name = parts[0][1:].partition("_")
        if row.isdigit():
            parts = ["persons", row, name]
    if len(parts) >= 2 and parts[0] == "persons" and parts[1].isdigit():
        return ", ".join([f"persoon {int(parts[1]) + 1}", *(_LABELS.get(p, p) for p in parts[2:])])
    return ", ".join(_LABELS.get(p, p) for p in parts) or "formulier"


def said(problem: Problem) -> str:
    """A refusal as the console says it: in Dutch, each field named."""
    fields = "; ".join(f"{field_label(e.pointer)}: {e.tekst or e.detail}" for e in problem.errors)
    return fields or problem.tekst or by_status(problem.status)[1]
