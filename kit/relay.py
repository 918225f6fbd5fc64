"""Outbox relay: a service's notification log -> JetStream, nothing lost, nothing reordered.

- Reads the eventsourcing notification log after the recorded position (ids may have gaps).
- Publishes asynchronously: a whole page is in flight at once (bounded by the JetStream context's
  `publish_async_max_pending`), each message with a deterministic `Nats-Msg-Id` so a republish
  after a crash is dropped by the stream.
- Integration events carry `Nats-Expected-Last-Msg-Id`: the stream refuses a message whose
  predecessor is not the last one it holds, so stream order always equals log order.
- Records the position only after every ack of the page (at most once a second while busy).
- Only the holder of a PostgreSQL advisory lock relays: one active relay per service.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg
from eventsourcing.application import Application
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

log = logging.getLogger("kit.relay")

NOTIFICATION_HEADER = "Kit-Notification-Id"
EVENTS_SEQ_HEADER = "Kit-Events-Seq"  # on a receipt: the events stream holds its command's events up to here


@dataclass(frozen=True)
class Outgoing:
    subject: str
    stream: str
    payload: bytes
    msg_id: str
    ordered: bool  # part of the service's integration stream (chained), or a side message (receipt)


Translate = Callable[[object, int], Sequence[Outgoing]]


class RelayPositions:
    """`<schema>.relay_position`: the last notification id whose messages are all acked."""

    def __init__(self, url: str, schema: str):
        self.url = url
        self.table = psycopg.sql.Identifier(schema, "relay_position")

    def create_table(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (relay text PRIMARY KEY, notification_id bigint NOT NULL)"
            ).format(self.table))

    def load(self, conn: psycopg.Connection, relay: str) -> int:
        row = conn.execute(psycopg.sql.SQL("SELECT notification_id FROM {} WHERE relay=%s").format(self.table),
                           (relay,)).fetchone()
        return row[0] if row else 0

    def save(self, conn: psycopg.Connection, relay: str, notification_id: int) -> None:
        # Losing the latest position in a server crash only means republishing, which the stream
        # absorbs: no need to wait for the disk.
        conn.execute("SET synchronous_commit = off")
        conn.execute(psycopg.sql.SQL(
            "INSERT INTO {} VALUES (%s, %s) ON CONFLICT (relay) DO UPDATE SET notification_id = EXCLUDED.notification_id"
        ).format(self.table), (relay, notification_id))


class OutboxRelay:
    def __init__(self, *, app: Application, js: JetStreamContext, url: str, schema: str, name: str,
                 events_stream: str, translate: Translate, page_size: int = 500, save_interval: float = 1.0):
        self.app = app
        self.js = js
        self.url = url
        self.name = name
        self.events_stream = events_stream
        self.translate = translate
        self.page_size = page_size
        self.save_interval = save_interval
        self.positions = RelayPositions(url, schema)
        self.lock_key = f"kit-relay:{name}"
        self.published = 0
        self.is_leader = False

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; on any failure start over from the recorded position."""
        self.positions.create_table()
        while not stop.is_set():
            try:
                await self._lead(stop)
            except Exception:
                log.exception("relay %s failed; restarting from its recorded position", self.name)
                self.is_leader = False
                await _sleep_or_stop(stop, 1.0)

    async def _lead(self, stop: asyncio.Event) -> None:
        conn = await asyncio.to_thread(psycopg.connect, self.url, autocommit=True)
        # LISTEN on a connection of its own: psycopg hands notifications that arrive while another
        # statement runs to handlers only, so sharing it would lose wake-ups.
        listener = await asyncio.to_thread(psycopg.connect, self.url, autocommit=True)
        try:
            while not await asyncio.to_thread(self._try_lock, conn):
                if await _sleep_or_stop(stop, 1.0):
                    return
            self.is_leader = True
            log.info("relay %s is active", self.name)
            channel = self.app.recorder.channel_name  # type: ignore[attr-defined]
            await asyncio.to_thread(listener.execute,
                                    psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel)))
            position = saved = await asyncio.to_thread(self.positions.load, conn, self.name)
            saved_at = time.monotonic()
            tail_msg_id, tail_notification, tail_seq = await self._stream_tail()
            while not stop.is_set():
                notifications = await asyncio.to_thread(
                    self.app.recorder.select_notifications, position + 1, self.page_size)
                if not notifications:
                    if saved != position:
                        await asyncio.to_thread(self.positions.save, conn, self.name, position)
                        saved, saved_at = position, time.monotonic()
                    await asyncio.to_thread(_wait_notify, listener, 0.25)
                    continue
                outgoing: list[tuple[Outgoing, int]] = []
                for n in notifications:
                    domain_event = self.app.mapper.to_domain_event(n)
                    outgoing.extend((o, n.id) for o in self.translate(domain_event, n.id))
                tail_msg_id, tail_notification, tail_seq = await self._publish(
                    outgoing, tail_msg_id, tail_notification, tail_seq)
                position = notifications[-1].id
                # Saving less often than every page keeps a commit off the hot path; a crash
                # only means republishing, which the stream chain and dedupe absorb.
                if time.monotonic() - saved_at > self.save_interval:
                    await asyncio.to_thread(self.positions.save, conn, self.name, position)
                    saved, saved_at = position, time.monotonic()
        finally:
            self.is_leader = False
            await asyncio.to_thread(listener.close)
            await asyncio.to_thread(conn.close)  # closing the session releases the advisory lock

    def _try_lock(self, conn: psycopg.Connection) -> bool:
        row = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (self.lock_key,)).fetchone()
        return bool(row and row[0])

    async def _stream_tail(self) -> tuple[str | None, int, int]:
        """The last integration event the stream holds: where the chain continues."""
        info = await self.js.stream_info(self.events_stream)
        if info.state.last_seq == 0:
            return None, 0, 0
        try:
            msg = await self.js.get_msg(self.events_stream, info.state.last_seq)
        except NotFoundError:
            return None, 0, info.state.last_seq
        headers = msg.headers or {}
        return headers.get("Nats-Msg-Id"), int(headers.get(NOTIFICATION_HEADER, "0")), info.state.last_seq

    async def _publish(self, outgoing: list[tuple[Outgoing, int]], tail_msg_id: str | None,
                       tail_notification: int, tail_seq: int) -> tuple[str | None, int, int]:
        """Publish a page at once; the chain makes the stream take the ordered messages at the
        sequences counted here, which a receipt carries (read-your-writes waits for them)."""
        futures, expected = [], []
        for out, notification_id in outgoing:
            headers = {"Nats-Msg-Id": out.msg_id, NOTIFICATION_HEADER: str(notification_id)}
            if out.ordered:
                if notification_id <= tail_notification:
                    continue  # already in the stream (published before a crash, position not yet saved)
                if tail_msg_id is not None:
                    headers["Nats-Expected-Last-Msg-Id"] = tail_msg_id
                tail_msg_id, tail_notification, tail_seq = out.msg_id, notification_id, tail_seq + 1
            else:
                headers[EVENTS_SEQ_HEADER] = str(tail_seq)
            expected.append(tail_seq if out.ordered else None)
            futures.append(await self.js.publish_async(out.subject, out.payload, stream=out.stream,
                                                       headers=headers, wait_stall=10))
        results = await asyncio.gather(*futures, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise RuntimeError(f"{len(failures)} of {len(results)} publishes failed, first: {failures[0]!r}")
        moved = [(seq, ack.seq) for seq, ack in zip(expected, results) if seq is not None and ack.seq != seq]
        if moved:
            raise RuntimeError(f"the events stream took an event at {moved[0][1]}, not {moved[0][0]}: another writer?")
        self.published += len(results)
        return tail_msg_id, tail_notification, tail_seq


def _wait_notify(conn: psycopg.Connection, timeout: float) -> None:
    for _ in conn.notifies(timeout=timeout, stop_after=1):
        pass


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
