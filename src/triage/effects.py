"""What must follow a commit, as data, and the one stage that applies it.

Every command that changes a melding, an offer, a case or a roster (intake, offer,
answers, expiry, escalation, reassign, move, link, unlink, merge, close, handover,
roster change, override) returns, beside its answer, the effects its commit calls for:
a melding to put on its gebied's queue or to take off one, a person to tell, the
workers to recompute who is on duty. What must
survive a crash is written in the command's own transaction: the melding's status (from
which the reconciler and the watchdog derive the queues again) and the webhook outbox.
What follows here is derived from those and best effort: a lost enqueue is repaired
within seconds by the watchdog, a lost event is read again by the person's client from
``GET /api/v1/me/assignments`` when it reconnects.

``AfterCommit.apply`` is the only place that does this work: handlers, the worker's
loops, the watchdog and the CLI hand their effects to it after their commit, and touch
neither the queues nor the event channels themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from triage.clock import Clock
from triage.notify.events import Publisher
from triage.queue.enqueue import Enqueuer
from triage.vocabulary import Level


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Put the melding on its gebied's queue (it is queued in PostgreSQL)."""

    gebied: str
    melding_id: UUID
    level: Level
    respond_before: datetime


@dataclass(frozen=True, slots=True)
class Withdraw:
    """Take the melding off a gebied's queue (offered by hand, or moved away)."""

    gebied: str
    melding_id: UUID


@dataclass(frozen=True, slots=True)
class Tell:
    """A server-sent event for a person (ids, codes, times and links only)."""

    person: str
    event: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RostersChanged:
    """Who is on duty changed by hand: the workers recompute it at once."""


@dataclass(frozen=True, slots=True)
class Changed:
    """The melding changed as the werkvoorraad shows it (offered, escalated, accepted,
    first contact, its urgency) with nothing else to follow: the open werkvoorraad pages
    of its gebied are told. Enqueues and withdrawals tell them anyway; events for a person
    do not (they go to that person only)."""

    gebied: str
    melding_id: UUID


Effect = Enqueue | Withdraw | Tell | RostersChanged | Changed
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Done(Generic[T_co]):
    """A command's answer, and what must follow its commit."""

    answer: T_co
    effects: tuple[Effect, ...] = field(default=())


def enqueue(row: Mapping[str, Any]) -> Enqueue:
    """The effect for a row with the melding's ``id``, ``gebied``, ``urgency_level`` and
    ``respond_before`` (as the requeueing statements return them)."""
    return Enqueue(row["gebied"], row["id"], Level(row["urgency_level"]), row["respond_before"])


class AfterCommit:
    """Applies effects: enqueues (batched in the background by the enqueuer), withdrawals,
    then the events, in one round trip."""

    def __init__(self, enqueuer: Enqueuer, publisher: Publisher, clock: Clock) -> None:
        self._enqueuer = enqueuer
        self._publisher = publisher
        self._clock = clock

    def enqueue(self, effect: Enqueue) -> None:
        """At once, without waiting (the enqueuer sends in the background): for the
        intake's batch writer, which applies its meldingen's enqueue itself after its
        commit, whether or not their callers still wait."""
        self._enqueuer.submit(effect.gebied, effect.melding_id, effect.level,
                              effect.respond_before, self._clock.now())  # fmt: skip

    async def apply(self, effects: Iterable[Effect]) -> None:
        now = self._clock.now()
        tells = []
        changed: list[tuple[str, str]] = []
        rosters = False
        for effect in effects:
            if isinstance(effect, Enqueue):
                self._enqueuer.submit(
                    effect.gebied, effect.melding_id, effect.level, effect.respond_before, now
                )
            elif isinstance(effect, Withdraw):
                await self._enqueuer.withdraw(effect.gebied, effect.melding_id)
                changed.append((effect.gebied, str(effect.melding_id)))
            elif isinstance(effect, Changed):
                changed.append((effect.gebied, str(effect.melding_id)))
            elif isinstance(effect, Tell):
                tells.append((effect.person, effect.event, dict(effect.data)))
            else:
                rosters = True
        if rosters:
            await self._publisher.rosters_changed()
        await self._publisher.publish_many(tells, changed)
