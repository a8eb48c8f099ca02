"""What a source system is told about its meldingen: a receipt, never what the service
knows from elsewhere (DOMAIN, "Privacy and law"; models.MeldingReceipt says what is in it).

Staff who submit or read get the full view; an API client gets these, built from that
view here, in one place, so that a field added to the full view does not reach a source
by accident: each field of a receipt is named below."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from triage.intake.models import (
    MeldingAccepted,
    MeldingAsSent,
    MeldingIn,
    MeldingOut,
    MeldingReceipt,
    SentContent,
)
from triage.region import Region
from triage.vocabulary import Source


def receipt(accepted: MeldingAccepted, sent: MeldingIn, region: Region) -> MeldingReceipt:
    """The answer to a source's POST (stored, or a replay of its own)."""
    return MeldingReceipt(**_receipt(accepted, sent.source, sent.external_id,
                                     sent.received_at, region))  # fmt: skip


def as_sent(found: MeldingOut, region: Region) -> MeldingAsSent:
    """A source's own melding read back: what it sent, and the receipt."""
    return MeldingAsSent(
        **_receipt(found, found.source, found.external_id, found.received_at, region),
        **found.model_dump(include=set(SentContent.model_fields)),
    )


def _receipt(
    accepted: MeldingAccepted,
    source: Source,
    external_id: str,
    received_at: datetime,
    region: Region,
) -> dict[str, Any]:
    """The receipt's fields, each named: nothing else of the full view goes along."""
    return {
        "melding_id": accepted.melding_id, "source": source, "external_id": external_id,
        "received_at": received_at, "status": accepted.status,
        "urgency_level": accepted.urgency.level if source in region.urgency_visible_to
        else None,
    }  # fmt: skip
