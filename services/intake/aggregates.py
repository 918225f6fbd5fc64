"""Event-sourced aggregates of the intake store, with explicit, stable topics.

A youth's case and an engagement are histories (`kit.store.History`) of the domain events of
`events.intake`; their state is folded by the pure `evolve` functions of `case.py`. The other
aggregates are uniqueness indexes, saved in the same transaction as the events that claim them.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from eventsourcing.domain import Aggregate, event

from events import intake
from events.intake import Event
from events.registry import models_in
from kit.store import NAMESPACE, History
from services.intake.case import evolve, evolve_engagement

MESSAGES = {m.type_name: m for m in models_in(intake)}


def case_reference_id(agency: str, case_ref: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"case-ref/{agency}/{case_ref}")


def person_key_id(pseudonym: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"person/{pseudonym}")


class YouthCase(History):
    TOPIC = "kit.intake:YouthCase"
    messages = MESSAGES

    class Created(Aggregate.Created):
        TOPIC = "kit.intake:YouthCase.Created"

    class Started(History.Started):
        TOPIC = "kit.intake:YouthCase.Started.v1"

    class Recorded(History.Recorded):
        TOPIC = "kit.intake:YouthCase.Recorded.v1"

    def _fold(self, message: Event, at: datetime) -> None:
        self.state = evolve(self.state, message, at)


class EngagementHistory(History):
    TOPIC = "kit.intake:Engagement"
    messages = MESSAGES

    class Created(Aggregate.Created):
        TOPIC = "kit.intake:Engagement.Created"

    class Started(History.Started):
        TOPIC = "kit.intake:Engagement.Started.v1"

    class Recorded(History.Recorded):
        TOPIC = "kit.intake:Engagement.Recorded.v1"

    def _fold(self, message: Event, at: datetime) -> None:
        self.state = evolve_engagement(self.state, message, at)


class CaseReference(Aggregate):
    """Unique (agency, partner case reference) -> youth: the save fails if it already exists."""

    TOPIC = "kit.intake:CaseReference"

    class Created(Aggregate.Created):
        TOPIC = "kit.intake:CaseReference.Created"

    class Claimed(Aggregate.Created):
        TOPIC = "kit.intake:CaseReference.Claimed.v1"
        agency: str
        case_ref: str
        youth_id: str

    @classmethod
    def create_id(cls, agency: str, case_ref: str) -> uuid.UUID:
        return case_reference_id(agency, case_ref)

    @event(Claimed)
    def __init__(self, agency: str, case_ref: str, youth_id: str):
        self.youth_id = youth_id


class PersonKey(Aggregate):
    """Keyed-HMAC pseudonym of a national id -> youth: one person, one youth record."""

    TOPIC = "kit.intake:PersonKey"

    class Created(Aggregate.Created):
        TOPIC = "kit.intake:PersonKey.Created"

    class Claimed(Aggregate.Created):
        TOPIC = "kit.intake:PersonKey.Claimed.v1"
        pseudonym: str
        youth_id: str

    @classmethod
    def create_id(cls, pseudonym: str, youth_id: str) -> uuid.UUID:
        return person_key_id(pseudonym)

    @event(Claimed)
    def __init__(self, pseudonym: str, youth_id: str):
        self.youth_id = youth_id
