"""What the relay publishes: the integration CloudEvent exactly as the envelope model writes it
(the relay builds it without validating again), and receipts to the sender but not for the
platform's own commands."""

import json
import uuid
from datetime import datetime, timezone

import pytest

from events.builders import EXAMPLE_DATA
from events.envelope import CloudEvent, dataschema_for
from kit.runtime import PLATFORM_AGENCY
from kit.store import NAMESPACE, Receipt, integration_event_id
from kit.translation import translator
from services.intake.aggregates import YouthCase
from tests.conftest import PLATFORM

INTAKE = PLATFORM.service("intake")
translate = translator("intake", INTAKE.source, {m.type_name: m for m in INTAKE.messages})
EVENTS = [m for m in EXAMPLE_DATA.values() if m.kind == "event"]  # every service's that has examples there


def translator_of(service_name: str):
    service = PLATFORM.service(service_name)
    return service, translator(service.name, service.source, {m.type_name: m for m in service.messages})


@pytest.mark.parametrize("data", EVENTS, ids=lambda m: m.type_name)
def test_an_integration_event_is_byte_for_byte_what_the_envelope_model_writes(data):
    aggregate, at = uuid.uuid4(), datetime(2026, 11, 30, 8, 15, 2, 123456, tzinfo=timezone.utc)
    meta = {"agency": "comune-milano-m7", "actor": "op-1", "role": "key_worker", "ingest_id": "in-1",
            "correlation_id": "corr-1", "causation_id": None}
    stored = YouthCase.Recorded(originator_id=aggregate, originator_version=3, timestamp=at,
                                type_name=data.type_name, data=data.model_dump(mode="json"), meta=meta)
    service, translate_its = translator_of(data.context)
    [out] = translate_its(stored, 42)
    expected = CloudEvent(
        specversion="1.0", id=integration_event_id(aggregate, 3, service.name), source=service.source, type=data.type_name,
        subject=str(aggregate), time=at, dataschema=dataschema_for(data.type_name), kitagency="comune-milano-m7",
        kitcorrelationid="corr-1", kitactor="op-1", kitrole="key_worker", kitrecordedtime=at,
        kitclassification=data.classification, kitseq=42, data=data.model_dump(mode="json"))
    assert out.payload == expected.to_json_bytes()
    assert out.subject == f"kit.events.{service.name}.{data.type_name.split('.')[2]}.v1" and out.ordered


def test_a_receipt_goes_to_its_sender_and_the_platforms_own_go_nowhere():
    answer = {"ingest_id": "in-1", "agency": "ngo-lugano", "status": "accepted"}
    [out] = translate(Receipt(agency="ngo-lugano", ingest_id="in-1", receipt=answer).collect_events()[0], 7)
    assert out.subject == "kit.receipts.ngo-lugano" and json.loads(out.payload) == answer and not out.ordered
    own = Receipt(agency=PLATFORM_AGENCY, ingest_id="lost-contact:x", receipt=answer).collect_events()[0]
    assert translate(own, 8) == []


def test_two_services_histories_under_one_youth_id_publish_distinct_event_ids():
    """Intake and social prescribing both keep a history under the youth's id: the integration
    event ids (the views' and the audit log's keys) must still differ; intake's stay as published."""
    youth = uuid.uuid4()
    assert integration_event_id(youth, 1, "social_prescribing") != integration_event_id(youth, 1, "intake")
    assert integration_event_id(youth, 1, "intake") == str(uuid.uuid5(NAMESPACE, f"event/{youth}/1"))
