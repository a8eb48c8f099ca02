"""The fixed words of the domain, shared by the API, the database and the rules files."""

from __future__ import annotations

from enum import StrEnum


class Source(StrEnum):
    politie = "politie"
    cit = "cit"
    veilig_thuis = "veilig_thuis"
    wijkteam = "wijkteam"
    meldpunt = "meldpunt"
    ggz = "ggz"
    huisarts = "huisarts"
    burger = "burger"
    other = "other"


class Kind(StrEnum):
    melding = "melding"
    adviesvraag = "adviesvraag"


class Category(StrEnum):
    huiselijk_geweld = "huiselijk_geweld"
    kindermishandeling = "kindermishandeling"
    ouderenmishandeling = "ouderenmishandeling"
    seksueel_geweld = "seksueel_geweld"
    complexe_scheiding = "complexe_scheiding"
    verward_gedrag = "verward_gedrag"
    psychiatrie = "psychiatrie"
    verslaving = "verslaving"
    dakloosheid = "dakloosheid"
    zorgmijding = "zorgmijding"
    overlast = "overlast"
    jeugd = "jeugd"
    overig = "overig"


class PersonRole(StrEnum):
    betrokkene = "betrokkene"
    slachtoffer = "slachtoffer"
    pleger = "pleger"
    kind = "kind"
    ouder = "ouder"
    melder = "melder"


class UserRole(StrEnum):
    operator = "operator"
    cit = "cit"
    specialist = "specialist"
    coordinator = "coordinator"
    ops = "ops"
    admin = "admin"


#: The roles as people at the desk call them (the codes are the API's).
ROLE_NL = {
    "operator": "meldpunt", "cit": "CIT", "specialist": "specialist",
    "coordinator": "coördinator", "ops": "technisch beheer", "admin": "functioneel beheer",
}  # fmt: skip


#: The statuses of a melding that waits for first contact: on the werkvoorraad, and what
#: may be closed by hand.
WAITING = ("queued", "offered", "assigned", "escalated")


class Level(StrEnum):
    """Urgency levels, most urgent first; ``advies`` is for adviesvragen (not dispatched)."""

    crisis = "crisis"
    acuut = "acuut"
    hoog = "hoog"
    regulier = "regulier"
    advies = "advies"


#: Dispatch levels from least to most urgent; raising a level moves right.
LEVEL_ASCENDING: tuple[Level, ...] = (Level.regulier, Level.hoog, Level.acuut, Level.crisis)
