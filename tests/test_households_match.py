"""Household recognition: the cases that must link and the ones that must stay apart."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from triage.households.keys import lookup_keys, stored_keys
from triage.households.match import Address, Candidate, Person, decide
from triage.households.names import first_name, sound, surname_core, swapped

SANNE = {"voornaam": "Sanne", "tussenvoegsel": "van der", "achternaam": "Berg",
         "geboortedatum": date(1991, 4, 3), "bsn": "111222333"}  # fmt: skip


def person(**overrides: object) -> Person:
    fields = {**SANNE, **overrides}
    return Person.of(**fields)  # type: ignore[arg-type]


def address(postcode: str | None = "5038AB", number: int | None = 12, add: str = "",
            place: str = "tilburg") -> Address:  # fmt: skip
    return Address(postcode, number, add, place)


def case(persons: list[Person], addresses: list[Address], open_: bool = True) -> Candidate:
    return Candidate(uuid.uuid4(), uuid.uuid4(), open_, addresses, persons)


@pytest.mark.parametrize(
    ("raw", "core"),
    [("Berg, van der", "berg"), ("van der Berg", "berg"), ("Berg", "berg"),
     ("VAN DEN BERG", "berg"), ("in 't Veld", "veld"), ("Müller", "muller"),
     ("de Vries-Jansen", "vries jansen")],
)  # fmt: skip
def test_surname_core(raw: str, core: str) -> None:
    assert surname_core(raw) == core


def test_names_that_sound_alike_share_a_sound() -> None:
    assert sound("jansen") == sound("janssen")
    assert sound("huijgen") == sound("huygen")
    assert sound("bakker") == sound("backer")
    assert sound("jansen") != sound("jonker")
    assert first_name("Anna-Maria Sofie") == "anna"
    assert swapped(date(1991, 4, 3)) == date(1991, 3, 4)
    assert swapped(date(1991, 4, 23)) is None


def test_apartments_12a_and_12b_stay_apart() -> None:
    family_a = case([person()], [address(add="A")])
    other = person(voornaam="Ahmed", achternaam="Yilmaz", tussenvoegsel=None,
                   geboortedatum=date(1980, 1, 1), bsn=None)  # fmt: skip
    assert decide([other], address(add="B"), [family_a]).decision == "new_case"
    # Even relatives with the same surname in the other flat are another household.
    cousin = person(voornaam="Mark", geboortedatum=date(1985, 6, 6), bsn=None)
    assert decide([cousin], address(add="B"), [family_a]).decision == "new_case"


def test_neighbours_with_one_surname_stay_apart() -> None:
    at_12 = case([person()], [address()])
    neighbour = person(voornaam="Kees", geboortedatum=date(1960, 2, 2), bsn=None)
    assert decide([neighbour], address(number=14), [at_12]).decision == "new_case"


def test_a_matching_bsn_at_a_new_address_links() -> None:
    before_move = case([person()], [address()])
    moved = person(voornaam="S.", geboortedatum=None)  # initial only, no birth date
    outcome = decide([moved], address(postcode="5041KL", number=3), [before_move])
    assert outcome.decision == "linked"
    assert outcome.best_open is not None
    assert "persoon: BSN gelijk" in outcome.best_open.reasons


@pytest.mark.parametrize(
    "variant",
    [
        {"bsn": None},  # missing BSN
        {"bsn": None, "achternaam": "Berg, van der", "tussenvoegsel": None},  # format
        {"bsn": None, "achternaam": "Bergh"},  # typo
        {"bsn": None, "voornaam": "Berg", "achternaam": "Sanne", "tussenvoegsel": None},  # swapped
        {"bsn": None, "geboortedatum": date(1991, 3, 4)},  # day and month swapped
        {"bsn": None, "voornaam": "SANNE", "achternaam": "VAN DER BERG", "tussenvoegsel": None},
    ],
)
def test_variants_of_one_person_link_without_an_address(variant: dict[str, object]) -> None:
    known = case([person()], [address(postcode=None, number=None, place="tilburg")])
    outcome = decide([person(**variant)], address(postcode=None, number=None), [known])
    assert outcome.decision == "linked", outcome


def test_another_member_of_the_household_at_the_same_dwelling_links() -> None:
    household = case([person()], [address()])
    grandmother = person(voornaam="Truus", achternaam="Smit", tussenvoegsel=None,
                         geboortedatum=date(1945, 9, 9), bsn=None)  # fmt: skip
    assert decide([grandmother], address(), [household]).decision == "linked"


def test_a_different_bsn_is_strong_evidence_of_a_different_person() -> None:
    household = case([person()], [address(postcode=None, number=None)])
    namesake = person(bsn="123456782")  # same name and birth date, another BSN
    assert decide([namesake], address(postcode=None, number=None), [household]).decision != (
        "linked"
    )


def test_only_open_cases_are_linked_a_closed_one_is_history() -> None:
    closed = case([person()], [address()], open_=False)
    outcome = decide([person()], address(), [closed])
    assert outcome.decision == "new_case"
    assert outcome.history_from is not None
    assert outcome.history_from.candidate is closed


def test_lookup_keys_find_what_a_mistake_stored() -> None:
    stored_swapped_dob = stored_keys([person(geboortedatum=date(1991, 3, 4))], None, None)
    assert set(stored_swapped_dob) & set(lookup_keys([person()], None, None))
    stored_swapped_names = stored_keys(
        [person(voornaam="Berg", achternaam="Sanne", tussenvoegsel=None)], None, None
    )
    assert set(stored_swapped_names) & set(lookup_keys([person()], None, None))
