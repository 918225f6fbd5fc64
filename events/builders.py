"""Test-data builders: valid messages for every type, used by contracts/examples, tests and partners.

`example(type_name)` is deterministic (the checked-in examples are generated from it);
`register_youth(...)` builds fresh ingest messages with overridable fields.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from events.base import Message
from events.envelope import CloudEvent, dataschema_for
from events.intake import RegisterYouth, YouthRegistered
from events.registry import REGISTRY

EXAMPLE_TIME = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)
EXAMPLE_YOUTH = "2f1d5a8e-6c3b-4f7a-9d2e-8b1c0a7f6e54"

EXAMPLE_DATA: dict[str, Message] = {
    RegisterYouth.type_name: RegisterYouth(
        partner_case_ref="MI7-2026-0042", birth_year=2005, country="IT", region="IT-25"
    ),
    YouthRegistered.type_name: YouthRegistered(
        youth_id=EXAMPLE_YOUTH, registering_agency="comune-milano-m7",
        partner_case_ref="MI7-2026-0042", birth_year=2005, country="IT", region="IT-25",
    ),
}


def envelope(data: Message, *, agency: str, id: str | None = None, subject: str | None = None,
             time: datetime | None = None, correlation_id: str | None = None,
             source: str | None = None, **ext: Any) -> CloudEvent:
    event_id = id or str(uuid.uuid4())
    return CloudEvent(
        specversion="1.0",
        id=event_id,
        source=source or f"urn:kit:agency:{agency}",
        type=data.type_name,
        subject=subject,
        time=time or datetime.now(timezone.utc),
        dataschema=dataschema_for(data.type_name),
        kitagency=agency,
        kitcorrelationid=correlation_id or event_id,
        kitclassification=data.classification,
        data=data.model_dump(mode="json"),
        **ext,
    )


def example(type_name: str) -> CloudEvent:
    """The checked-in example message of a type: a full CloudEvent, ready to publish."""
    model = REGISTRY[type_name]
    data = EXAMPLE_DATA[type_name]
    agency = "comune-milano-m7"
    if model.kind == "command":
        return envelope(data, agency=agency, id="mi7-ingest-0001", time=EXAMPLE_TIME)
    return envelope(
        data, agency=agency, id="6b0a3c2e-1f4d-5e8a-9b7c-2d1e0f3a4b5c", subject=EXAMPLE_YOUTH,
        source=f"urn:kit:service:{model.context}",
        time=EXAMPLE_TIME, correlation_id="mi7-ingest-0001", kitcausationid="mi7-ingest-0001",
        kitrecordedtime=EXAMPLE_TIME, kitseq=1,
    )


def register_youth(agency: str = "comune-milano-m7", *, case_ref: str | None = None,
                   birth_year: int = 2005, country: str = "IT", region: str = "IT-25",
                   id: str | None = None) -> CloudEvent:
    data = RegisterYouth(
        partner_case_ref=case_ref or f"case-{uuid.uuid4().hex[:12]}",
        birth_year=birth_year, country=country, region=region,  # type: ignore[arg-type]
    )
    return envelope(data, agency=agency, id=id)
