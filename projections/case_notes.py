"""Case notes: one row per note, its ciphertext only (under the vault key of the youth it was
written for, `owner`), with when, who and which agency (`shared/case_notes.py` opens them).

A note of a record merged into another is shown with the surviving record (`youth_id` moves, the
`owner` whose key opens it stays); an erasure purges the ciphertext of the youth's notes (and of
any written under a key it destroyed) and keeps the rows, read as erased.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from events import intake as ev
from projections.integration_event import IntegrationEvent, UnreadableEvent, uuid_text
from shared.case_notes import TABLE

ADDED = ev.CaseNoteAdded.type_name
MERGED = ev.YouthMerged.type_name
ERASED = ev.YouthErased.type_name

DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    owner uuid NOT NULL,      -- the youth whose key encrypted it
    note_id uuid NOT NULL,
    youth_id uuid NOT NULL,   -- the record it is shown with (the survivor, after a merge)
    ciphertext text,          -- NULL once the youth is erased
    at timestamptz NOT NULL,
    actor text,
    role text,
    agency text NOT NULL,
    stream_seq bigint NOT NULL,
    PRIMARY KEY (owner, note_id)
);
CREATE INDEX IF NOT EXISTS case_notes_youth ON {TABLE} (youth_id, at);
"""
INSERT = (f"INSERT INTO {TABLE} (owner, note_id, youth_id, ciphertext, at, actor, role, agency, stream_seq)"
          " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING")
MOVE = f"UPDATE {TABLE} SET youth_id = %s WHERE youth_id = %s"
PURGE = (f"UPDATE {TABLE} SET ciphertext = NULL WHERE (youth_id = ANY(%(ids)s::uuid[]) OR owner = ANY(%(ids)s::uuid[]))"
         " AND ciphertext IS NOT NULL")


def _id(value: object) -> str:
    text = uuid_text(value)
    if text is None:
        raise UnreadableEvent("an id in data is not a uuid")
    return text


class CaseNotes:
    name = "case_notes"
    sources = ("intake",)

    def create_tables(self, conn: psycopg.Connection) -> None:
        conn.execute(DDL)

    def reset(self, conn: psycopg.Connection) -> None:
        conn.execute(f"TRUNCATE {TABLE}")

    def apply_page(self, conn: psycopg.Connection, events: Sequence[IntegrationEvent]) -> None:
        rows: list[tuple] = []
        for event in events:
            if event.type == ADDED:
                youth_id = _id(event.data.get("youth_id"))
                ciphertext = event.data.get("ciphertext")
                if not isinstance(ciphertext, str):
                    raise UnreadableEvent("ciphertext must be a string")
                rows.append((youth_id, _id(event.data.get("note_id")), youth_id, ciphertext, event.time, event.actor,
                             event.role, event.agency, event.kitseq))
            elif event.type in (MERGED, ERASED):
                _write(conn, rows)
                rows = []
                if event.type == MERGED:
                    conn.execute(MOVE, (_id(event.data.get("merged_into")), _id(event.data.get("youth_id"))))
                else:
                    owners = {_id(event.data.get("youth_id")), *map(_id, event.data.get("keys_destroyed") or ())}
                    conn.execute(PURGE, {"ids": sorted(owners)})
        _write(conn, rows)


def _write(conn: psycopg.Connection, rows: list[tuple]) -> None:
    if rows:
        with conn.cursor() as cursor:
            cursor.executemany(INSERT, rows)
