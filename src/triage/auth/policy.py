"""Who may call an operation: declared beside it in the operation table
(``api/operations.py``) and enforced in one place, the API's pipeline, once the caller is
known and before the body is read. A caller outside the policy gets 403 whatever it
sent, and the refusal is audited.

What of the data a permitted caller then reaches (their gebied, the meldingen they sent,
the offers made to them) is the operation's scope: applied where the data is read, in the
SQL's ``WHERE`` (``principal.py``), and stated here in words for the reader and the
OpenAPI document.
"""

from __future__ import annotations

from dataclasses import dataclass

from triage.auth.principal import Principal
from triage.vocabulary import UserRole

#: The caller that is a source system (an API client) rather than a person.
CLIENT = "client"
#: Every kind of caller: API clients and each user role.
CALLERS: tuple[str, ...] = (CLIENT, *(role.value for role in UserRole))
#: The callers as the API's refusals name them (a role by its code).
WHO = {c: "API clients" if c == CLIENT else c for c in CALLERS}
#: The callers as the console names them to a person.
WIE = {CLIENT: "bronsystemen", "operator": "het meldpunt", "cit": "het CIT",
       "specialist": "specialisten", "coordinator": "coördinatoren", "ops": "technisch beheer",
       "admin": "beheerders"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Policy:
    callers: frozenset[str]
    scope: str  # what of the data a permitted caller reaches, in words

    def __post_init__(self) -> None:
        unknown = self.callers - set(CALLERS)
        if unknown or not self.callers:
            raise ValueError(f"a policy names callers from {CALLERS}, not {sorted(unknown)}")

    def permits(self, principal: Principal) -> bool:
        return caller_of(principal) in self.callers

    def who(self) -> str:
        """The callers in words, in a fixed order."""
        return _listed([c for c in CALLERS if c in self.callers], WHO, "and")

    def wie(self) -> str:
        """The callers in Dutch words, for a refusal on a page."""
        return _listed([c for c in CALLERS if c in self.callers], WIE, "en")

    def describe(self) -> str:
        return f"{self.who()}. {self.scope}"


def _listed(callers: list[str], names: dict[str, str], last: str) -> str:
    """``callers`` named by ``names``, in words: "a, b and c"."""
    words = [names[c] for c in callers]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" {last} " + words[-1]


def caller_of(principal: Principal) -> str:
    return CLIENT if principal.kind == "client" else principal.role


def allow(*callers: str | UserRole, scope: str) -> Policy:
    return Policy(frozenset(str(getattr(c, "value", c)) for c in callers), scope)


_U = UserRole
#: Every person (any user role), not source systems.
PEOPLE = allow(*_U, scope="Their own.")
#: Anyone authenticated: reference data without personal data.
ANYONE = allow(*CALLERS, scope="Reference data, no personal data.")
#: Correcting the machine's judgement and steering dispatch.
EDITORS = allow(_U.operator, _U.cit, _U.coordinator,
                scope="Operator and cit: the region; coordinator: their gebied.")  # fmt: skip
#: Answering offers.
ANSWERERS = allow(_U.specialist, _U.coordinator, scope="The offers made to them.")
#: The desk and the networks' staff: queues, rosters, escalations.
STAFF = allow(
    _U.operator, _U.cit, _U.coordinator, _U.specialist,
    scope="Operator and cit: the region; coordinator and specialist: their gebied.",
)  # fmt: skip
#: Running the service.
OPS = allow(_U.ops, _U.admin, scope="Counts and delivery records, no personal data.")
#: A case's work: its lead, and a coordinator of its gebied.
CASE_WORK = allow(_U.specialist, _U.coordinator,
                  scope="The case's lead; a coordinator of its gebied.")  # fmt: skip
