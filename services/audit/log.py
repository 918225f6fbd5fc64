"""The platform's append-only audit log in PostgreSQL (schema `audit`).

Each row is one entry: its position (1-based `seq`), the canonical bytes that are hashed (`entry`)
and their RFC 6962 leaf hash. The position is written inside the entry's bytes, so moving a row
shows; the leaf hash is recomputed by verification, so editing one shows; the signed checkpoints
pin the tree heads, so rewriting a row and its hash consistently shows too.

One writer at a time (a transaction-scoped advisory lock), so positions are dense and ordered.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from kit.merkle import leaf_hash

SCHEMA = "audit"
ACCESS_SOURCE = "api.access_log#txid"  # how far the access log is taken: a transaction horizon (audit wiring)
APPEND_LOCK = 0x6B6974_61756474  # "kit" "audt"

TABLES = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.log (
    seq bigint PRIMARY KEY,
    source text NOT NULL,
    kind text NOT NULL,
    youth_id uuid,
    recorded_at timestamptz NOT NULL,
    entry bytea NOT NULL,
    leaf_hash bytea NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS log_source ON audit.log (source);
CREATE INDEX IF NOT EXISTS log_youth ON audit.log (youth_id, seq);
CREATE TABLE IF NOT EXISTS audit.checkpoints (
    size bigint PRIMARY KEY,
    root bytea NOT NULL,
    signed_at timestamptz NOT NULL,
    key_id text NOT NULL,
    signed jsonb NOT NULL
);
ALTER TABLE audit.checkpoints ADD COLUMN IF NOT EXISTS frontier bytea[];
CREATE TABLE IF NOT EXISTS audit.positions (
    source text PRIMARY KEY,
    position bigint NOT NULL
);
"""


@dataclass(frozen=True)
class Item:
    """Something to record: `source` is its unique key (an event id, an access-log row)."""

    source: str
    kind: str  # "event" | "access"
    youth_id: str | None
    recorded_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class Row:
    seq: int
    entry: bytes
    leaf_hash: bytes


def entry_bytes(seq: int, item: Item) -> bytes:
    """Canonical bytes: the position first (a fixed prefix a verifier checks without parsing),
    then the content as JSON with sorted keys and no spaces."""
    body = json.dumps({"kind": item.kind, "source": item.source, "youth_id": item.youth_id,
                       "recorded_at": item.recorded_at.isoformat(), "payload": item.payload},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return index_prefix(seq) + body[1:].encode()


def index_prefix(seq: int) -> bytes:
    return b'{"seq":%d,' % seq


def claimed_position(entry: bytes) -> int | None:
    """The position written at the start of an entry's bytes, if readable."""
    if not entry.startswith(b'{"seq":'):
        return None
    digits = entry[7:entry.find(b",", 7)]
    return int(digits) if digits.isdigit() else None


def decode(entry: bytes) -> dict[str, Any]:
    return json.loads(entry)


def create_tables(conn: psycopg.Connection) -> None:
    conn.execute(TABLES)


def append(conn: psycopg.Connection, items: list[Item]) -> int:
    """Append the items not yet recorded, in order, in the caller's transaction. Returns how many."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
    sources = [i.source for i in items]
    known = {r[0] for r in conn.execute("SELECT source FROM audit.log WHERE source = ANY(%s)", (sources,))}
    size = conn.execute("SELECT coalesce(max(seq), 0) FROM audit.log").fetchone()[0]
    rows = []
    for item in items:
        if item.source in known:
            continue
        known.add(item.source)
        size += 1
        entry = entry_bytes(size, item)
        rows.append((size, item.source, item.kind, item.youth_id, item.recorded_at, entry, leaf_hash(entry)))
    if rows:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO audit.log VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)
    return len(rows)


def size(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT coalesce(max(seq), 0) FROM audit.log").fetchone()[0]


def rows(conn: psycopg.Connection, *, after: int = 0, upto: int | None = None, page: int = 5000) -> Iterator[Row]:
    """The rows after position `after` (up to `upto`) in position order, read in pages (a
    server-side cursor)."""
    with conn.cursor(name=f"audit_rows_{uuid.uuid4().hex[:8]}") as cur:
        cur.itersize = page
        cur.execute("SELECT seq, entry, leaf_hash FROM audit.log WHERE seq > %s AND seq <= %s ORDER BY seq",
                    (after, upto if upto is not None else 2**62))
        for seq, entry, leaf in cur:
            yield Row(seq, bytes(entry), bytes(leaf))


def youth_rows(conn: psycopg.Connection, youth_id: str) -> list[Row]:
    """A youth's entries, with those of the engagement histories linked to them (outreach before
    registration), in log order."""
    linked = [r[0] for r in conn.execute(
        "SELECT DISTINCT convert_from(entry, 'UTF8')::jsonb #>> '{payload,data,engagement_id}' FROM audit.log"
        " WHERE youth_id = %s AND kind = 'event'"
        " AND convert_from(entry, 'UTF8')::jsonb #>> '{payload,type}' = 'kit.intake.engagement_linked.v1'",
        (youth_id,)) if r[0]]
    return [Row(seq, bytes(entry), bytes(leaf)) for seq, entry, leaf in conn.execute(
        "SELECT seq, entry, leaf_hash FROM audit.log WHERE youth_id = ANY(%s::uuid[]) ORDER BY seq",
        ([youth_id, *linked],))]


def position(conn: psycopg.Connection, source: str, lock: bool = False) -> int:
    """How far a source (the access log, an integration stream) is in the log."""
    row = conn.execute("SELECT position FROM audit.positions WHERE source = %s" + (" FOR UPDATE" if lock else ""),
                       (source,)).fetchone()
    return row[0] if row else 0


def set_position(conn: psycopg.Connection, source: str, value: int) -> None:
    conn.execute("INSERT INTO audit.positions VALUES (%s, %s) ON CONFLICT (source) DO UPDATE SET position = %s",
                 (source, value, value))
