"""What a service's stored events become on the wire: integration CloudEvents and receipts.

- a `History` event: the integration event, on `kit.events.<service>.<type>` (the stream's order is
  the store's log order);
- a `Receipt`: the answer to the agency that sent the command, on `kit.receipts.<agency>` (not for
  the platform's own scheduled commands);
- anything else (uniqueness indexes and other internal aggregates): nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic_core import to_json

from events.base import Message
from events.envelope import dataschema_for
from kit.relay import Outgoing, Translate
from kit.runtime import PLATFORM_AGENCY
from kit.store import History, Receipt, integration_event_id
from kit.streams import RECEIPTS_STREAM, event_subject, events_stream, receipt_subject


def receipt_bytes(receipt: dict) -> bytes:
    """A receipt as partners receive it, the same bytes whether first sent or repeated."""
    return json.dumps(receipt, separators=(",", ":"), sort_keys=True).encode()


def translator(service: str, source: str, messages: dict[str, type[Message]]) -> Translate:
    stream = events_stream(service)

    def integration_event(domain_event, notification_id: int) -> Outgoing:
        """The CloudEvent as `events.envelope.CloudEvent(...).to_json_bytes()` writes it (a test holds
        the two equal), built without validating again what the decision validated when it stored
        it: the relay's work per event is a fraction of the model's."""
        type_name, meta = domain_event.type_name, domain_event.meta
        event_id = integration_event_id(domain_event.originator_id, domain_event.originator_version, service)
        envelope = {
            "specversion": "1.0", "id": event_id, "source": source, "type": type_name,
            "subject": str(domain_event.originator_id), "time": domain_event.timestamp,
            "datacontenttype": "application/json", "dataschema": dataschema_for(type_name),
            "kitagency": meta["agency"], "kitcorrelationid": meta["correlation_id"],
            "kitcausationid": meta.get("causation_id"), "kitactor": meta.get("actor"), "kitrole": meta.get("role"),
            "kitrecordedtime": domain_event.timestamp, "kitclassification": messages[type_name].classification,
            "kitseq": notification_id, "data": domain_event.data,
        }
        payload = to_json({k: v for k, v in envelope.items() if v is not None})
        return Outgoing(subject=event_subject(service, type_name), stream=stream, payload=payload, msg_id=event_id,
                        ordered=True)

    def translate(domain_event: object, notification_id: int) -> Sequence[Outgoing]:
        if isinstance(domain_event, (History.Started, History.Recorded)):
            return [integration_event(domain_event, notification_id)]
        if isinstance(domain_event, Receipt.Recorded) and domain_event.agency != PLATFORM_AGENCY:
            return [Outgoing(
                subject=receipt_subject(domain_event.agency), stream=RECEIPTS_STREAM,
                payload=receipt_bytes(domain_event.receipt), ordered=False,
                msg_id=f"receipt:{service}:{domain_event.agency}:{domain_event.ingest_id}",
            )]
        return []

    return translate
