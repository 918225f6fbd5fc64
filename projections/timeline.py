"""Timeline: every integration event that concerns a youth, one row each, in the order it happened.

A youth's timeline starts at the first outreach contact: contacts recorded before registration
are filed under the engagement id (their subject) and moved to the youth when the engagement is
linked. Rows keep the event's data for the path's detail, except ciphertext (the vault holds the
identity once; here it reads "[vault]"), and an erasure empties the data of the youth's personal
and special-category rows while keeping the rows themselves (the path still adds up).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg

from events import intake as ev
from pydantic_core import from_json

from projections.integration_event import IntegrationEvent, uuid_text

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

# One statement per page (up to each link or erasure, which change rows already there). Python
# sends each message as it came and PostgreSQL takes the columns out of it; the arrays go in
# binary (%b): psycopg's text quoting of a page of JSON costs 17 times more. Personal data
# recorded after the youth's erasure (it should not happen) is not kept either.
INSERT_PAGE = f"""
INSERT INTO views.timeline (event_id, youth_id, stream_seq, at, type, agency, actor, role, classification, data)
SELECT r.event_id, r.youth_id, (r.body ->> 'kitseq')::bigint, (r.body ->> 'time')::timestamptz, r.body ->> 'type',
       r.body ->> 'kitagency', r.body ->> 'kitactor', r.body ->> 'kitrole', r.body ->> 'kitclassification',
       CASE WHEN r.body ->> 'kitclassification' = ANY(%s) AND EXISTS (
              SELECT 1 FROM views.timeline t WHERE t.youth_id = r.youth_id AND t.type = '{ERASED}')
            THEN '{{}}'::jsonb ELSE r.body -> 'data' END
  FROM unnest(%b::uuid[], %b::uuid[], %b::text[]::jsonb[]) AS r(event_id, youth_id, body)
ON CONFLICT (event_id) DO NOTHING
"""


def youth_of(event: IntegrationEvent) -> str | None:
    """`data.youth_id` when the event has one, else the subject (an engagement id for outreach)."""
    return uuid_text(event.data.get("youth_id")) or uuid_text(event.subject)


def event_uuid(event: IntegrationEvent) -> str:
    """Integration events carry UUID ids; any other id maps to a stable UUID of (source, id)."""
    return uuid_text(event.id) or str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{event.source}\n{event.id}"))


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

    def apply_page(self, conn: psycopg.Connection, events: Sequence[IntegrationEvent]) -> None:
        rows: list[tuple] = []
        for event in events:
            youth_id = youth_of(event)
            if youth_id is None:
                continue  # not about a youth
            rows.append((event_uuid(event), youth_id, _body(event)))
            if event.type in (LINKED, ERASED):
                _insert(conn, rows)
                rows = []
                _rehome_or_purge(conn, event, youth_id)
        _insert(conn, rows)


def _body(event: IntegrationEvent) -> str:
    """The JSON the row is taken from: the message itself, or, if it carries ciphertext, a copy
    without it."""
    if b"ciphertext" not in event.payload:
        return event.payload.decode()
    body = from_json(event.payload)
    return json.dumps(body | {"data": without_ciphertext(body["data"])})


def _insert(conn: psycopg.Connection, rows: list[tuple]) -> None:
    if rows:
        conn.execute(INSERT_PAGE, [list(PURGED), *(list(column) for column in zip(*rows))])


def _rehome_or_purge(conn: psycopg.Connection, event: IntegrationEvent, youth_id: str) -> None:
    if event.type == LINKED:
        engagement = uuid_text(event.data.get("engagement_id"))
        if engagement is not None and engagement != youth_id:
            conn.execute("UPDATE views.timeline SET youth_id = %s WHERE youth_id = %s", (youth_id, engagement))
    else:  # erased
        owners = {youth_id, *filter(None, map(uuid_text, event.data.get("keys_destroyed") or ()))}
        conn.execute("UPDATE views.timeline SET data = '{}'::jsonb WHERE youth_id = ANY(%s::uuid[])"
                     " AND classification = ANY(%s) AND data <> '{}'::jsonb", (sorted(owners), list(PURGED)))
