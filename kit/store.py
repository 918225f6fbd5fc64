"""A service's event store: an eventsourcing Application in the service's own schema, with the two
aggregates every command-handling service has.

- `History`: a stream of the service's domain events (the pydantic models of `events/<service>.py`),
  each stored with its type name, data and `meta` (agency, actor, role, correlation, causation and
  ingest ids), which the relay needs to build the integration CloudEvent. A subclass says how its
  state is folded and which messages it holds; its topics are explicit and stable.
- `Receipt`: the outcome of one command, keyed by (sending agency, CloudEvent id): the idempotency
  key. Stored in the same transaction as the command's effect.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import register_topic
from psycopg import sql

from events.base import Message

NAMESPACE = uuid.UUID("8d2c6f0e-3b1a-4c5d-9e7f-1a2b3c4d5e6f")
_in_hand: ContextVar[Message | None] = ContextVar("message_in_hand", default=None)  # being recorded now


def receipt_id(agency: str, ingest_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"receipt/{agency}/{ingest_id}")


# Stores whose integration event ids were published before the ids named their store: theirs stay
# as they were (a republished event must keep its id).
UNNAMED_EVENT_IDS = frozenset({"intake"})


def integration_event_id(originator_id: uuid.UUID, originator_version: int, store: str) -> str:
    """Deterministic, so a republished event keeps its CloudEvent id and its Nats-Msg-Id; named by
    the store, because two services keep histories under the same id (a youth's, in each)."""
    if store in UNNAMED_EVENT_IDS:
        return str(uuid.uuid5(NAMESPACE, f"event/{originator_id}/{originator_version}"))
    return str(uuid.uuid5(NAMESPACE, f"event/{store}/{originator_id}/{originator_version}"))


class History(Aggregate):
    """A stream of domain events; subclasses say how state is folded from them (`_fold`) and which
    message models they hold (`messages`)."""

    TOPIC = "kit:History"
    messages = {}  # type name -> message model (no annotation: eventsourcing would take it for a field)

    class Created(Aggregate.Created):
        TOPIC = "kit:History.Created"

    class Started(Aggregate.Created):
        TOPIC = "kit:History.Started"
        type_name: str
        data: dict[str, Any]
        meta: dict[str, Any]

    class Recorded(Aggregate.Event):
        TOPIC = "kit:History.Recorded"
        type_name: str
        data: dict[str, Any]
        meta: dict[str, Any]

        def apply(self, aggregate: History) -> None:
            aggregate._fold(aggregate.message_of(self.type_name, self.data), self.timestamp)

    def __init__(self, type_name: str, data: dict[str, Any], meta: dict[str, Any]):
        self.state: Any = None
        self._fold(self.message_of(type_name, data), self._created_on)

    @classmethod
    def message_of(cls, type_name: str, data: dict[str, Any]) -> Message:
        """The stored event's message; the one being recorded right now needs no parsing again."""
        in_hand = _in_hand.get()
        if in_hand is not None and in_hand.type_name == type_name:
            return in_hand
        return cls.messages[type_name].model_validate(data)

    def _fold(self, message: Message, at: datetime) -> None:
        raise NotImplementedError

    def __deepcopy__(self, memo: dict) -> History:
        """What the store's aggregate cache hands out: a copy whose recording leaves the cached one
        as it was. The state is immutable (each event folds a new one), so it is shared, not copied."""
        copied = object.__new__(type(self))
        copied.__dict__ = {k: list(v) if isinstance(v, list) else v for k, v in self.__dict__.items()}
        return copied

    @classmethod
    def start(cls, aggregate_id: uuid.UUID, message: Message, meta: dict[str, Any]):
        token = _in_hand.set(message)
        try:
            return cls._create(cls.Started, id=aggregate_id, type_name=message.type_name,
                               data=message.model_dump(mode="json"), meta=meta)
        finally:
            _in_hand.reset(token)

    def record(self, message: Message, meta: dict[str, Any]) -> None:
        token = _in_hand.set(message)
        try:
            self.trigger_event(self.Recorded, type_name=message.type_name, data=message.model_dump(mode="json"),
                               meta=meta)
        finally:
            _in_hand.reset(token)


class Receipt(Aggregate):
    """The outcome of one command, keyed by (agency, CloudEvent id): the idempotency key."""

    TOPIC = "kit:Receipt"

    class Created(Aggregate.Created):
        TOPIC = "kit:Receipt.Created"

    class Recorded(Aggregate.Created):
        TOPIC = "kit:Receipt.Recorded.v1"
        agency: str
        ingest_id: str
        receipt: dict[str, Any]

    @classmethod
    def create_id(cls, agency: str, ingest_id: str) -> uuid.UUID:
        return receipt_id(agency, ingest_id)

    @event(Recorded)
    def __init__(self, agency: str, ingest_id: str, receipt: dict[str, Any]):
        self.receipt = receipt


# Receipts stored before they were the runtime's (intake's store) resolve to the same classes.
for _old, _cls in (("kit.intake:IngestReceipt", Receipt), ("kit.intake:IngestReceipt.Created", Receipt.Created),
                   ("kit.intake:IngestReceipt.Recorded.v1", Receipt.Recorded)):
    register_topic(_old, _cls)


class Store(Application[uuid.UUID]):
    """One service's eventsourcing Application: table `<schema>.<name>_events`."""

    is_snapshotting_enabled = False

    def __init__(self, name: str, env: dict[str, str]):
        self.name = name  # the table and the environment prefix (before Application reads it)
        super().__init__(env=env)

    def get(self, aggregate_id: uuid.UUID) -> Any | None:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def existing_receipt(self, agency: str, ingest_id: str) -> dict[str, Any] | None:
        receipt = self.get(receipt_id(agency, ingest_id))
        return receipt.receipt if receipt is not None else None

    def existing_ids(self, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these aggregates exist, in one query."""
        ids = list(ids)
        if not ids:
            return set()
        recorder = self.recorder
        query = sql.SQL("SELECT DISTINCT originator_id FROM {} WHERE originator_id = ANY(%s)").format(
            sql.Identifier(recorder.datastore.schema, recorder.events_table_name))  # type: ignore[attr-defined]
        with recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            return {row["originator_id"] for row in conn.execute(query, (ids,))}

    def record(self, *aggregates: Any) -> bool:
        """Save all in one transaction; False if one of them already existed (a concurrent twin),
        and then what the cache held of them is dropped (it was older than the store)."""
        try:
            self.save(*aggregates)
        except IntegrityError:
            self.forget(a.id for a in aggregates)
            return False
        return True

    def forget(self, ids: Iterable[uuid.UUID]) -> None:
        """Drop these aggregates from the cache: the next `get` reads them from the table.

        The cache holds what this process saved, and is trusted without asking the table whether
        another process has written since (`AGGREGATE_CACHE_FASTFORWARD=n`: a query fewer per
        command): a decision on an older version fails to save (optimistic concurrency), the
        aggregate is forgotten, and the runtime decides again on the stored one."""
        cache = self.repository.cache
        if cache is None:
            return
        for aggregate_id in ids:
            try:
                cache.get(aggregate_id, evict=True)
            except KeyError:
                pass

    def at_least(self, aggregate_id: uuid.UUID, version: int) -> Any:
        """The aggregate at `version` or later (for a reader of the log, who has seen that version)."""
        cache = self.repository.cache
        if cache is not None:
            try:
                cached = cache.get(aggregate_id)
            except KeyError:
                cached = None
            if cached is not None and cached.version >= version:
                return cached
            self.forget([aggregate_id])
        return self.repository.get(aggregate_id)
