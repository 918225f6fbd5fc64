"""Timeline: every integration event that concerns a youth, one row each, in the order it happened.

A youth's timeline starts at the first outreach contact: contacts recorded before registration
are filed under the engagement id (their subject) and moved to the youth when the engagement is
linked. Rows keep the event's data for the path's detail, except ciphertext (the vault holds the
identity once; here it reads "[vault]"), and an erasure empties the data of the youth's personal
and special-category rows while keeping the rows themselves (the path still adds up).
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from events import intake as ev
from events.envelope import CloudEvent

TABLES = """
CREATE TABLE IF NOT EXISTS views.timeline (
    event_id uuid PRIMARY KEY,
    youth_id uuid NOT NULL,
    stream_seq bigint NOT NULL,
    at timestamptz NOT NULL,
    type text NOT NULL,
    agency text NOT NULL,
    actor text,
    role text,
    classification text NOT NULL,
    data jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS timeline_youth ON views.timeline (youth_id, at, stream_seq);
"""

VAULT = "[vault]"
CIPHERTEXT_FIELDS = frozenset({"ciphertext", "handle_ciphertext"})
PURGED = ("personal", "special-category")
LINKED = ev.EngagementLinked.type_name
ERASED = ev.YouthErased.type_name
EVENT_ID_NAMESPACE = uuid.UUID("5d6f0a52-3b1e-4c55-9a57-0f1c8f0e7a31")

INSERT = (
    "INSERT INTO views.timeline (event_id, youth_id, stream_seq, at, type, agency, actor, role, classification, data)"
    " VALUES (%(event_id)s, %(youth_id)s, %(seq)s, %(at)s, %(type)s, %(agency)s, %(actor)s, %(role)s,"
    " %(classification)s, %(data)s) ON CONFLICT (event_id) DO NOTHING")
# Personal data recorded after the youth's erasure (it should not happen) is not kept either.
INSERT_SENSITIVE = (
    "INSERT INTO views.timeline (event_id, youth_id, stream_seq, at, type, agency, actor, role, classification, data)"
    " SELECT %(event_id)s, %(youth_id)s, %(seq)s, %(at)s, %(type)s, %(agency)s, %(actor)s, %(role)s,"
    " %(classification)s, CASE WHEN EXISTS (SELECT 1 FROM views.timeline WHERE youth_id = %(youth_id)s"
    f" AND type = '{ERASED}') THEN '{{}}'::jsonb ELSE %(data)s END"
    " ON CONFLICT (event_id) DO NOTHING")


def _uuid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def youth_of(event: CloudEvent) -> str | None:
    """`data.youth_id` when the event has one, else the subject (an engagement id for outreach)."""
    return _uuid(event.data.get("youth_id")) or _uuid(event.subject)


def event_uuid(event: CloudEvent) -> str:
    """Integration events carry UUID ids; any other id maps to a stable UUID of (source, id)."""
    return _uuid(event.id) or str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{event.source}\n{event.id}"))


def without_ciphertext(value: Any) -> Any:
    """The data with every ciphertext field (at any depth) replaced by "[vault]"."""
    if isinstance(value, dict):
        return {k: VAULT if k in CIPHERTEXT_FIELDS or k.endswith("_ciphertext") else without_ciphertext(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [without_ciphertext(v) for v in value]
    return value


class Timeline:
    name = "timeline"

    def create_tables(self, conn: psycopg.Connection) -> None:
        conn.execute(TABLES)

    def reset(self, conn: psycopg.Connection) -> None:
        conn.execute("TRUNCATE views.timeline")

    def apply(self, conn: psycopg.Connection, event: CloudEvent) -> None:
        youth_id = youth_of(event)
        if youth_id is None:
            return  # not about a youth
        row = {"event_id": event_uuid(event), "youth_id": youth_id, "seq": event.kitseq, "at": event.time,
               "type": event.type, "agency": event.kitagency, "actor": event.kitactor, "role": event.kitrole,
               "classification": event.kitclassification, "data": Jsonb(without_ciphertext(event.data))}
        if row["seq"] is None:
            raise ValueError(f"integration event {event.id} has no kitseq")
        conn.execute(INSERT_SENSITIVE if event.kitclassification in PURGED else INSERT, row)
        if event.type == LINKED:
            engagement = _uuid(event.data.get("engagement_id"))
            if engagement is not None and engagement != youth_id:
                conn.execute("UPDATE views.timeline SET youth_id = %s WHERE youth_id = %s", (youth_id, engagement))
        elif event.type == ERASED:
            owners = {youth_id, *filter(None, map(_uuid, event.data.get("keys_destroyed") or ()))}
            conn.execute("UPDATE views.timeline SET data = '{}'::jsonb WHERE youth_id = ANY(%s::uuid[])"
                         " AND classification = ANY(%s) AND data <> '{}'::jsonb", (sorted(owners), list(PURGED)))
