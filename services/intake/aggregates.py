"""Event-sourced aggregates of the intake store, with explicit, stable topics.

Every stored event carries `meta`: the envelope facts (agency, actor, correlation and causation
ids, ingest id) the relay needs to build the integration CloudEvent.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

NAMESPACE = uuid.UUID("8d2c6f0e-3b1a-4c5d-9e7f-1a2b3c4d5e6f")


def receipt_id(agency: str, ingest_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"receipt/{agency}/{ingest_id}")


def case_reference_id(agency: str, case_ref: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"case-ref/{agency}/{case_ref}")


def integration_event_id(originator_id: uuid.UUID, originator_version: int) -> str:
    """Deterministic, so a republished event keeps its CloudEvent id and its Nats-Msg-Id."""
    return str(uuid.uuid5(NAMESPACE, f"event/{originator_id}/{originator_version}"))


class Youth(Aggregate):
    TOPIC = "kit.intake:Youth"

    class Created(Aggregate.Created):
        TOPIC = "kit.intake:Youth.Created"

    class Registered(Aggregate.Created):
        TOPIC = "kit.intake:Youth.Registered.v1"
        youth_id: str
        registering_agency: str
        partner_case_ref: str
        birth_year: int
        country: str
        region: str
        meta: dict[str, Any]

    @classmethod
    def create_id(cls, youth_id: str) -> uuid.UUID:
        return uuid.UUID(youth_id)

    @event(Registered)
    def __init__(self, youth_id: str, registering_agency: str, partner_case_ref: str, birth_year: int,
                 country: str, region: str, meta: dict[str, Any]):
        self.registering_agency = registering_agency
        self.partner_case_ref = partner_case_ref
        self.birth_year = birth_year
        self.country = country
        self.region = region


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
