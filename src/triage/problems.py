"""Errors a caller reads (RFC 9457 problem details), raised anywhere, rendered by the app.

Messages name the field (as a JSON pointer) and the rule that failed, and what to do; they
never repeat the submitted value, which may be personal data.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FieldError:
    pointer: str  # RFC 6901 JSON pointer into the request body, e.g. "/persons/0/bsn"
    detail: str
    #: The same in Dutch, for a person in the console (problems_nl); not in the API's body.
    tekst: str = ""


@dataclass
class Problem(Exception):
    status: int
    title: str
    detail: str
    type: str = "about:blank"
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    #: What a person in the console reads (Dutch); None: the console says what kind of
    #: refusal it is (problems_nl.by_status). Not in the API's body, which is English.
    tekst: str | None = None

    def body(self, instance: str | None = None) -> dict[str, object]:
        doc: dict[str, object] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            doc["instance"] = instance
        if self.errors:
            doc["errors"] = [{"pointer": e.pointer, "detail": e.detail} for e in self.errors]
        return doc


class Invalid(ValueError):
    """A validator's refusal: the English the API returns and the Dutch the console shows
    (pydantic keeps the exception in the error's context, problems_nl reads it there)."""

    def __init__(self, detail: str, tekst: str) -> None:
        super().__init__(detail)
        self.tekst = tekst


_BASE = "https://triage.invalid/problems/"


def invalid(errors: list[FieldError]) -> Problem:
    return Problem(
        422,
        "Invalid request",
        f"{len(errors)} field(s) are not valid; see errors. Nothing was stored or changed.",
        _BASE + "validation",
        errors,
    )


def unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        "Not authenticated",
        detail,
        _BASE + "unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="triage"'},
    )


def forbidden(detail: str, tekst: str | None = None) -> Problem:
    return Problem(403, "Forbidden", detail, _BASE + "forbidden", tekst=tekst)


#: A specialist may read this only by stating why (break the glass): the console asks.
REASON_REQUIRED = _BASE + "reason-required"


def reason_required(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail, REASON_REQUIRED)


def conflict(detail: str, tekst: str | None = None) -> Problem:
    """The request is valid but the state does not allow it; nothing was changed."""
    return Problem(409, "Conflict", detail, _BASE + "conflict", tekst=tekst)


def not_found(detail: str, tekst: str | None = None) -> Problem:
    return Problem(404, "Not found", detail, _BASE + "not-found", tekst=tekst)


def unavailable(dependency: str, retry_after: int) -> Problem:
    return Problem(
        503,
        "Service unavailable",
        f"{dependency} is not reachable; nothing was stored. Retry after {retry_after} s "
        "with the same source and external_id.",
        _BASE + "unavailable",
        headers={"Retry-After": str(retry_after)},
    )


def idempotency_conflict(detail: str) -> Problem:
    """This source and external_id were stored before, by another sender or for another
    melding; the answer names no id."""
    return Problem(
        409,
        "Conflict",
        detail,
        _BASE + "idempotency-conflict",
        tekst="onder dit kenmerk is al een andere melding opgeslagen; deze is niet "
        "opgeslagen. Begin een nieuwe melding (die krijgt een nieuw kenmerk).",
    )


def unstorable() -> Problem:
    return Problem(
        422,
        "Melding not stored",
        "the database refused a value of this melding, which validation did not foresee; "
        "nothing was stored. Sending it again unchanged will fail again: tell the service's "
        "operators, with this request's X-Request-ID",
        _BASE + "unstorable",
        tekst="de database weigerde een waarde van deze melding; er is niets opgeslagen. "
        "Opnieuw versturen helpt niet: meld het aan het beheer van de dienst.",
    )


def too_many(detail: str, retry_after: int) -> Problem:
    return Problem(429, "Too many requests", detail, _BASE + "too-many-requests",
                   headers={"Retry-After": str(retry_after)})  # fmt: skip


def overloaded(retry_after: int) -> Problem:
    """The intake holds more than it can store in time: refused at once, not queued."""
    return Problem(
        503,
        "Service unavailable",
        "the service is taking in more meldingen than it can store in time; this one was "
        f"not stored. Retry after {retry_after} s with the same source and external_id.",
        _BASE + "overloaded",
        headers={"Retry-After": str(retry_after)},
    )
