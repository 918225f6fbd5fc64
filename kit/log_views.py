"""Read models a service keeps of its own log, in its own schema: what it needs to find its work
(e.g. the youths whose contact is overdue) without reading another service's tables.

A runner tails the store's notification log like the relay does, and hands each page of domain
events to the view, which writes its rows; the page's position is saved in the same transaction,
so every notification is applied once. Replicas may all run it: the position row is locked for
the page, and a replica that finds it moved on skips what the other applied.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

import psycopg
from psycopg import sql

from kit.store import Store

log = logging.getLogger("kit.log_views")


class LogView(Protocol):
    name: str
    topics: tuple[str, ...]  # the stored event topics it reads (the others are not even decoded)

    def create_tables(self, conn: psycopg.Connection) -> None: ...

    def apply(self, conn: psycopg.Connection, events: Sequence[object]) -> None:
        """Apply domain events of the store (in log order) inside the caller's transaction."""


def create_positions_table(conn: psycopg.Connection, schema: str) -> None:
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.log_view_positions"
                         " (view text PRIMARY KEY, notification_id bigint NOT NULL)").format(sql.Identifier(schema)))


def apply_next_page(conn: psycopg.Connection, store: Store, schema: str, view: LogView, page: int = 500) -> int:
    """Apply the notifications after the view's position (at most `page`); how many were read."""
    table = sql.Identifier(schema, "log_view_positions")
    with conn.transaction():
        conn.execute(sql.SQL("INSERT INTO {} VALUES (%s, 0) ON CONFLICT DO NOTHING").format(table), (view.name,))
        position = conn.execute(sql.SQL("SELECT notification_id FROM {} WHERE view = %s FOR UPDATE").format(table),
                                (view.name,)).fetchone()[0]
        notifications = store.recorder.select_notifications(position + 1, page, topics=view.topics)
        if not notifications:
            return 0
        view.apply(conn, [store.mapper.to_domain_event(n) for n in notifications])
        conn.execute(sql.SQL("UPDATE {} SET notification_id = %s WHERE view = %s").format(table),
                     (notifications[-1].id, view.name))
        return len(notifications)


async def run_log_view(store: Store, url: str, schema: str, view: LogView, stop: asyncio.Event,
                       idle: float = 0.5) -> None:
    """Keep the view up to date until `stop` is set; on a failure, try again from its position."""
    with psycopg.connect(url) as conn, conn.transaction():
        create_positions_table(conn, schema)
        view.create_tables(conn)
    conn = None
    while not stop.is_set():
        try:
            if conn is None or conn.closed:
                conn = await asyncio.to_thread(psycopg.connect, url)
            read = await asyncio.to_thread(apply_next_page, conn, store, schema, view)
        except Exception:
            log.exception("log view %s failed; trying again from its position", view.name)
            if conn is not None:
                await asyncio.to_thread(conn.close)
            conn, read = None, 0
        if not read:
            try:
                await asyncio.wait_for(stop.wait(), idle)
            except TimeoutError:
                pass
    if conn is not None:
        await asyncio.to_thread(conn.close)
