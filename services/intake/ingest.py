"""Handling one partner message from `kit.ingest.<agency>`: validate, decide, record, answer.

The receipt is stored with the effect in one transaction (an IngestReceipt aggregate keyed by
agency and CloudEvent id), so a redelivered or re-sent message finds it and changes nothing.
A fetched batch is decided in order and stored in one transaction: one commit per batch.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from eventsourcing.application import AggregateNotFoundError

from events import intake as ev
from events.envelope import CloudEvent
from events.receipts import Reason, Receipt
from events.registry import INGEST_TYPES, model_for
from shared.roles import ROLES
from services.intake.aggregates import (CaseReference, EngagementHistory, History, IngestReceipt, PersonKey,
                                        YouthCase, case_reference_id, engagement_id, integration_event_id,
                                        person_key_id, receipt_id)
from services.intake.application import IntakeApplication
from services.intake.decisions import Context, decide, decide_merge, decide_outreach_contact, decide_register_youth
from services.intake.identity import IdentityVault
from services.intake.policy import Policy


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


@dataclass
class Intake:
    """What handling a message needs: the store, the policy, the vault."""

    app: IntakeApplication
    policy: Policy
    vault: IdentityVault


class Lookups:
    """What the decisions of one batch read, answered from the batch itself first (two messages
    of one batch may touch the same youth or key), then from the store. Everything touched is
    saved together at the end of the batch."""

    def __init__(self, intake: Intake, keys: list[uuid.UUID]):
        self.intake = intake
        self.app = intake.app
        self.stored = self.app.existing_ids(keys)
        self.receipts: dict[uuid.UUID, dict[str, Any]] = {}
        self.case_refs: dict[uuid.UUID, str] = {}
        self.people: dict[uuid.UUID, str] = {}
        self.histories: dict[uuid.UUID, History] = {}
        self.indexes: list[CaseReference | PersonKey] = []

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

    def person_owner(self, pseudonym: str) -> str | None:
        key = person_key_id(pseudonym)
        return self.people[key] if key in self.people else self.app.youth_for_person(pseudonym)

    def history(self, aggregate_id: uuid.UUID) -> History | None:
        if aggregate_id not in self.histories:
            try:
                self.histories[aggregate_id] = self.app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
        return self.histories[aggregate_id]

    def claim_case_ref(self, agency: str, case_ref: str, youth_id: str) -> None:
        ref = CaseReference(agency=agency, case_ref=case_ref, youth_id=youth_id)
        self.case_refs[ref.id] = youth_id
        self.indexes.append(ref)

    def claim_person(self, pseudonym: str, youth_id: str) -> None:
        key = PersonKey(pseudonym=pseudonym, youth_id=youth_id)
        self.people[key.id] = youth_id
        self.indexes.append(key)

    def to_save(self) -> list[Any]:
        return [*self.histories.values(), *self.indexes]


def due_run(sequences: list[int], oldest_pending: int) -> int:
    """How many of these sorted stream sequences form the unbroken run that starts at the oldest
    message not yet handled: those may be handled now, in order; the others must wait."""
    count = 0
    for seq in sequences:
        if seq != oldest_pending + count:
            break
        count += 1
    return count


@dataclass(frozen=True)
class Incoming:
    agency: str  # from the subject the partner published on
    raw: bytes
    stream_seq: int

    @cached_property
    def ingest_id(self) -> str:
        return ingest_id_of(self.raw, self.stream_seq)


def handle_ingest(intake: Intake, batch: list[Incoming], now: datetime) -> list[tuple[dict[str, Any], bool]]:
    """Decide every message of the batch and store all effects and receipts in one transaction.

    Returns (receipt, is_new) per message; a message answered before (redelivered, or re-sent
    with the same CloudEvent id) gets its first receipt back and changes nothing. If a concurrent
    replica wrote one of the same keys meanwhile, the batch is decided again, message by message.
    """
    outcomes, aggregates = decide_batch(intake, batch, now)
    if intake.app.record(*aggregates):
        return outcomes
    if len(batch) > 1:
        return [outcome for incoming in batch for outcome in handle_ingest(intake, [incoming], now)]
    for _attempt in range(3):
        outcomes, aggregates = decide_batch(intake, batch, now)
        if intake.app.record(*aggregates):
            return outcomes
    raise RuntimeError("conflicting concurrent writes for one ingest message")


def decide_batch(intake: Intake, batch: list[Incoming], now: datetime):
    parsed = [parse_ingest(i.agency, i.raw) for i in batch]
    keys = [receipt_id(i.agency, i.ingest_id) for i in batch]
    keys += [case_reference_id(p[0].kitagency, p[1].partner_case_ref) for p in parsed
             if not isinstance(p, list) and isinstance(p[1], ev.RegisterYouth)]
    lookups = Lookups(intake, keys)
    outcomes: list[tuple[dict[str, Any], bool]] = []
    receipts: list[Any] = []
    for incoming, parsed_one in zip(batch, parsed, strict=True):
        existing = lookups.receipt(incoming.agency, incoming.ingest_id)
        if existing is not None:
            outcomes.append((existing, False))
            continue
        receipt = answer(lookups, incoming.agency, incoming.ingest_id, parsed_one, now)
        lookups.receipts[receipt_id(incoming.agency, incoming.ingest_id)] = receipt
        outcomes.append((receipt, True))
        receipts.append(IngestReceipt(agency=incoming.agency, ingest_id=incoming.ingest_id, receipt=receipt))
    return outcomes, [*lookups.to_save(), *receipts]


@dataclass(frozen=True)
class Accepted:
    event_ids: list[str]
    subject: str | None
    notices: list[Reason] = field(default_factory=list)


@dataclass(frozen=True)
class Rejected:
    reasons: list[Reason]
    subject: str | None = None


def answer(lookups: Lookups, agency: str, ingest_id: str, parsed, now: datetime) -> dict[str, Any]:
    """The receipt for one message; its effects (if accepted) are left in `lookups` to be saved."""
    if isinstance(parsed, list):
        outcome: Accepted | Rejected = Rejected(parsed)
    else:
        envelope, command = parsed
        outcome = apply_command(lookups, envelope, command, now)
    if isinstance(outcome, Rejected):
        receipt = Receipt(ingest_id=ingest_id, agency=agency, status="rejected", reasons=outcome.reasons,
                          subject=outcome.subject, recorded_at=now)
    else:
        receipt = Receipt(ingest_id=ingest_id, agency=agency, status="accepted", event_ids=outcome.event_ids,
                          subject=outcome.subject, notices=outcome.notices, recorded_at=now)
    return receipt.model_dump(mode="json", exclude_defaults=False)


def apply_command(lookups: Lookups, envelope: CloudEvent, command: Any, now: datetime) -> Accepted | Rejected:
    ctx = Context(agency=envelope.kitagency, role=envelope.kitrole or "partner_system", now=now,
                  policy=lookups.intake.policy, actor=envelope.kitactor)
    if ctx.role not in ROLES:
        return Rejected([Reason(field="kitrole", code="unknown_role", message=f"roles: {', '.join(ROLES)}")])
    if ctx.policy.agency(ctx.agency) is None:
        return Rejected([Reason(field="kitagency", code="unknown_agency",
                                message="this agency is not in the platform's agency register")])
    meta = {"agency": ctx.agency, "actor": ctx.actor, "role": ctx.role, "ingest_id": envelope.id,
            "correlation_id": envelope.kitcorrelationid, "causation_id": envelope.id}
    if isinstance(command, ev.RegisterYouth):
        return _register(lookups, ctx, meta, command)
    if isinstance(command, ev.RecordOutreachContact):
        return _outreach(lookups, ctx, meta, command)
    if isinstance(command, ev.MergeYouths):
        return _merge(lookups, ctx, meta, command)
    return _youth_command(lookups, ctx, meta, command)


def record(history: History, events: list[ev.Event], meta: dict[str, Any]) -> list[str]:
    ids = []
    for event in events:
        history.record(event, meta)
        ids.append(integration_event_id(history.id, history.version))
    return ids


def start(lookups: Lookups, cls: type[History], aggregate_id: uuid.UUID, events: list[ev.Event],
          meta: dict[str, Any]) -> list[str]:
    history = cls.start(aggregate_id, events[0], meta)
    lookups.histories[aggregate_id] = history
    return [integration_event_id(aggregate_id, 1), *record(history, events[1:], meta)]


def unknown_youth(field: str = "data.youth_id") -> Rejected:
    return Rejected([Reason(field=field, code="unknown_youth", message="no youth with this id")])


def _register(lookups: Lookups, ctx: Context, meta: dict[str, Any], c: ev.RegisterYouth) -> Accepted | Rejected:
    vault = lookups.intake.vault
    existing = lookups.case_ref_owner(ctx.agency, c.partner_case_ref)
    checked = None
    if c.sealed_identity is not None:
        checked = vault.open(c.sealed_identity, ctx.policy.agency(ctx.agency), "data.sealed_identity")
        if isinstance(checked, list):
            return Rejected(checked, subject=existing)
    owner = lookups.person_owner(checked.pseudonym) if checked and checked.pseudonym else None
    matched = lookups.history(uuid.UUID(owner)) if owner else None
    while isinstance(matched, YouthCase) and matched.state.merged_into:  # the person lives on in the survivor
        matched = lookups.history(uuid.UUID(matched.state.merged_into))
    engagement = (lookups.history(engagement_id(vault.pseudonym_key, ctx.agency, c.engagement_handle))
                  if c.engagement_handle else None)
    new_id = str(uuid.uuid4())
    if checked is not None and matched is None:
        ciphertext = vault.encrypt(new_id, checked.identity)
        if isinstance(ciphertext, list):
            return Rejected(ciphertext)
        ctx = replace(ctx, identity_ciphertext=ciphertext)
    decided = decide_register_youth(c, ctx, new_youth_id=new_id, existing_youth_for_case_ref=existing,
                                    matched=matched.state if matched else None,
                                    engagement=engagement.state if engagement else None)
    if isinstance(decided, list):
        return Rejected(decided, subject=existing)
    if matched is not None:
        event_ids = record(matched, decided.youth_events, meta)
    else:
        event_ids = start(lookups, YouthCase, uuid.UUID(new_id), decided.youth_events, meta)
        if checked is not None and checked.pseudonym:
            lookups.claim_person(checked.pseudonym, new_id)
    if engagement is not None:
        event_ids += record(engagement, decided.engagement_events, meta)
    lookups.claim_case_ref(ctx.agency, c.partner_case_ref, decided.youth_id)
    return Accepted(event_ids, decided.youth_id, decided.notices)


def _outreach(lookups: Lookups, ctx: Context, meta: dict[str, Any], c: ev.RecordOutreachContact) -> Accepted | Rejected:
    eid = engagement_id(lookups.intake.vault.pseudonym_key, ctx.agency, c.handle)
    ciphertext = lookups.intake.vault.encrypt_text(str(eid), c.handle)
    if isinstance(ciphertext, list):
        return Rejected(ciphertext)
    ctx = replace(ctx, identity_ciphertext=ciphertext)
    history = lookups.history(eid)
    decided = decide_outreach_contact(c, ctx, engagement_id=str(eid), engagement=history.state if history else None)
    if isinstance(decided, list) and decided and isinstance(decided[0], Reason):
        return Rejected(decided, subject=str(eid))  # type: ignore[arg-type]
    ids = record(history, decided, meta) if history else start(lookups, EngagementHistory, eid, decided, meta)  # type: ignore[arg-type]
    return Accepted(ids, str(eid))


def _merge(lookups: Lookups, ctx: Context, meta: dict[str, Any], c: ev.MergeYouths) -> Accepted | Rejected:
    survivor, duplicate = lookups.history(uuid.UUID(c.youth_id)), lookups.history(uuid.UUID(c.duplicate_youth_id))
    if not isinstance(survivor, YouthCase):
        return unknown_youth()
    if not isinstance(duplicate, YouthCase):
        return unknown_youth("data.duplicate_youth_id")
    decided = decide_merge(survivor.state, duplicate.state, c, ctx)
    if isinstance(decided, list):
        return Rejected(decided, subject=c.youth_id)
    return Accepted([*record(survivor, decided[0], meta), *record(duplicate, decided[1], meta)], c.youth_id)


def _youth_command(lookups: Lookups, ctx: Context, meta: dict[str, Any], command: Any) -> Accepted | Rejected:
    history = lookups.history(uuid.UUID(command.youth_id))
    if not isinstance(history, YouthCase):
        return unknown_youth()
    sealed = getattr(command, "sealed_identity", None)
    pseudonym = None
    if sealed is not None:
        checked = lookups.intake.vault.open(sealed, ctx.policy.agency(ctx.agency), "data.sealed_identity")
        if isinstance(checked, list):
            return Rejected(checked, subject=command.youth_id)
        if isinstance(command, ev.RecordIdentity) and checked.pseudonym:
            owner = lookups.person_owner(checked.pseudonym)
            if owner not in (None, command.youth_id):
                return Rejected([Reason(field="data.sealed_identity", code="national_id_of_another_youth",
                                        message=f"this national id belongs to youth {owner}: ask an authorised "
                                                "operator to merge the two records")], subject=command.youth_id)
            pseudonym = checked.pseudonym if owner is None else None
        ciphertext = lookups.intake.vault.encrypt(command.youth_id, checked.identity)
        if isinstance(ciphertext, list):
            return Rejected(ciphertext, subject=command.youth_id)
        ctx = replace(ctx, identity_ciphertext=ciphertext)
    decided = decide(history.state, command, ctx)
    if decided and isinstance(decided[0], Reason):
        return Rejected(decided, subject=command.youth_id)  # type: ignore[arg-type]
    for event in decided:
        if isinstance(event, ev.YouthErased):  # destroy first: if the save then fails, the redelivery records it
            for owner in event.keys_destroyed:
                lookups.intake.vault.keys.destroy(owner)
    if pseudonym:
        lookups.claim_person(pseudonym, command.youth_id)
    return Accepted(record(history, decided, meta), command.youth_id)  # type: ignore[arg-type]
