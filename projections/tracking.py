"""Apply integration events to a read model with their position, in one transaction.

Positions are kept per upstream service (`source`) by its log position (`kitseq`): the relay
keeps stream order equal to log order, so a position at or below the recorded one is a
redelivery or a republish and is skipped with no effect.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import psycopg
from psycopg import sql

from events.envelope import CloudEvent

SCHEMA = "views"


class Projection(Protocol):
    name: str

    def create_tables(self, conn: psycopg.Connection) -> None: ...

    def apply(self, conn: psycopg.Connection, event: CloudEvent) -> None: ...


def create_positions_table(conn: psycopg.Connection) -> None:
    conn.execute(sql.SQL(
        "CREATE TABLE IF NOT EXISTS {}.positions (projection text, upstream text, notification_id bigint NOT NULL,"
        " PRIMARY KEY (projection, upstream))").format(sql.Identifier(SCHEMA)))


def advance(conn: psycopg.Connection, projection: str, upstream: str, notification_id: int) -> bool:
    """Record the new position; False (nothing written) when it is not beyond the recorded one."""
    row = conn.execute(sql.SQL(
        "INSERT INTO {0}.positions AS p VALUES (%s, %s, %s) ON CONFLICT (projection, upstream) DO UPDATE"
        " SET notification_id = EXCLUDED.notification_id WHERE p.notification_id < EXCLUDED.notification_id"
        " RETURNING 1").format(sql.Identifier(SCHEMA)), (projection, upstream, notification_id)).fetchone()
    return row is not None


def apply_all(conn: psycopg.Connection, projection: Projection, events: Iterable[CloudEvent]) -> int:
    """Apply events in order inside the caller's transaction; returns how many had an effect."""
    applied = 0
    for event in events:
        if event.kitseq is None:
            raise ValueError(f"integration event {event.id} has no kitseq")
        if advance(conn, projection.name, event.source, event.kitseq):
            projection.apply(conn, event)
            applied += 1
    return applied
