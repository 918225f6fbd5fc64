"""What the intake store's events become on the wire: integration events and receipts."""

from __future__ import annotations

import json
from collections.abc import Sequence

from events.envelope import CloudEvent, dataschema_for
from kit.relay import Outgoing
from kit.streams import RECEIPTS_STREAM, event_subject, events_stream, receipt_subject
from services.intake.aggregates import CaseReference, History, IngestReceipt, PersonKey, integration_event_id, message_of

SERVICE = "intake"
SOURCE = "urn:kit:service:intake"


def translate(domain_event: object, notification_id: int) -> Sequence[Outgoing]:
    if isinstance(domain_event, (History.Started, History.Recorded)):
        data = message_of(domain_event.type_name, domain_event.data)
        return [integration_event(domain_event, notification_id, data)]
    if isinstance(domain_event, IngestReceipt.Recorded):
        return [Outgoing(
            subject=receipt_subject(domain_event.agency), stream=RECEIPTS_STREAM,
            payload=receipt_bytes(domain_event.receipt), ordered=False,
            msg_id=f"receipt:{domain_event.agency}:{domain_event.ingest_id}",
        )]
    if isinstance(domain_event, (CaseReference.Claimed, PersonKey.Claimed)):
        return []  # internal uniqueness indexes
    raise TypeError(f"intake relay cannot translate {type(domain_event).__name__}")


def integration_event(domain_event, notification_id: int, data) -> Outgoing:
    meta = domain_event.meta
    event_id = integration_event_id(domain_event.originator_id, domain_event.originator_version)
    envelope = CloudEvent(
        specversion="1.0", id=event_id, source=SOURCE, type=data.type_name,
        subject=str(domain_event.originator_id), time=domain_event.timestamp,
        dataschema=dataschema_for(data.type_name), kitagency=meta["agency"],
        kitcorrelationid=meta["correlation_id"], kitcausationid=meta.get("causation_id"),
        kitactor=meta.get("actor"), kitrole=meta.get("role"), kitrecordedtime=domain_event.timestamp,
        kitclassification=data.classification, kitseq=notification_id,
        data=data.model_dump(mode="json"),
    )
    return Outgoing(subject=event_subject(SERVICE, data.type_name), stream=events_stream(SERVICE),
                    payload=envelope.to_json_bytes(), msg_id=event_id, ordered=True)


def receipt_bytes(receipt: dict) -> bytes:
    """A receipt as partners receive it, the same bytes whether first sent or repeated."""
    return json.dumps(receipt, separators=(",", ":"), sort_keys=True).encode()
