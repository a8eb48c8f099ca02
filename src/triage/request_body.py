"""What every request body model shares: unknown fields refused, whitespace around text
dropped, and strict types.

Strict as pydantic reads JSON: dates, times, ids and codes still come as strings, but
what JSON types itself must have the field's type. ``true`` is not the number 1 and
``12.5`` is not a whole number; lax, pydantic read ``"huisnummer": true`` as house
number 1. The JSON underneath (each key once, text that can be stored) is checked for
every body before its model reads it (``api/strict_json.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict

from triage.problems import Invalid

#: Marks a string in the document whose values are the region's or the rules' codes
#: (``signals``, ``gebieden``): the document built for a configuration lists them.
VOCABULARY = "x-triage-vocabulary"
#: The largest number a bigint column holds: the ids of roster changes and webhooks.
ID_MAX = 2**63 - 1


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


#: What pydantic strips from every request string (its ``str_strip_whitespace``, Rust's
#: ``trim``): Unicode's White_Space characters. Not Python's ``str.strip()``, which also
#: takes U+001C to U+001F. Written out, as the document's patterns must say exactly what
#: the service does, and regex engines disagree on ``\s``.
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: Text the database cannot store, refused in every body (api/strict_json.py): NUL, as
#: the regex escape. An unpaired surrogate is refused too, but a pattern cannot name it:
#: JSON Schema's regex engines work on Unicode scalar values, which exclude surrogates.
_UNSTORABLE = "\\x00"


def text_pattern(min_length: int, max_length: int | None) -> str:
    """The pattern of a request string that has no shape of its own: no NUL, and from
    ``min_length`` to ``max_length`` characters once surrounding whitespace is stripped,
    as the service counts them (its maxLength would count the whitespace too)."""
    ws, bad = f"[{WHITESPACE}]*", _UNSTORABLE
    edge = f"[^{WHITESPACE}{bad}]"
    inner = "" if max_length is None else str(max(max_length - 2, 0))
    if max_length == 1:
        core = edge
    elif min_length <= 1:
        core = f"{edge}(?:[^{bad}]{{0,{inner}}}{edge})?"
    else:
        core = f"{edge}[^{bad}]{{{min_length - 2},{inner}}}{edge}"
    return f"^{ws}(?:{core}){'?' if min_length == 0 else ''}{ws}$"


def shaped(inner: str) -> str:
    """The pattern of a request string with a shape (``inner``, a regex without anchors
    that matches the stripped value, no longer than the field's maximum), around which
    whitespace is stripped."""
    return f"{SHAPED}(?:{inner})[{WHITESPACE}]*$"


#: How the pattern of a shaped string begins (the document drops its maxLength).
SHAPED = f"^[{WHITESPACE}]*"


def whole(value: object) -> object:
    """JSON does not tell 12 from 12.0, nor does the document's ``integer``: a number
    without a fraction is that whole number. A boolean is not a number (strict int)."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


#: A whole number in a request body: 12 or 12.0, never true or 12.5.
WholeNumber = Annotated[int, BeforeValidator(whole)]


def _storable(value: datetime) -> datetime:
    """A moment the database can hold: in UTC from 1900 on. An offset can move 0001-01-01
    out of the years a timestamp holds, and the write failed (a 500)."""
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = 0
    if year < 1900:
        raise Invalid("lies before 1900; check the year", "ligt voor 1900; kijk het jaar na")
    return value


#: A moment in a request body (RFC 3339 with offset) that the database can store.
Moment = Annotated[AwareDatetime, AfterValidator(_storable)]
