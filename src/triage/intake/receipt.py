"""What a source system is told about its meldingen: a receipt, never what the service
knows from elsewhere (DOMAIN, "Privacy and law"; models.MeldingReceipt says what is in it).

Staff who submit or read get the full view; an API client gets these, built from that
view here, in one place, so that a field added to the full view does not reach a source
by accident: each field of a receipt is named below."""

from __future__ import annotations

from triage.intake.models import (
    MeldingAccepted,
    MeldingAsSent,
    MeldingIn,
    MeldingOut,
    MeldingReceipt,
)
from triage.region import Region
from triage.vocabulary import Level


def receipt(accepted: MeldingAccepted, sent: MeldingIn, region: Region) -> MeldingReceipt:
    """The answer to a source's POST (stored, or a replay of its own)."""
    return MeldingReceipt(
        melding_id=accepted.melding_id,
        source=sent.source,
        external_id=sent.external_id,
        received_at=sent.received_at,
        status=accepted.status,
        urgency_level=_level(accepted, sent.source in region.urgency_visible_to),
    )


def as_sent(found: MeldingOut, region: Region) -> MeldingAsSent:
    """A source's own melding read back: what it sent, and the receipt."""
    return MeldingAsSent(
        melding_id=found.melding_id,
        source=found.source,
        external_id=found.external_id,
        received_at=found.received_at,
        status=found.status,
        urgency_level=_level(found, found.source in region.urgency_visible_to),
        kind=found.kind,
        category=found.category,
        signals=found.signals,
        summary=found.summary,
        address=found.address,
        gebied_hint=found.gebied_hint,
        persons=found.persons,
    )


def _level(accepted: MeldingAccepted, visible: bool) -> Level | None:
    return accepted.urgency.level if visible else None
