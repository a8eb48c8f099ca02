"""structlog configuration: JSON lines in production, readable lines in development.

Personal data must never reach a log line (DOMAIN "Privacy and law"). Code logs ids and
codes only; as a second line of defence the ``redact`` processor drops fields named like
personal data and masks anything shaped like a BSN or a postcode, and exceptions are
logged as their type and frames, never their message (a driver's message can quote a
value). Library loggers (aiohttp, asyncpg) go through the same chain.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

_PERSONAL_KEYS = frozenset(
    {
        "bsn", "voornaam", "tussenvoegsel", "achternaam", "naam", "name", "geboortedatum",
        "summary", "address", "adres", "postcode", "huisnummer", "toevoeging", "straat",
        "woonplaats", "persons", "body", "text", "token", "authorization",
    }
)  # fmt: skip
_BSN_LIKE = re.compile(r"(?<![0-9A-Za-z])\d{8,9}(?![0-9A-Za-z])")
# Keys whose values we generate ourselves (ids, codes, timings): never personal data, and
# scrubbing them would make hex ids unreadable.
_SAFE_KEYS = frozenset({"timestamp", "level", "logger", "request_id", "route", "method", "actor"})
_POSTCODE_LIKE = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{3}\s?[A-Za-z]{2}(?![A-Za-z])")
REDACTED = "[redacted]"


def _scrub(value: str) -> str:
    return _POSTCODE_LIKE.sub(REDACTED, _BSN_LIKE.sub(REDACTED, value))


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.lower() in _PERSONAL_KEYS:
            event[key] = REDACTED
        elif isinstance(event[key], str) and key not in _SAFE_KEYS and not key.endswith("_id"):
            event[key] = _scrub(event[key])
    return event


def exception_without_message(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    exc_info = event.pop("exc_info", None)
    if exc_info:
        if exc_info is True:
            exc_info = sys.exc_info()
        elif isinstance(exc_info, BaseException):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        exc_type, _exc, tb = exc_info
        if exc_type is not None:
            event["error"] = exc_type.__name__
            event["frames"] = [
                f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}"
                for f in traceback.extract_tb(tb)[-8:]
            ]
    return event


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


class _Output:
    """Where log lines go; swappable so that loggers can be cached (they are on the path of
    every request) and still follow a later ``configure``."""

    def __init__(self) -> None:
        self.target: Any = sys.stdout

    def write(self, text: str) -> None:
        self.target.write(text)

    def flush(self) -> None:
        self.target.flush()


_OUTPUT = _Output()
_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


class _Settings:
    """What ``configure`` may change later. Loggers are cached on first use (they are on the
    path of every request), so the cached processors read these instead of being replaced."""

    threshold = _LEVELS["info"]
    renderer: Any = None


def filter_level(
    _logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    if _LEVELS.get(method, 40) < _Settings.threshold:
        raise structlog.DropEvent
    return event


def render(logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
    return _Settings.renderer(logger, method, event)


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    exception_without_message,
    redact,
]

# One list for every ``configure``: a logger cached before a reconfiguration keeps the list
# it was made with, so a new list would leave it writing with the old one (and structlog's
# ``capture_logs``, which edits the configured list in place, would miss it).
_PROCESSORS: list[Any] = [filter_level, *_SHARED, render]


def configure(fmt: str = "json", level: str = "info", stream: Any = None) -> None:
    _Settings.threshold = _LEVELS[level.lower()]
    _Settings.renderer = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    _OUTPUT.target = stream or sys.stdout
    # Our own log calls take structlog's direct path (no stdlib logging machinery); library
    # loggers go through the same processors via the stdlib handler below.
    structlog.configure(
        processors=_PROCESSORS,
        logger_factory=structlog.WriteLoggerFactory(file=_OUTPUT),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *_SHARED],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, render],
    )
    handler = logging.StreamHandler(_OUTPUT)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # pgserver narrates every start at info level, with paths and process details.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
