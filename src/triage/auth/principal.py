"""The authenticated caller and what of the data it reaches.

Who may call an operation at all is its policy (``policy.py``), enforced before the
handler runs. Need-to-know (a specialist sees their gebied, a client its own meldingen) is
expressed here as a scope that the SQL applies, so a row outside it is never fetched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from triage.vocabulary import Source, UserRole

ActorKind = Literal["client", "user"]

#: Users who take reports by phone at the desk and may enter them for any source.
_INTAKE_ROLES = frozenset({UserRole.operator, UserRole.cit})
#: Users who may read every melding and case in the region.
_REGION_READERS = frozenset({UserRole.operator, UserRole.cit})
#: Users of a gebied's network: they answer offers, lead cases, mark milestones.
_NETWORK_ROLES = frozenset({UserRole.coordinator, UserRole.specialist})
#: Users who run the service: metrics, webhook dead letters.
_OPS_ROLES = frozenset({UserRole.ops, UserRole.admin})
#: Users who correct the machine's judgement (urgency, which case a melding belongs to):
#: desk operators and CIT region-wide, coordinators in their gebied.
_REGION_EDITORS = frozenset({UserRole.operator, UserRole.cit})
_GEBIED_EDITORS = frozenset({UserRole.coordinator})
#: Users who see the process indicators of the whole region (coordinators: their gebied).
_REGION_INDICATORS = frozenset({UserRole.operator, UserRole.cit, UserRole.admin})


@dataclass(frozen=True, slots=True)
class ReadScope:
    """Which meldingen a reader may see; applied in the SQL ``WHERE`` clause."""

    everything: bool = False
    gebied: str | None = None
    client_id: UUID | None = None
    #: A specialist: of personal data, what they are offered, assigned or lead (wherever
    #: it is), and the rest of ``gebied`` only with a stated reason (break the glass).
    #: Lists without personal data (the queue, who is on duty) show them the gebied.
    worker: str | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    kind: ActorKind
    id: UUID
    name: str
    role: str  # a UserRole for users; "client" for API clients
    source: Source | None = None  # clients only
    gebied: str | None = None  # gebied-bound users only

    def may_submit_as(self, source: Source) -> bool:
        if self.kind == "client":
            return self.source == source
        return self.role in _INTAKE_ROLES

    def read_scope(self) -> ReadScope | None:
        """None: this principal may not read personal data at all."""
        if self.kind == "client":
            return ReadScope(client_id=self.id)
        if self.role in _REGION_READERS:
            return ReadScope(everything=True)
        if self.role == UserRole.coordinator and self.gebied is not None:
            return ReadScope(gebied=self.gebied)
        if self.role == UserRole.specialist and self.gebied is not None:
            return ReadScope(gebied=self.gebied, worker=self.name)
        return None

    def change_scope(self) -> ReadScope | None:
        """Which meldingen and cases this principal may correct; None: none at all."""
        if self.kind != "user":
            return None
        if self.role in _REGION_EDITORS:
            return ReadScope(everything=True)
        if self.role in _GEBIED_EDITORS and self.gebied is not None:
            return ReadScope(gebied=self.gebied)
        return None

    def indicator_scope(self) -> ReadScope | None:
        """Whose process indicators (counts only) this principal sees; None: none."""
        if self.kind != "user":
            return None
        if self.role in _REGION_INDICATORS:
            return ReadScope(everything=True)
        if self.role == UserRole.coordinator and self.gebied is not None:
            return ReadScope(gebied=self.gebied)
        return None

    @property
    def is_ops(self) -> bool:
        """Ops or admin: metrics, webhook dead letters."""
        return self.kind == "user" and self.role in _OPS_ROLES

    @property
    def in_network(self) -> bool:
        """A specialist or coordinator: answers offers, leads cases, marks milestones."""
        return self.kind == "user" and self.role in _NETWORK_ROLES


def person(row: Mapping[str, Any]) -> Principal:
    """The principal of a person from their ``users`` row (id, username, role, gebied)."""
    return Principal(kind="user", id=row["id"], name=row["username"], role=row["role"],
                     gebied=row["gebied"])  # fmt: skip
