"""The command-handling runtime every service with commands runs on, written once:

    a batch of commands -> parse against the contract -> decide (the service's handler: load what
    it needs, call its pure decisions) -> one transaction with the events, the indexes and one
    receipt per command -> (the outbox relay publishes them)

- Idempotence: the receipt is stored with the effect, keyed by (sending agency, CloudEvent id); a
  redelivered or re-sent command finds it, changes nothing, and is answered again.
- The sender is the agency of the subject the command arrived on (only the gateway and the HTTP
  API publish there, with the agency the partner's own NATS user or the operator's token names):
  a `kitagency` that claims another agency is refused, and the receipt goes to the sender.
- Concurrency: a batch whose save meets a concurrent writer of the same keys is decided again,
  command by command, on what the other writer saved.
- Scheduled commands of the platform itself (`submit`) take the same path, with the platform as
  the sender and a receipt keyed by what makes them unique (so a scan run twice records once).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from events.base import Message
from events.envelope import ID_PATTERN, CloudEvent
from events.receipts import Reason, Receipt as ReceiptMessage
from kit.store import History, Receipt, Store, integration_event_id, receipt_id
from kit.streams import COMMANDS_STREAM

PLATFORM_AGENCY = "kit-platform"  # the sender of the platform's own scheduled commands
PLATFORM_ROLE = "platform"
VALID_ID = re.compile(ID_PATTERN.removeprefix("^").removesuffix("$"))


def reasons_from(error: ValidationError, prefix: str = "") -> list[Reason]:
    """Pydantic errors as reasons; the offending input is never echoed (it may be personal): not
    its value, not the name of a field the contract does not have (a key can be a name too)."""
    return [Reason(field=".".join([prefix, *map(str, loc)]).strip("."), code=code, message=message)
            for loc, code, message in safe_errors(error.errors(include_input=False, include_url=False))]


def safe_errors(errors: Iterable[Mapping[str, Any]]) -> list[tuple[tuple, str, str]]:
    """(location, code, message) of each validation error, fit to show the sender."""
    shown = []
    for e in errors:
        loc, code, message = tuple(e["loc"]), e["type"], e["msg"]
        if code == "extra_forbidden":
            loc, message = loc[:-1], "a field that is not in the contract (see its JSON Schema)"
        elif code in QUOTING_ERRORS:
            message = QUOTING_ERRORS[code]
        shown.append((loc, code, message))
    return shown


# pydantic messages that quote part of the input
QUOTING_ERRORS = {"uuid_parsing": "Input should be a valid UUID", "url_parsing": "Input should be a valid URL"}


def ingest_id_of(raw: bytes, stream_seq: int, stream: str = COMMANDS_STREAM) -> str:
    """The key of the receipt: the CloudEvent id when it is a valid one, else `<stream>/<sequence>`
    (a `/` is never in a valid id, so no message can take another's key)."""
    try:
        value = json.loads(raw).get("id")
    except Exception:
        value = None
    if isinstance(value, str) and VALID_ID.fullmatch(value):
        return value
    return f"{stream}/{stream_seq}"


def parse_envelope(sender: str, raw: bytes) -> CloudEvent | list[Reason]:
    """The CloudEvent envelope, and whether the agency it names is the one that sent it."""
    try:
        envelope = CloudEvent.model_validate_json(raw)
    except ValidationError as e:
        first = e.errors(include_input=False)[0]
        if first["type"] == "json_invalid":
            return [Reason(field="", code="invalid_json", message=f"the message is not JSON: {first['msg']}")]
        if first["type"] == "model_type" and not first["loc"]:
            return [Reason(field="", code="invalid_cloudevent", message="a structured CloudEvent is a JSON object")]
        return reasons_from(e)
    if envelope.kitagency != sender:
        return [Reason(field="kitagency", code="agency_mismatch",
                       message=f"kitagency must be the agency you publish as ({sender})")]
    return envelope


def unknown_type(type_name: str, accepted: Iterable[str]) -> list[Reason]:
    return [Reason(field="type", code="unknown_type",
                   message=f"{type_name} is not a command the platform takes; accepted: {', '.join(sorted(accepted))}")]


def parse_command(sender: str, raw: bytes, commands: Mapping[str, type[Message]],
                  also_accepted: Iterable[str] = ()) -> tuple[CloudEvent, Message] | list[Reason]:
    """Envelope, the sender's agency, then the payload against the contract of its type (one of
    `commands`; `also_accepted` only completes the list an `unknown_type` reason gives)."""
    envelope = parse_envelope(sender, raw)
    if isinstance(envelope, list):
        return envelope
    model = commands.get(envelope.type)
    if model is None:
        return unknown_type(envelope.type, {*commands, *also_accepted})
    try:
        return envelope, model.model_validate(envelope.data)
    except ValidationError as e:
        return reasons_from(e, prefix="data")


@dataclass(frozen=True)
class Incoming:
    agency: str  # the sender: the agency of the subject it arrived on
    raw: bytes
    stream_seq: int

    @cached_property
    def ingest_id(self) -> str:
        return ingest_id_of(self.raw, self.stream_seq)


@dataclass(frozen=True)
class Sender:
    """Who sent a command and in which flow, as the runtime checked it."""

    agency: str
    role: str
    actor: str | None
    ingest_id: str | None
    correlation_id: str
    causation_id: str | None

    def meta(self) -> dict[str, Any]:
        """What every recorded event carries along (the relay puts it in the CloudEvent)."""
        return {"agency": self.agency, "actor": self.actor, "role": self.role, "ingest_id": self.ingest_id,
                "correlation_id": self.correlation_id, "causation_id": self.causation_id}


@dataclass(frozen=True)
class Accepted:
    event_ids: list[str]
    subject: str | None
    notices: list[Reason] = field(default_factory=list)


@dataclass(frozen=True)
class Rejected:
    reasons: list[Reason]
    subject: str | None = None


class Work:
    """The unit of work of one batch: what the handlers read, answered from the batch itself first
    (two commands of one batch may touch the same aggregate), then from the store; everything
    touched is saved together at the end."""

    def __init__(self, store: Store, known: Iterable[uuid.UUID] = ()):
        self.store = store
        self.stored: set[uuid.UUID] = set()  # of the ids asked about up front: those that exist
        self.asked: set[uuid.UUID] = set()
        self.loaded: dict[uuid.UUID, Any] = {}
        self.added: list[Any] = []
        self.notes: dict[Any, Any] = {}  # what a handler worked out ahead for the batch (see `Prefetch`)
        self.ask(known)

    def ask(self, ids: Iterable[uuid.UUID]) -> None:
        """Which of these aggregates exist, in one query: a later `get` of one that does not is
        answered without a query."""
        keys = [i for i in ids if i not in self.asked]
        self.stored |= self.store.existing_ids(keys)
        self.asked |= set(keys)

    def get(self, aggregate_id: uuid.UUID) -> Any | None:
        if aggregate_id in self.loaded:
            return self.loaded[aggregate_id]
        if aggregate_id in self.asked and aggregate_id not in self.stored:
            return None  # known up front not to exist: no query
        aggregate = self.store.get(aggregate_id)
        if aggregate is not None:
            self.loaded[aggregate_id] = aggregate
        return aggregate

    def add(self, aggregate: Any) -> None:
        """A new aggregate (a history, an index entry, a receipt): saved with the batch."""
        self.loaded[aggregate.id] = aggregate
        self.added.append(aggregate)

    def start(self, cls: type[History], aggregate_id: uuid.UUID, events: Sequence[Message], sender: Sender) -> list[str]:
        history = cls.start(aggregate_id, events[0], sender.meta())
        self.add(history)
        return [integration_event_id(aggregate_id, 1, self.store.name), *self.record(history, events[1:], sender)]

    def record(self, history: History, events: Iterable[Message], sender: Sender) -> list[str]:
        ids = []
        for message in events:
            history.record(message, sender.meta())
            ids.append(integration_event_id(history.id, history.version, self.store.name))
        return ids

    def to_save(self) -> list[Any]:
        added = {id(a) for a in self.added}
        return [*(a for a in self.loaded.values() if id(a) not in added), *self.added]


Handler = Callable[[Work, CloudEvent, Message, Sender, datetime], "Accepted | Rejected"]
"""A service's handling of one command: load what it needs through `work`, decide (pure), record."""

Prefetch = Callable[[Work, CloudEvent, Message], Iterable[uuid.UUID]]
"""Aggregate ids the handler will look up for this command, asked about once for the whole batch
(what it worked out to find them, e.g. an unsealed identity, it may keep in `work.notes`)."""


def _no_prefetch(work: Work, envelope: CloudEvent, command: Message) -> Iterable[uuid.UUID]:
    return ()


@dataclass
class Runtime:
    """One service's commands: `handle` (partners and operators) and `submit` (the platform's own)."""

    store: Store
    commands: dict[str, type[Message]]  # the types this service handles
    handler: Handler
    is_known_agency: Callable[[str], bool]
    roles: Sequence[str]
    prefetch: Prefetch = _no_prefetch
    accepted_elsewhere: Callable[[], Iterable[str]] = lambda: ()  # for the `unknown_type` reason

    def parse(self, incoming: Incoming) -> tuple[CloudEvent, Message] | list[Reason]:
        return parse_command(incoming.agency, incoming.raw, self.commands, self.accepted_elsewhere())

    def handle(self, batch: list[Incoming], now: datetime) -> list[tuple[dict[str, Any], bool]]:
        """Decide every command of the batch and store all effects and receipts in one transaction.

        Returns (receipt, is_new) per command; a command answered before gets its first receipt
        back and changes nothing. If a concurrent writer saved one of the same keys meanwhile, the
        batch is decided again, command by command."""
        outcomes, work = self._decide(batch, now)
        if self.store.record(*work.to_save()):
            return outcomes
        if len(batch) > 1:
            return [outcome for incoming in batch for outcome in self.handle([incoming], now)]
        for _attempt in range(3):
            outcomes, work = self._decide(batch, now)
            if self.store.record(*work.to_save()):
                return outcomes
        raise RuntimeError("conflicting concurrent writes for one command")

    def submit(self, commands: Sequence[tuple[str, Message]], now: datetime,
               actor: str) -> list[tuple[dict[str, Any], bool]]:
        """The platform's own commands (a scheduler's), each with the key that makes it unique:
        decided and saved as partners' commands are, one transaction each. (receipt, is_new) per
        command; nothing is saved for one that changed nothing (not due)."""
        results = []
        for key, command in commands:
            envelope = CloudEvent(specversion="1.0", id=key, source=f"urn:kit:{actor}", type=command.type_name,
                                  time=now, dataschema="internal", kitagency=PLATFORM_AGENCY, kitcorrelationid=key,
                                  kitactor=actor, kitrole=PLATFORM_ROLE, kitclassification=command.classification,
                                  data=command.model_dump(mode="json"))
            for _attempt in range(3):
                work = Work(self.store, [receipt_id(PLATFORM_AGENCY, key)])
                receipt, is_new = self._answer(work, PLATFORM_AGENCY, key, (envelope, command), now, trusted=True)
                if not (is_new and receipt["event_ids"]):  # done before, or nothing to record (not due)
                    results.append((receipt, False))
                    break
                if self.store.record(*work.to_save()):
                    results.append((receipt, True))
                    break
        return results

    def _decide(self, batch: list[Incoming], now: datetime) -> tuple[list[tuple[dict[str, Any], bool]], Work]:
        parsed = [self.parse(i) for i in batch]
        work = Work(self.store)
        keys = [receipt_id(i.agency, i.ingest_id) for i in batch]
        keys += [key for p in parsed if not isinstance(p, list) for key in self.prefetch(work, *p)]
        work.ask(keys)
        outcomes = [self._answer(work, incoming.agency, incoming.ingest_id, parsed_one, now)
                    for incoming, parsed_one in zip(batch, parsed, strict=True)]
        return outcomes, work

    def _answer(self, work: Work, agency: str, ingest_id: str, parsed, now: datetime,
                trusted: bool = False) -> tuple[dict[str, Any], bool]:
        """The receipt for one command (its effects, if accepted, are left in `work` to be saved)."""
        existing = work.get(receipt_id(agency, ingest_id))
        if existing is not None:
            return existing.receipt, False
        if isinstance(parsed, list):
            outcome: Accepted | Rejected = Rejected(parsed)
        else:
            outcome = self._apply(work, *parsed, now, trusted)
        if isinstance(outcome, Rejected):
            receipt = ReceiptMessage(ingest_id=ingest_id, agency=agency, status="rejected", reasons=outcome.reasons,
                                     subject=outcome.subject, recorded_at=now)
        else:
            receipt = ReceiptMessage(ingest_id=ingest_id, agency=agency, status="accepted", event_ids=outcome.event_ids,
                                     subject=outcome.subject, notices=outcome.notices, recorded_at=now)
        answer = receipt.model_dump(mode="json", exclude_defaults=False)
        work.add(Receipt(agency=agency, ingest_id=ingest_id, receipt=answer))
        return answer, True

    def _apply(self, work: Work, envelope: CloudEvent, command: Message, now: datetime,
               trusted: bool) -> Accepted | Rejected:
        sender = Sender(agency=envelope.kitagency, role=envelope.kitrole or "partner_system", actor=envelope.kitactor,
                        ingest_id=None if trusted else envelope.id, correlation_id=envelope.kitcorrelationid,
                        causation_id=None if trusted else envelope.id)
        if not trusted:
            if sender.role not in self.roles:
                return Rejected([Reason(field="kitrole", code="unknown_role", message=f"roles: {', '.join(self.roles)}")])
            if not self.is_known_agency(sender.agency):
                return Rejected([Reason(field="kitagency", code="unknown_agency",
                                        message="this agency is not in the platform's agency register")])
        return self.handler(work, envelope, command, sender, now)


def ordering_key(raw: bytes) -> str:
    """What orders a command against others: the youth it is about (`data.youth_id`, else the
    envelope's subject), else its agency and id (nothing to wait for)."""
    try:
        body = json.loads(raw)
        data = body.get("data") if isinstance(body, dict) else None
        youth = data.get("youth_id") if isinstance(data, dict) else None
        key = youth if isinstance(youth, str) else body.get("subject")
        if isinstance(key, str):
            return f"youth:{key}"
        return f"message:{body.get('kitagency')}:{body.get('id')}"
    except Exception:  # noqa: BLE001 - unreadable: on its own
        return f"raw:{hash(raw)}"
