"""Named queries from .sql files kept beside the module that runs them.

A file holds blocks that start with ``-- name: <name>``; each block is one statement.
Keeping SQL in files (not strings in code) lets a reader and ``psql`` see the exact query.
"""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def load_queries(package: str, filename: str) -> dict[str, str]:
    text = resources.files(package).joinpath(filename).read_text("utf-8")
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"{package}/{filename}: query {name!r} is defined twice")
        queries[name] = body.strip().rstrip(";")
    if not queries:
        raise ValueError(f"{package}/{filename}: no '-- name:' blocks found")
    return queries
