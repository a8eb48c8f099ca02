"""What every request body model shares: unknown fields refused, whitespace around text
dropped, and strict types.

Strict as pydantic reads JSON: dates, times, ids and codes still come as strings, but
what JSON types itself must have the field's type. ``true`` is not the number 1 and
``12.5`` is not a whole number; lax, pydantic read ``"huisnummer": true`` as house
number 1. The JSON underneath (each key once, text that can be stored) is checked for
every body before its model reads it (``api/strict_json.py``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

#: The largest number a bigint column holds: the ids of roster changes and webhooks.
ID_MAX = 2**63 - 1


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)
