"""Event-sourced aggregates of the intake store, with explicit, stable topics.

A youth's case and an engagement are histories of domain events (the models in
`events.intake`): each stored event holds the event's type name, its data and `meta` (agency,
actor, role, correlation and causation ids, ingest id), which the relay needs to build the
integration CloudEvent. State is folded by the pure `evolve` functions of `case.py`.
The other aggregates are uniqueness indexes and the ingest receipts.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from events.intake import Event
from events.registry import REGISTRY
from services.intake.case import evolve, evolve_engagement

NAMESPACE = uuid.UUID("8d2c6f0e-3b1a-4c5d-9e7f-1a2b3c4d5e6f")


def receipt_id(agency: str, ingest_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"receipt/{agency}/{ingest_id}")


def case_reference_id(agency: str, case_ref: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"case-ref/{agency}/{case_ref}")


def engagement_id(pseudonym_key: bytes, agency: str, handle: str) -> uuid.UUID:
    """One engagement history per handle within an agency (handles are case-insensitive). Keyed,
    so the id cannot be traced back to a nickname by trying candidates."""
    digest = hmac.new(pseudonym_key, f"engagement/{agency}/{handle.strip().casefold()}".encode(), hashlib.sha256)
    return uuid.uuid5(NAMESPACE, digest.hexdigest())


def person_key_id(pseudonym: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"person/{pseudonym}")


def integration_event_id(originator_id: uuid.UUID, originator_version: int) -> str:
    """Deterministic, so a republished event keeps its CloudEvent id and its Nats-Msg-Id."""
    return str(uuid.uuid5(NAMESPACE, f"event/{originator_id}/{originator_version}"))


def message_of(type_name: str, data: dict[str, Any]) -> Event:
    return REGISTRY[type_name].model_validate(data)  # type: ignore[return-value]


class History(Aggregate):
    """A stream of domain events; subclasses say how state is folded from them."""

    TOPIC = "kit.intake:History"

    class Created(Aggregate.Created):
        TOPIC = "kit.intake:History.Created"

    class Started(Aggregate.Created):
        TOPIC = "kit.intake:History.Started"
        type_name: str
        data: dict[str, Any]
        meta: dict[str, Any]

    class Recorded(Aggregate.Event):
        TOPIC = "kit.intake:History.Recorded"
        type_name: str
        data: dict[str, Any]
        meta: dict[str, Any]

        def apply(self, aggregate: History) -> None:
            aggregate._fold(message_of(self.type_name, self.data), self.timestamp)

    def __init__(self, type_name: str, data: dict[str, Any], meta: dict[str, Any]):
        self.state: Any = None
        self._fold(message_of(type_name, data), self._created_on)

    def _fold(self, message: Event, at: datetime) -> None:
        raise NotImplementedError

    @classmethod
    def start(cls, aggregate_id: uuid.UUID, message: Event, meta: dict[str, Any]):
        return cls._create(cls.Started, id=aggregate_id, type_name=message.type_name,
                           data=message.model_dump(mode="json"), meta=meta)

    def record(self, message: Event, meta: dict[str, Any]) -> None:
        self.trigger_event(self.Recorded, type_name=message.type_name, data=message.model_dump(mode="json"), meta=meta)


class YouthCase(History):
    TOPIC = "kit.intake:YouthCase"

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


class IngestReceipt(Aggregate):
    """The outcome of one partner message, keyed by (agency, CloudEvent id): the idempotency key."""

    TOPIC = "kit.intake:IngestReceipt"

    class Created(Aggregate.Created):
        TOPIC = "kit.intake:IngestReceipt.Created"

    class Recorded(Aggregate.Created):
        TOPIC = "kit.intake:IngestReceipt.Recorded.v1"
        agency: str
        ingest_id: str
        receipt: dict[str, Any]

    @classmethod
    def create_id(cls, agency: str, ingest_id: str) -> uuid.UUID:
        return receipt_id(agency, ingest_id)

    @event(Recorded)
    def __init__(self, agency: str, ingest_id: str, receipt: dict[str, Any]):
        self.receipt = receipt
