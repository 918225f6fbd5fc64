"""Timeline: every integration event that concerns a youth, one row each, in the order it happened.

Each row has `at`, when the event was recorded, and `happened_at`, when what it records happened:
the date or instant the event carries for it (a contact's `occurred_at`, a consent's `given_at`, a
review's `held_on`, …: `HAPPENED_AT`), else `at`. A day is taken at noon UTC, the same day in Rome
and in Zurich. Read a timeline `ORDER BY happened_at, stream_seq` (index `timeline_youth_happened`,
which replaced the one on `(youth_id, at, stream_seq)`: one index less to write per event).

A youth's timeline starts at the first outreach contact: contacts recorded before registration
are filed under the engagement id (their subject) and moved to the youth when the engagement is
linked. Rows keep the event's data for the path's detail, except ciphertext (the vault holds the
identity once; here it reads "[vault]"), and an erasure empties the data of the youth's personal
and special-category rows while keeping the rows themselves (the path still adds up).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timezone
from typing import Any

import psycopg

from events import intake as ev
from pydantic_core import to_json

from projections.integration_event import IntegrationEvent, uuid_text

VAULT = "[vault]"
CIPHERTEXT_FIELDS = frozenset({"ciphertext", "handle_ciphertext"})
PURGED = frozenset({"personal", "special-category"})
LINKED = ev.EngagementLinked.type_name
ERASED = ev.YouthErased.type_name
EVENT_ID_NAMESPACE = uuid.UUID("5d6f0a52-3b1e-4c55-9a57-0f1c8f0e7a31")
EMPTY = "{}"

TABLES = f"""
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
    data jsonb NOT NULL,
    happened_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS timeline_youth_happened ON views.timeline (youth_id, happened_at, stream_seq);
DROP INDEX IF EXISTS views.timeline_youth;
CREATE INDEX IF NOT EXISTS timeline_erasures ON views.timeline (youth_id) WHERE type = '{ERASED}';
"""
COLUMNS = ("event_id", "youth_id", "stream_seq", "at", "type", "agency", "actor", "role", "classification", "data",
           "happened_at")
COPY = f"COPY views.timeline ({', '.join(COLUMNS)}) FROM STDIN"
# the same rows where some are there already (an event the stream holds twice, a page applied again)
INSERT_NEW = f"""
INSERT INTO views.timeline ({', '.join(COLUMNS)})
SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::bigint[], %b::text[]::timestamptz[], %b::text[], %b::text[],
                     %b::text[], %b::text[], %b::text[], %b::text[]::jsonb[], %b::text[]::timestamptz[])
ON CONFLICT (event_id) DO NOTHING
"""
ERASED_AMONG = f"SELECT youth_id::text FROM views.timeline WHERE type = '{ERASED}' AND youth_id = ANY(%b::uuid[])"

# When what an event records happened: the field of its data that says it (a path, for a field of
# a part), and whether it is a day (taken at noon UTC) or an instant. Events not named here, and
# those whose field cannot be read, are dated when they were recorded. Fields an event carries
# that say something else (when the path began, a date ahead) are left out on purpose.
INSTANT, DAY = "instant", "day"
HAPPENED_AT: dict[str, tuple[tuple[str, ...], str]] = {
    ev.OutreachContactRecorded.type_name: (("occurred_at",), INSTANT),
    ev.ConsentRecorded.type_name: (("consent", "given_at"), INSTANT),
    ev.ConsentWithdrawn.type_name: (("withdrawn_at",), INSTANT),
    ev.ConsentInvalidated.type_name: (("invalidated_at",), INSTANT),
    ev.ConsentOverridden.type_name: (("overridden_at",), INSTANT),
    ev.ProjectReviewRecorded.type_name: (("held_on",), DAY),
    ev.ContactLogged.type_name: (("occurred_at",), INSTANT),
    ev.ScheduledErasureCancelled.type_name: (("cancelled_at",), INSTANT),
    ev.YouthErased.type_name: (("erased_at",), INSTANT),
    ev.ProcessingRestricted.type_name: (("restricted_at",), INSTANT),
    ev.CaseClosed.type_name: (("exited_on",), DAY),
    ev.FollowUpRecorded.type_name: (("recorded_on",), DAY),
}
# the form the platform's events carry instants in (pydantic's), which PostgreSQL reads as it is
INSTANT_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})", re.ASCII)


def happened_at(event: IntegrationEvent) -> datetime:
    """When what the event records happened (see HAPPENED_AT), else when it was recorded."""
    text = _happened_text(event)
    return event.time if text is None else datetime.fromisoformat(text)


def _happened_text(event: IntegrationEvent) -> str | None:
    """`happened_at` as text for COPY (formatting a datetime costs more than the rest of the row),
    None when it is when the event was recorded."""
    where = HAPPENED_AT.get(event.type)
    if where is None:
        return None
    path, kind = where
    value: Any = event.data
    try:
        for name in path:
            value = value[name]
        if kind == DAY:
            return f"{date.fromisoformat(value).isoformat()}T12:00:00+00:00"  # noon UTC
        at = datetime.fromisoformat(value)  # checked: a value PostgreSQL would refuse must not fail the page
    except (KeyError, TypeError, ValueError):
        return None
    if INSTANT_TEXT.fullmatch(value):
        return value
    return (at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)).isoformat()


def _happened_at_sql() -> str:
    """The same, in SQL over a row's type and data (for rows an older version wrote)."""
    cases = []
    for type_name, (path, kind) in HAPPENED_AT.items():
        text = "data" + "".join(f"->'{name}'" for name in path[:-1]) + f"->>'{path[-1]}'"
        value = f"(({text})::date + time '12:00') AT TIME ZONE 'UTC'" if kind == DAY else f"({text})::timestamptz"
        cases.append(f"WHEN '{type_name}' THEN {value}")
    return f"coalesce(CASE type {' '.join(cases)} END, at)"


# A page is written with COPY, the columns taken from the event as the projections read it (a
# quarter of the cost of letting PostgreSQL take them out of each message's JSON), in segments
# that end at each link or erasure, which change rows already there. Personal data recorded after
# the youth's erasure (it should not happen) is not kept either.


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
    sources = None  # every service's events: the youth's whole path

    def create_tables(self, conn: psycopg.Connection) -> None:
        if conn.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = 'views'"
                        " AND table_name = 'timeline' AND column_name = 'at'").fetchone() and not conn.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = 'views'"
                " AND table_name = 'timeline' AND column_name = 'happened_at'").fetchone():
            _add_happened_at(conn)
        conn.execute(TABLES)

    def reset(self, conn: psycopg.Connection) -> None:
        conn.execute("TRUNCATE views.timeline")

    def apply_page(self, conn: psycopg.Connection, events: Sequence[IntegrationEvent]) -> None:
        owned = [(event, youth_id) for event in events if (youth_id := youth_of(event)) is not None]  # others: not about a youth
        erased = _erased_among(conn, {y for e, y in owned if e.classification in PURGED})
        rows: list[tuple] = []
        for event, youth_id in owned:
            purged = event.classification in PURGED and youth_id in erased
            rows.append(_row(event, youth_id, purged))
            if event.type in (LINKED, ERASED):
                _write(conn, rows)
                rows = []
                _rehome_or_purge(conn, event, youth_id)
                if event.type == ERASED:
                    erased.add(youth_id)
        _write(conn, rows)


def _row(event: IntegrationEvent, youth_id: str, purged: bool) -> tuple:
    data = EMPTY if purged else to_json(without_ciphertext(event.data) if b"ciphertext" in event.payload
                                        else event.data).decode()
    at = event.time.isoformat()
    return (event_uuid(event), youth_id, event.kitseq, at, event.type, event.agency, event.actor, event.role,
            event.classification, data, _happened_text(event) or at)


def _add_happened_at(conn: psycopg.Connection) -> None:
    """A timeline an older version wrote: its rows dated as this version dates them, once."""
    conn.execute("ALTER TABLE views.timeline ADD COLUMN happened_at timestamptz")
    conn.execute(f"UPDATE views.timeline SET happened_at = {_happened_at_sql()}")
    conn.execute("ALTER TABLE views.timeline ALTER COLUMN happened_at SET NOT NULL")


def _erased_among(conn: psycopg.Connection, youth_ids: set[str]) -> set[str]:
    if not youth_ids:
        return set()
    return {r[0] for r in conn.execute(ERASED_AMONG, (sorted(youth_ids),))}


def _write(conn: psycopg.Connection, rows: list[tuple]) -> None:
    if not rows:
        return
    try:
        with conn.transaction(), conn.cursor().copy(COPY) as copy:  # a savepoint: a duplicate undoes only this
            for row in rows:
                copy.write_row(row)
    except psycopg.errors.UniqueViolation:
        conn.execute(INSERT_NEW, [list(column) for column in zip(*rows)])


def _rehome_or_purge(conn: psycopg.Connection, event: IntegrationEvent, youth_id: str) -> None:
    if event.type == LINKED:
        engagement = uuid_text(event.data.get("engagement_id"))
        if engagement is not None and engagement != youth_id:
            conn.execute("UPDATE views.timeline SET youth_id = %s WHERE youth_id = %s", (youth_id, engagement))
    else:  # erased
        owners = {youth_id, *filter(None, map(uuid_text, event.data.get("keys_destroyed") or ()))}
        conn.execute("UPDATE views.timeline SET data = '{}'::jsonb WHERE youth_id = ANY(%s::uuid[])"
                     " AND classification = ANY(%s) AND data <> '{}'::jsonb", (sorted(owners), sorted(PURGED)))
