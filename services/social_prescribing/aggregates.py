"""Event-sourced aggregates of the social prescribing store, with explicit, stable topics: a youth's
case (id: the youth's pseudonym) and an activity's places (id derived from the activity's id, so
that it can never be taken for a youth's)."""

from __future__ import annotations

import uuid
from datetime import datetime

from eventsourcing.domain import Aggregate, event

from events import social_prescribing
from events.registry import models_in
from events.social_prescribing import Event
from kit.store import NAMESPACE, History
from services.social_prescribing.case import evolve, evolve_places

MESSAGES = {m.type_name: m for m in models_in(social_prescribing)}


def places_id(activity_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"social-prescribing/activity/{activity_id}")


def prescription_key_id(prescription_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"social-prescribing/prescription/{prescription_id}")


class YouthCase(History):
    TOPIC = "kit.social_prescribing:YouthCase"
    messages = MESSAGES

    class Created(Aggregate.Created):
        TOPIC = "kit.social_prescribing:YouthCase.Created"

    class Started(History.Started):
        TOPIC = "kit.social_prescribing:YouthCase.Started.v1"

    class Recorded(History.Recorded):
        TOPIC = "kit.social_prescribing:YouthCase.Recorded.v1"

    def _fold(self, message: Event, at: datetime) -> None:
        self.state = evolve(self.state, message, at)


class ActivityPlaces(History):
    TOPIC = "kit.social_prescribing:ActivityPlaces"
    messages = MESSAGES

    class Created(Aggregate.Created):
        TOPIC = "kit.social_prescribing:ActivityPlaces.Created"

    class Started(History.Started):
        TOPIC = "kit.social_prescribing:ActivityPlaces.Started.v1"

    class Recorded(History.Recorded):
        TOPIC = "kit.social_prescribing:ActivityPlaces.Recorded.v1"

    def _fold(self, message: Event, at: datetime) -> None:
        self.state = evolve_places(self.state, message, at)


class PrescriptionKey(Aggregate):
    """Unique prescription id -> youth: a provider records attendance by the prescription id (the
    participant's code) and the service finds whose case it is; the save fails if the id is taken."""

    TOPIC = "kit.social_prescribing:PrescriptionKey"

    class Created(Aggregate.Created):
        TOPIC = "kit.social_prescribing:PrescriptionKey.Created"

    class Claimed(Aggregate.Created):
        TOPIC = "kit.social_prescribing:PrescriptionKey.Claimed.v1"
        prescription_id: str
        youth_id: str

    @classmethod
    def create_id(cls, prescription_id: str, youth_id: str) -> uuid.UUID:
        return prescription_key_id(prescription_id)

    @event(Claimed)
    def __init__(self, prescription_id: str, youth_id: str):
        self.youth_id = youth_id
