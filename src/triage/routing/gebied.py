"""The gebied of a melding: where its household lives, else where it was seen."""

from __future__ import annotations

from triage.intake.models import MeldingIn
from triage.region import REGIONAL_POOL, Region


def gebied_for(region: Region, melding: MeldingIn) -> str:
    """Postcode, else woonplaats (or gemeente), else the melding's hint, else the regional
    pool, so that a melding is never without a team that sees it."""
    address = melding.address
    if address is not None and address.postcode is not None:
        found = region.gebied_for_postcode(address.postcode)
        if found:
            return found
    if address is not None and address.woonplaats:
        found = region.gebied_for_place(address.woonplaats)
        if found:
            return found
    return melding.gebied or REGIONAL_POOL
