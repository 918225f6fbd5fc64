"""Handling one partner message from `kit.ingest.<agency>`: validate, decide, record, answer.

The receipt is stored with the effect in one transaction (an IngestReceipt aggregate keyed by
agency and CloudEvent id), so a redelivered or re-sent message finds it and changes nothing.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from events.envelope import CloudEvent
from events.intake import RegisterYouth
from events.receipts import Reason, Receipt
from events.registry import INGEST_TYPES, model_for
from services.intake.aggregates import CaseReference, IngestReceipt, Youth, integration_event_id
from services.intake.application import IntakeApplication
from services.intake.decisions import decide_register_youth


def reasons_from(error: ValidationError, prefix: str = "") -> list[Reason]:
    """Pydantic errors as reasons; the offending input value is never echoed (it may be personal)."""
    return [
        Reason(field=".".join([prefix, *map(str, e["loc"])]).strip(".") if (prefix or e["loc"]) else "",
               code=e["type"], message=e["msg"])
        for e in error.errors(include_input=False, include_url=False)
    ]


def parse_ingest(subject_agency: str, raw: bytes) -> tuple[CloudEvent, Any] | list[Reason]:
    """Envelope, authorisation of the publishing agency, then the payload by its type."""
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return [Reason(field="", code="invalid_json", message=f"the message is not JSON: {e.__class__.__name__}")]
    if not isinstance(document, dict):
        return [Reason(field="", code="invalid_cloudevent", message="a structured CloudEvent is a JSON object")]
    try:
        envelope = CloudEvent.model_validate(document)
    except ValidationError as e:
        return reasons_from(e)
    if envelope.kitagency != subject_agency:
        return [Reason(field="kitagency", code="agency_mismatch",
                       message=f"published on kit.ingest.{subject_agency} but kitagency is {envelope.kitagency}")]
    if envelope.type not in INGEST_TYPES:
        return [Reason(field="type", code="unknown_type",
                       message=f"not a type partners may send; accepted: {', '.join(sorted(INGEST_TYPES))}")]
    model = model_for(envelope.type)
    assert model is not None
    try:
        payload = model.model_validate(envelope.data)
    except ValidationError as e:
        return reasons_from(e, prefix="data")
    return envelope, payload


def ingest_id_of(raw: bytes, stream_seq: int) -> str:
    """The key of the receipt: the CloudEvent id when readable, else the NATS stream sequence."""
    try:
        value = json.loads(raw).get("id")
    except Exception:
        value = None
    if isinstance(value, str) and 0 < len(value) <= 128:
        return value
    return f"nats-seq-{stream_seq}"


def handle_ingest(app: IntakeApplication, *, subject_agency: str, raw: bytes, stream_seq: int,
                  now: datetime) -> tuple[dict[str, Any], bool]:
    """Returns (receipt, is_new). Safe to call again with the same message: the same receipt."""
    for _attempt in range(3):
        ingest_id = ingest_id_of(raw, stream_seq)
        existing = app.existing_receipt(subject_agency, ingest_id)
        if existing is not None:
            return existing, False
        receipt, aggregates = decide(app, subject_agency, ingest_id, raw, now)
        if app.record(*aggregates):
            return receipt, True
    raise RuntimeError("conflicting concurrent writes for one ingest message")


def decide(app: IntakeApplication, agency: str, ingest_id: str, raw: bytes, now: datetime):
    parsed = parse_ingest(agency, raw)
    aggregates: list[Any] = []
    subject = None
    if isinstance(parsed, list):
        outcome: list[Reason] | list[str] = parsed
    else:
        envelope, command = parsed
        outcome, aggregates, subject = apply_command(app, envelope, command, now)
    if outcome and isinstance(outcome[0], Reason):
        receipt = Receipt(ingest_id=ingest_id, agency=agency, status="rejected", reasons=outcome,
                          subject=subject, recorded_at=now)
        aggregates = []
    else:
        receipt = Receipt(ingest_id=ingest_id, agency=agency, status="accepted", event_ids=outcome,
                          subject=subject, recorded_at=now)
    receipt_json = receipt.model_dump(mode="json")
    return receipt_json, [*aggregates, IngestReceipt(agency=agency, ingest_id=ingest_id, receipt=receipt_json)]


def apply_command(app: IntakeApplication, envelope: CloudEvent, command: Any, now: datetime):
    meta = {
        "agency": envelope.kitagency, "actor": envelope.kitactor, "ingest_id": envelope.id,
        "correlation_id": envelope.kitcorrelationid, "causation_id": envelope.id,
    }
    if isinstance(command, RegisterYouth):
        existing = app.youth_for_case_ref(envelope.kitagency, command.partner_case_ref)
        youth_id = str(uuid.uuid4())
        decided = decide_register_youth(command, agency=envelope.kitagency, now=now, new_youth_id=youth_id,
                                        existing_youth_for_case_ref=existing)
        if isinstance(decided, list):
            return decided, [], existing
        youth = Youth(youth_id=youth_id, registering_agency=decided.registering_agency, partner_case_ref=decided.partner_case_ref,
                      birth_year=decided.birth_year, country=decided.country, region=decided.region, meta=meta)
        ref = CaseReference(agency=envelope.kitagency, case_ref=command.partner_case_ref, youth_id=youth_id)
        return [integration_event_id(uuid.UUID(youth_id), 1)], [youth, ref], youth_id
    raise AssertionError(f"no handler for {type(command).__name__}")  # registry and handlers out of sync
