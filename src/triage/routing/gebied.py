"""The gebied of a melding: where its household lives, else where it was seen."""

from __future__ import annotations

from triage.intake.models import MeldingIn
from triage.region import REGIONAL_POOL, Region

#: Why a melding goes to the regional pool (the 24/7 crisis service), which passes it on.
OUTSIDE = (
    "De postcode van het adres ligt buiten de regio: de regionale crisisdienst zet de "
    "melding door naar de regio van het adres."
)
UNKNOWN_PLACE = (
    "De woonplaats is in de regio niet bekend en er is geen postcode: de regionale "
    "crisisdienst controleert het adres en zet de melding door naar het goede gebied of "
    "de goede regio."
)
NO_ADDRESS = (
    "Geen adres en geen gebied opgegeven: de regionale crisisdienst bepaalt waar de melding hoort."
)


def gebied_for(region: Region, melding: MeldingIn) -> tuple[str, str | None]:
    """The gebied, and why it is the regional pool when the address did not decide it.

    Postcode, else woonplaats (or gemeente), else the melding's hint, else the regional
    pool, so that a melding is never without a team that sees it. A postcode outside the
    region sends it to the pool whatever the hint says: the household lives elsewhere,
    and the crisis service passes it on to that region (it is not silently kept here).
    """
    address = melding.address
    if address is not None and address.postcode is not None:
        found = region.gebied_for_postcode(address.postcode)
        if found:
            return found, None
        return REGIONAL_POOL, OUTSIDE
    if address is not None and address.woonplaats:
        found = region.gebied_for_place(address.woonplaats)
        if found:
            return found, None
        if melding.gebied is None:
            return REGIONAL_POOL, UNKNOWN_PLACE
    if melding.gebied is not None:
        return melding.gebied, None
    return REGIONAL_POOL, NO_ADDRESS
