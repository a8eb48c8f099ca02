"""Refusals in Dutch for the console (problems_nl): every field error the intake's
validation makes has a Dutch text, names its field as the form does, and repeats nothing
that was typed. Validation alone: no database is involved in what is tested here."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from helpers import TEST_CLOCK, melding_body
from triage.api.handlers import field_errors
from triage.intake.models import IntakeContext, MeldingIn
from triage.problems import FieldError, conflict
from triage.problems_nl import by_status, field_label, said

#: Typed values that must not come back in a message (they could be personal data).
_TYPED = ("Qzxwv", "123456789", "0123 AB", "1880-02-30", "zeventien", "1850-01-01", "ZZZ9")


def _refused(body: dict[str, object]) -> list[FieldError]:
    # The test clock as it stands now (other tests move it, melding_body reads it).
    context = IntakeContext(signals=frozenset({"geweld_nu"}), gebieden=("tilburg",),
                            now=TEST_CLOCK.now())  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        MeldingIn.model_validate_json(orjson.dumps(body), context=context)
    return field_errors(caught.value)


def test_every_field_error_of_a_melding_is_said_in_dutch_without_what_was_typed() -> None:
    body = melding_body(
        kind="Qzxwv", category=None, signals=["ZZZ9", "ZZZ9"], summary="x" * 4001,
        received_at="zeventien", gebied="Qzxwv",
        address={"postcode": "0123 AB", "huisnummer": "Qzxwv", "woonplaats": "x" * 101},
        persons=[
            {"role": "Qzxwv", "bsn": "123456789", "geboortedatum": "1880-02-30"},
            {"role": "slachtoffer", "achternaam": "", "geboortedatum": "1850-01-01",
             "leeftijd": 3},
        ],
    )  # fmt: skip
    errors = _refused(body)
    assert len(errors) >= 10, errors
    for error in errors:
        assert error.tekst, error  # every one has its Dutch, and not the catch-all
        assert "is niet goed ingevuld" not in error.tekst, error
        assert not any(value in error.tekst for value in _TYPED), error
    by_pointer = {e.pointer: e.tekst for e in errors}
    assert by_pointer["/persons/0/bsn"] == "geen geldig BSN: 9 cijfers die de elfproef doorstaan"
    assert by_pointer["/address/postcode"].startswith("geen Nederlandse postcode")
    assert by_pointer["/persons/1/geboortedatum"] == (
        "een geboortedatum voor 1900 is niet aannemelijk"
    )
    assert by_pointer["/summary"] == "te lang: hoogstens 4000 tekens"
    assert by_pointer["/persons/1/achternaam"] == "vul dit in"
    assert by_pointer["/persons/1"] == "bevat een veld dat hier niet bestaat"  # not named


def test_a_refusal_is_said_with_its_own_dutch_else_by_its_kind() -> None:
    assert field_label("/persons/2/voornaam") == "persoon 3, voornaam"
    assert field_label("/p0_bsn") == "persoon 1, BSN"
    assert field_label("/reason") == "reden"
    assert field_label("") == "formulier"
    own = conflict("this case is closed already", "deze casus is al gesloten")
    assert said(own) == "deze casus is al gesloten"
    assert said(conflict("an English detail only")) == by_status(409)[1]
    assert by_status(409)[0] == "Kan nu niet"


def test_a_number_or_text_field_given_text_is_told_about_the_text_only() -> None:
    """huisnummer takes 12 or "12-a": text that is too long is too long, in Dutch; that it
    is no number as well (the union's other member) would only confuse."""
    body = melding_body()
    body["address"]["huisnummer"] = "1" * 25
    (error,) = _refused(body)
    assert error.pointer == "/address/huisnummer"
    assert error.tekst == "te lang: hoogstens 20 tekens"
