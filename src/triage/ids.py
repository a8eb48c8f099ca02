"""Time-ordered UUIDs (version 7, RFC 9562).

Python 3.11 has no uuid7. Random UUIDv4 keys scatter inserts over the whole primary-key
index; at a million meldingen that costs cache misses on every insert. Version 7 keeps
new keys at the right edge of the B-tree. The random bits come from the ordinary PRNG,
not the OS: these ids are not secrets (every read checks access), and a system call per
id is a cost on every request.
"""

from __future__ import annotations

import random
import re
import time
import uuid


def uuid7() -> uuid.UUID:
    ms = time.time_ns() // 1_000_000
    rand = random.getrandbits(80)
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # 12 random bits of rand_a
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF
    return uuid.UUID(int=value)


_CANONICAL = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def parse_id(text: str) -> uuid.UUID | None:
    """An id as this service writes it (8-4-4-4-12 hexadecimal digits, either case), or
    None. ``uuid.UUID`` also takes braces, "urn:uuid:", no dashes, a leading "+" and
    digits of other scripts: one id under many spellings, in links and in the audit."""
    return uuid.UUID(text) if _CANONICAL.fullmatch(text) else None
