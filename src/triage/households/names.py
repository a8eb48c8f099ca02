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
_PREFIXES = sorted(
    [
        "van", "van de", "van der", "van den", "van het", "van 't", "de", "den", "der", "het",
        "'t", "t", "ter", "ten", "te", "in 't", "in het", "in de", "op de", "op den", "op 't",
        "uit de", "uit den", "uit het", "aan de", "aan den", "bij de", "onder de", "la", "le",
        "du", "di", "da", "el", "al", "von", "zu", "vande", "vander", "vanden",
    ],
    key=lambda p: -len(p),
)  # fmt: skip
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
    name = fold(raw)
    for prefix in _PREFIXES:
        if name.startswith(prefix + " "):
            name = name[len(prefix) + 1 :]
            break
    del tussenvoegsel  # a separate tussenvoegsel is not part of the core
    return name.replace("'", "")


def first_name(voornaam: str | None) -> str:
    """Folded first given name (``"Anna-Maria Sofie"`` -> ``"anna"``)."""
    parts = fold(voornaam).replace("'", "").split()
    return parts[0] if parts else ""


def is_initial(name: str) -> bool:
    return len(name) == 1


_SOUND_RULES = [
    (re.compile(r"sch"), "s"), (re.compile(r"ch"), "g"), (re.compile(r"ph"), "f"),
    (re.compile(r"(ij|ei|y)"), "i"), (re.compile(r"(au|ou)"), "a"), (re.compile(r"(ck|c|q)"), "k"),
    (re.compile(r"dt\b|d\b"), "t"), (re.compile(r"v"), "f"), (re.compile(r"z"), "s"),
    (re.compile(r"x"), "ks"), (re.compile(r"(ae|aa)"), "a"), (re.compile(r"(ee|ie)"), "e"),
    (re.compile(r"(oo|oe)"), "o"), (re.compile(r"uu"), "u"), (re.compile(r"w"), "f"),
    (re.compile(r"h"), ""),
]  # fmt: skip
_DOUBLE = re.compile(r"(.)\1+")


def sound(name: str) -> str:
    """A Dutch-minded sound key: spelling variants that sound alike share it
    (``Jansen``/``Janssen``, ``Bakker``/``Backer``, ``Huijgen``/``Huygen``)."""
    key = name.replace(" ", "")
    for pattern, replacement in _SOUND_RULES:
        key = pattern.sub(replacement, key)
    return _DOUBLE.sub(r"\1", key)


def swapped(born: date) -> date | None:
    """The birth date with day and month exchanged, if that is a different valid date."""
    if born.day > 12 or born.day == born.month:
        return None
    return date(born.year, born.day, born.month)
