"""Normal forms for the parts of a melding that identify a household.

Sources write the same address many ways (``5038ab``, ``5038 AB``; ``12-a``, ``12 A``,
``12a``). Matching compares normal forms only, so these functions are the single place
where a spelling becomes a key.
"""

from __future__ import annotations

import re

# ASCII digits only: "\d" alone also takes "٥٠٣٨", which int() reads as 5038.
_POSTCODE = re.compile(r"^\s*([1-9]\d{3})\s*([A-Za-z]{2})\s*$", re.ASCII)
_TOEVOEGING_JUNK = re.compile(r"[\s\-/.,]+")
# Postcode letter pairs PostNL never issues (SA, SD, SS: historical reasons).
_UNUSED_LETTERS = frozenset({"SA", "SD", "SS"})


def normalise_postcode(raw: str) -> str | None:
    """``"5038 ab"`` -> ``"5038AB"``; None when it is not a Dutch postcode."""
    match = _POSTCODE.match(raw)
    if match is None:
        return None
    letters = match.group(2).upper()
    if letters in _UNUSED_LETTERS:
        return None
    return match.group(1) + letters


def normalise_toevoeging(raw: str | None) -> str:
    """``"-a"``, ``" A "``, ``"a."`` -> ``"A"``; absent -> ``""``."""
    if raw is None:
        return ""
    return _TOEVOEGING_JUNK.sub("", raw).upper()


_HUISNUMMER = re.compile(r"^\s*(\d{1,5}) ?[-/ ]? ?([A-Za-z0-9\- ]{0,8})\s*$", re.ASCII)


def split_huisnummer(raw: str) -> tuple[int, str] | None:
    """``"12-a"`` -> ``(12, "A")``; None when no house number leads the text."""
    match = _HUISNUMMER.match(raw)
    if match is None or int(match.group(1)) == 0:
        return None
    return int(match.group(1)), normalise_toevoeging(match.group(2))


def address_key(postcode: str, huisnummer: int, toevoeging: str) -> str:
    """One key per dwelling: normalised postcode, number and addition (``5038AB|12|A``)."""
    return f"{postcode}|{huisnummer}|{toevoeging}"


def bsn_is_valid(bsn: str) -> bool:
    """The elfproef (11-check) for a BSN of 9 digits (8 digits get a leading zero)."""
    if not (bsn.isascii() and bsn.isdigit()) or len(bsn) not in (8, 9):  # not "١٢٣..."
        return False
    digits = [int(d) for d in bsn.zfill(9)]
    total = sum(d * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - digits[8]
    return total % 11 == 0 and any(digits)
