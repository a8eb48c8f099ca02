"""Normal forms of the identifying parts of a melding."""

from __future__ import annotations

import pytest

from triage.households.normalise import (
    address_key,
    bsn_is_valid,
    normalise_postcode,
    split_huisnummer,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("5038ab", "5038AB"), (" 5038 AB ", "5038AB"), ("5038  ab", "5038AB"),
     ("0123AB", None), ("5038A", None), ("5038SS", None), ("50381B", None)],
)  # fmt: skip
def test_postcode(raw: str, expected: str | None) -> None:
    assert normalise_postcode(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12", (12, "")), ("12-a", (12, "A")), ("12 A", (12, "A")), ("12a", (12, "A")),
     ("12/3", (12, "3")), ("12 bis", (12, "BIS")), ("0", None), ("a12", None)],
)  # fmt: skip
def test_huisnummer(raw: str, expected: tuple[int, str] | None) -> None:
    assert split_huisnummer(raw) == expected


def test_address_key_separates_apartments() -> None:
    assert address_key("5038AB", 12, "A") != address_key("5038AB", 12, "B")
    assert address_key("5038AB", 12, "") != address_key("5038AB", 121, "")


@pytest.mark.parametrize(
    ("bsn", "valid"),
    [("111222333", True), ("123456782", True), ("123456789", False), ("000000000", False),
     ("12345678", False), ("1234567890", False), ("12345678a", False)],
)  # fmt: skip
def test_elfproef(bsn: str, valid: bool) -> None:
    assert bsn_is_valid(bsn) is valid
