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

from collections.abc import Mapping
from typing import Any

from pydantic_core import ErrorDetails

from triage.problems import Invalid, Problem


def _ctx(error: ErrorDetails) -> Mapping[str, Any]:
    return error.get("ctx") or {}


#: pydantic's error types as a person reads them, where the type says it all.
_FIXED: dict[str, str] = {
    "missing": "vul dit in",
    "string_type": "moet tekst zijn",
    "string_pattern_mismatch": "heeft niet de goede vorm",
    **dict.fromkeys(("int_type", "int_parsing", "int_from_float"), "moet een heel getal zijn"),
    **dict.fromkeys(("date_type", "date_parsing", "date_from_datetime_parsing"),
                    "moet een datum zijn (jjjj-mm-dd)"),
    **dict.fromkeys(("datetime_type", "datetime_parsing", "datetime_from_date_parsing"),
                    "moet een datum met tijd zijn"),
    "timezone_aware": "geef de tijd met de tijdzone",
    **dict.fromkeys(("bool_type", "bool_parsing"), "moet ja of nee zijn"),
    **dict.fromkeys(("uuid_type", "uuid_parsing"), "moet een geldige id zijn"),
    "list_type": "moet een lijst zijn",
    "extra_forbidden": "bevat een veld dat hier niet bestaat",
}  # fmt: skip

#: Those that name a constraint of the model (a length, a bound, the values allowed),
#: filled in from the error's context; never from what was typed.
_BOUND: dict[str, str] = {
    "string_too_short": "te kort: minstens {min_length} tekens",
    "string_too_long": "te lang: hoogstens {max_length} tekens",
    "greater_than_equal": "moet minstens {ge} zijn",
    "greater_than": "moet groter zijn dan {gt}",
    "less_than_equal": "mag hoogstens {le} zijn",
    "less_than": "moet kleiner zijn dan {lt}",
    "literal_error": "kies uit {expected}",
    "enum": "kies uit {expected}",
    "too_short": "geef er minstens {min_length} op",
    "too_long": "geef er hoogstens {max_length} op",
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


class _Given(dict[str, Any]):
    """A constraint pydantic did not name is left blank rather than failing the refusal."""

    def __missing__(self, key: str) -> str:
        return ""


def field_text(error: ErrorDetails) -> str:
    """A field error in Dutch: this service's own check's text, else by pydantic's type."""
    ctx = _ctx(error)
    found = ctx.get("error")
    if isinstance(found, Invalid):
        return found.tekst
    kind = error["type"]
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return _FIXED["missing"]  # an empty field, as the form shows it
    if kind in ("enum", "literal_error") and error.get("input") == "":
        # A list of the form left at its first line: the form shows the choices in words,
        # the codes would only confuse.
        return "kies er een uit de lijst"
    if kind in _BOUND:
        expected = str(ctx.get("expected", "")).replace(" or ", " of ")
        return _BOUND[kind].format_map(_Given({**ctx, "expected": expected}))
    return _FIXED.get(kind, "is niet goed ingevuld")


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
    "at": "tijdstip", "channel": "manier", "username": "gebruikersnaam", "name": "naam",
    "decision": "besluit", "bsn": "BSN",
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
