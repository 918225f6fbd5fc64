"""Handling one partner message from `kit.ingest.<agency>`: validate, decide, record, answer.

The receipt is stored with the effect in one transaction (an IngestReceipt aggregate keyed by
agency and CloudEvent id), so a redelivered or re-sent message finds it and changes nothing.
A fetched batch is decided in order and stored in one transaction: one commit per batch.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from events.envelope import CloudEvent
from events.intake import RegisterYouth
from events.receipts import Reason, Receipt
from events.registry import INGEST_TYPES, model_for
from services.intake.aggregates import (CaseReference, IngestReceipt, Youth, case_reference_id,
                                        integration_event_id, receipt_id)
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
        envelope = CloudEvent.model_validate_json(raw)
    except ValidationError as e:
        first = e.errors(include_input=False)[0]
        if first["type"] == "json_invalid":
            return [Reason(field="", code="invalid_json", message=f"the message is not JSON: {first['msg']}")]
        if first["type"] == "model_type" and not first["loc"]:
            return [Reason(field="", code="invalid_cloudevent", message="a structured CloudEvent is a JSON object")]
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


class Lookups:
    """What the decisions of one batch need to know, prefetched in one query.

    Answers from the batch itself first (two messages of one batch may touch the same key),
    then from the store.
    """

    def __init__(self, app: IntakeApplication, keys: list[uuid.UUID]):
        self.app = app
        self.stored = app.existing_ids(keys)
        self.receipts: dict[uuid.UUID, dict[str, Any]] = {}
        self.case_refs: dict[uuid.UUID, str] = {}

    def receipt(self, agency: str, ingest_id: str) -> dict[str, Any] | None:
        key = receipt_id(agency, ingest_id)
        if key in self.receipts:
            return self.receipts[key]
        return self.app.existing_receipt(agency, ingest_id) if key in self.stored else None

    def case_ref_owner(self, agency: str, case_ref: str) -> str | None:
        key = case_reference_id(agency, case_ref)
        if key in self.case_refs:
            return self.case_refs[key]
        return self.app.youth_for_case_ref(agency, case_ref) if key in self.stored else None


@dataclass(frozen=True)
class Incoming:
    agency: str  # from the subject the partner published on
    raw: bytes
    stream_seq: int

    @cached_property
    def ingest_id(self) -> str:
        return ingest_id_of(self.raw, self.stream_seq)


def handle_ingest(app: IntakeApplication, batch: list[Incoming], now: datetime) -> list[tuple[dict[str, Any], bool]]:
    """Decide every message of the batch and store all effects and receipts in one transaction.

    Returns (receipt, is_new) per message; a message answered before (redelivered, or re-sent
    with the same CloudEvent id) gets its first receipt back and changes nothing. If a concurrent
    replica wrote one of the same keys meanwhile, the batch is decided again, message by message.
    """
    outcomes, aggregates = decide_batch(app, batch, now)
    if app.record(*aggregates):
        return outcomes
    if len(batch) > 1:
        return [outcome for incoming in batch for outcome in handle_ingest(app, [incoming], now)]
    for _attempt in range(3):
        outcomes, aggregates = decide_batch(app, batch, now)
        if app.record(*aggregates):
            return outcomes
    raise RuntimeError("conflicting concurrent writes for one ingest message")


def decide_batch(app: IntakeApplication, batch: list[Incoming], now: datetime):
    parsed = [parse_ingest(i.agency, i.raw) for i in batch]
    keys = [receipt_id(i.agency, i.ingest_id) for i in batch]
    keys += [case_reference_id(p[0].kitagency, p[1].partner_case_ref) for p in parsed
             if not isinstance(p, list) and isinstance(p[1], RegisterYouth)]
    lookups = Lookups(app, keys)
    outcomes: list[tuple[dict[str, Any], bool]] = []
    aggregates: list[Any] = []
    for incoming, parsed_one in zip(batch, parsed, strict=True):
        existing = lookups.receipt(incoming.agency, incoming.ingest_id)
        if existing is not None:
            outcomes.append((existing, False))
            continue
        receipt, new = decide(lookups, incoming.agency, incoming.ingest_id, parsed_one, now)
        lookups.receipts[receipt_id(incoming.agency, incoming.ingest_id)] = receipt
        outcomes.append((receipt, True))
        aggregates += new
    return outcomes, aggregates


@dataclass(frozen=True)
class Accepted:
    event_ids: list[str]
    aggregates: list[Any]
    subject: str | None


@dataclass(frozen=True)
class Rejected:
    reasons: list[Reason]
    subject: str | None = None


def decide(lookups: Lookups, agency: str, ingest_id: str, parsed, now: datetime):
    """The receipt for one message, and what to store: its effects (if accepted) and the receipt."""
    if isinstance(parsed, list):
        outcome: Accepted | Rejected = Rejected(parsed)
    else:
        envelope, command = parsed
        outcome = apply_command(lookups, envelope, command, now)
    if isinstance(outcome, Rejected):
        receipt = Receipt(ingest_id=ingest_id, agency=agency, status="rejected", reasons=outcome.reasons,
                          subject=outcome.subject, recorded_at=now)
        effects: list[Any] = []
    else:
        receipt = Receipt(ingest_id=ingest_id, agency=agency, status="accepted", event_ids=outcome.event_ids,
                          subject=outcome.subject, recorded_at=now)
        effects = outcome.aggregates
    receipt_json = receipt.model_dump(mode="json")
    return receipt_json, [*effects, IngestReceipt(agency=agency, ingest_id=ingest_id, receipt=receipt_json)]


def apply_command(lookups: Lookups, envelope: CloudEvent, command: Any, now: datetime) -> Accepted | Rejected:
    meta = {
        "agency": envelope.kitagency, "actor": envelope.kitactor, "ingest_id": envelope.id,
        "correlation_id": envelope.kitcorrelationid, "causation_id": envelope.id,
    }
    if isinstance(command, RegisterYouth):
        existing = lookups.case_ref_owner(envelope.kitagency, command.partner_case_ref)
        youth_id = str(uuid.uuid4())
        decided = decide_register_youth(command, agency=envelope.kitagency, now=now, new_youth_id=youth_id,
                                        existing_youth_for_case_ref=existing)
        if isinstance(decided, list):
            return Rejected(decided, subject=existing)
        youth = Youth(youth_id=youth_id, registering_agency=decided.registering_agency,
                      partner_case_ref=decided.partner_case_ref, birth_year=decided.birth_year,
                      country=decided.country, region=decided.region, meta=meta)
        ref = CaseReference(agency=envelope.kitagency, case_ref=command.partner_case_ref, youth_id=youth_id)
        lookups.case_refs[ref.id] = youth_id
        return Accepted([integration_event_id(uuid.UUID(youth_id), 1)], [youth, ref], youth_id)
    raise AssertionError(f"no handler for {type(command).__name__}")  # registry and handlers out of sync
