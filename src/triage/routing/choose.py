"""Whom to offer a melding to: a pure decision, with the reasons an operator reads.

In order (ISSUE "Routing"; DOMAIN "casusregie", "opschalen"):

1. continuity: the case's lead, if on duty in the gebied, under their caseload cap and
   not having declined this melding ("ik laat niet los");
2. the gebied's network: on duty, with an expertise the category needs, under the cap,
   not declined; preferring expertise the signals ask for, then the lowest load;
3. the regional backup network (the 24/7 crisis service) on duty, the same way, and if
   none of them has the expertise, whoever of them is on duty with room;
4. the escalation chain (``NetworkConfig.chain``): the gebied's coordinators, the
   backup's, then the file's last resort, reachable off roster and without a cap; the
   first of them who has not passed on this melding in this round;
5. nobody: ``None``. The caller escalates the melding to the whole chain by name, with a
   deadline (dispatch/offer.py): never a silent wait.

The loads (open assignments per specialist) and the declines come from the caller; the
roster from ``roster.on_duty``. Nothing here reads a clock or a database.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from triage.region import REGIONAL_POOL
from triage.routing.network import NetworkConfig, Specialist
from triage.routing.roster import Duty
from triage.vocabulary import Category

Tier = Literal["continuity", "network", "backup", "coordinator"]


@dataclass(frozen=True, slots=True)
class Choice:
    specialist: str
    tier: Tier
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Need:
    """What a melding asks of its lead."""

    any_of: frozenset[str]  # expertise the category needs (empty: anyone)
    preferred: frozenset[str]  # expertise its signals ask for

    @classmethod
    def of(cls, config: NetworkConfig, category: Category, signals: Sequence[str]) -> Need:
        preferred = {tag for s in signals for tag in config.helps.get(s, [])}
        return cls(frozenset(config.needs[category]), frozenset(preferred))

    def met_by(self, specialist: Specialist) -> bool:
        return not self.any_of or bool(self.any_of & set(specialist.expertise))


def _labels(config: NetworkConfig, tags: Collection[str]) -> str:
    return ", ".join(config.expertise[t].label.lower() for t in sorted(tags))


def _with_room(
    config: NetworkConfig, ids: Collection[str], load: Mapping[str, int], declined: Collection[str]
) -> list[Specialist]:
    people = [config.by_id[i] for i in sorted(set(ids)) if i not in declined]
    return [s for s in people if load.get(s.id, 0) < s.max_caseload]


def _best(people: list[Specialist], need: Need, load: Mapping[str, int]) -> Specialist:
    return min(
        people,
        key=lambda s: (-len(need.preferred & set(s.expertise)), load.get(s.id, 0), s.id),
    )


def _why(config: NetworkConfig, chosen: Specialist, need: Need, load: Mapping[str, int]) -> str:
    matched = need.preferred & set(chosen.expertise)
    text = f"{chosen.naam} ({chosen.organisatie}) heeft dienst"
    if have := need.any_of & set(chosen.expertise):
        text += f", met expertise {_labels(config, have)}"
    if matched:
        text += f"; de signalen van de melding vragen om {_labels(config, matched)}"
    return text + f"; {load.get(chosen.id, 0)} van {chosen.max_caseload} casussen in behandeling."


def choose(
    config: NetworkConfig,
    *,
    gebied: str,
    need: Need,
    duties: Sequence[Duty],
    load: Mapping[str, int],
    lead: str | None = None,
    declined: Collection[str] = (),
    absent: Collection[str] = (),
) -> Choice | None:
    """Whom to offer to, or None when everyone, the chain included, has passed on it
    (``declined``: who declined it or let its offer expire in this round; ``absent``:
    who is marked absent, skipped in the chain too)."""
    here = {d.specialist for d in duties if d.gebied == gebied}
    if lead is not None and lead in here and _with_room(config, [lead], load, declined):
        who = config.by_id[lead]
        return Choice(
            lead,
            "continuity",
            (f"Casusregie: {who.naam} werkt al aan deze casus en heeft dienst.",),
        )
    reasons: list[str] = []
    if gebied != REGIONAL_POOL:
        qualified = [s for s in _with_room(config, here, load, declined) if need.met_by(s)]
        if qualified:
            chosen = _best(qualified, need, load)
            return Choice(chosen.id, "network", (_why(config, chosen, need, load),))
        reasons.append(
            "In het gebied van de melding heeft nu niemand dienst met ruimte"
            + (f" en expertise {_labels(config, need.any_of)}." if need.any_of else ".")
        )
    backup_here = {d.specialist for d in duties if d.gebied == REGIONAL_POOL}
    with_room = _with_room(config, backup_here, load, declined)
    qualified = [s for s in with_room if need.met_by(s)] or with_room
    if qualified:
        chosen = _best(qualified, need, load)
        if not need.met_by(chosen):
            reasons.append("Niemand met dienst bij de regionale achtervang heeft die expertise: "
                           "het aanbod gaat naar wie dienst heeft.")  # fmt: skip
        reasons.append("Regionale achtervang (crisisdienst): " + _why(config, chosen, need, load))
        return Choice(chosen.id, "backup", tuple(reasons))
    reasons.append("Ook bij de regionale achtervang heeft nu niemand dienst met ruimte.")
    for person in config.chain(gebied):
        if person not in declined and person not in absent:
            reasons.append(
                f"Opgeschaald naar {config.by_id[person].naam} ({_role(config, gebied, person)})."
            )
            return Choice(person, "coordinator", tuple(reasons))
    return None


def _role(config: NetworkConfig, gebied: str, person: str) -> str:
    if person in config.coordinators_of(gebied):
        return "coördinator"
    if person in config.backup.coordinators:
        return "coördinator van de regionale achtervang"
    return "laatste schakel van de opschaling"
