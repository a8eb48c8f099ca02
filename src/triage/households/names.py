"""Normal forms of Dutch names and birth dates, for matching people across sources.

Sources write one person many ways: ``"Berg, van der"``, ``"van der Berg"``, achternaam
``Berg`` with tussenvoegsel ``van der``; ``"Sanne"`` or ``"S."``; accents or none; day and
month swapped in a birth date. Matching compares these normal forms only.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

# Tussenvoegsels, longest first so that "van der" wins over "van".
_PREFIX_LIST = sorted(
    [
        "van", "van de", "van der", "van den", "van het", "van 't", "de", "den", "der", "het",
        "'t", "t", "ter", "ten", "te", "in 't", "in het", "in de", "op de", "op den", "op 't",
        "uit de", "uit den", "uit het", "aan de", "aan den", "bij de", "onder de", "la", "le",
        "du", "di", "da", "el", "al", "von", "zu", "vande", "vander", "vanden",
    ],
    key=lambda p: -len(p),
)  # fmt: skip
_PREFIX = re.compile("^(?:" + "|".join(re.escape(p) for p in _PREFIX_LIST) + ") ")
_NOT_LETTER = re.compile(r"[^a-z' ]+")
_SPACES = re.compile(r"\s+")


def fold(text: str | None) -> str:
    """Lower case, no accents, letters and single spaces only (hyphens become spaces)."""
    if not text:
        return ""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _SPACES.sub(" ", _NOT_LETTER.sub(" ", ascii_text.casefold())).strip()


def surname_core(achternaam: str | None, tussenvoegsel: str | None = None) -> str:
    """The surname without its tussenvoegsel, in folded form.

    ``"Berg, van der"``, ``"van der Berg"`` and (``"Berg"``, ``"van der"``) all give
    ``"berg"``; a double name keeps both parts (``"jansen de vries"`` stays whole after its
    leading prefix is removed).
    """
    raw = achternaam or ""
    if "," in raw:  # "Berg, van der": the part after the comma is the tussenvoegsel
        raw = raw.split(",", 1)[0]
    del tussenvoegsel  # a separate tussenvoegsel is not part of the core
    return _PREFIX.sub("", fold(raw), count=1).replace("'", "")


def first_name(voornaam: str | None) -> str:
    """Folded first given name (``"Anna-Maria Sofie"`` -> ``"anna"``)."""
    parts = fold(voornaam).replace("'", "").split()
    return parts[0] if parts else ""


def is_initial(name: str) -> bool:
    return len(name) == 1


# Spellings that sound alike in Dutch, applied left to right in one pass (longer
# spellings first where they overlap): one compiled pattern, not a chain of passes.
_SOUND_MAP = {
    "sch": "s", "ch": "g", "ph": "f", "ij": "i", "ei": "i", "y": "i", "au": "a", "ou": "a",
    "ck": "k", "c": "k", "q": "k", "dt": "t", "v": "f", "z": "s", "x": "ks", "ae": "a",
    "aa": "a", "ee": "e", "ie": "e", "oo": "o", "oe": "o", "uu": "u", "w": "f", "h": "",
}  # fmt: skip
_SOUND = re.compile("|".join(sorted(map(re.escape, _SOUND_MAP), key=len, reverse=True)))
_FINAL_D = re.compile(r"d\b")
_DOUBLE = re.compile(r"(.)\1+")


def sound(name: str) -> str:
    """A Dutch-minded sound key: spelling variants that sound alike share it
    (``Jansen``/``Janssen``, ``Bakker``/``Backer``, ``Huijgen``/``Huygen``)."""
    key = _FINAL_D.sub("t", name.replace(" ", ""))
    key = _SOUND.sub(lambda m: _SOUND_MAP[m.group()], key)
    return _DOUBLE.sub(r"\1", key)


def swapped(born: date) -> date | None:
    """The birth date with day and month exchanged, if that is a different valid date."""
    if born.day > 12 or born.day == born.month:
        return None
    return date(born.year, born.day, born.month)
