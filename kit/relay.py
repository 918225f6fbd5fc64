"""Outbox relay: a service's notification log -> JetStream, nothing lost, nothing reordered.

- Reads the eventsourcing notification log after the recorded position (ids may have gaps).
- Publishes asynchronously: a whole page is in flight at once (bounded by the JetStream context's
  `publish_async_max_pending`), each message with a deterministic `Nats-Msg-Id` so a republish
  after a crash is dropped by the stream.
- Integration events carry `Nats-Expected-Last-Msg-Id`: the stream refuses a message whose
  predecessor is not the last one it holds, so stream order always equals log order.
- Records the position only after every ack of the page (at most once a second while busy).
- Only the holder of a PostgreSQL advisory lock relays: one active relay per service.
- Any failed or unacknowledged publish (within `ACK_TIMEOUT`) is reported and the relay starts
  over: it finds the last event of its own in the stream by checking the stream's messages
  against its own store (a message only counts as its own if it is what the store's event at
  that position publishes: no header anyone else could write moves it), continues after it, and
  chains onto whatever the stream really ends with. A stop is honoured while acks are awaited.
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
ACK_TIMEOUT = 10.0  # seconds for a page's acks: a server that does not answer is a failure, not a wait

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


class _Stopping(Exception):
    """Asked to stop while acks were awaited: the page is published again by the next relay."""


@dataclass(frozen=True)
class Tail:
    """Where the stream stands for this relay: the chain continues after `msg_id` (the stream's
    real last message), events up to `notification` are in it, the last at `seq`."""
    msg_id: str | None
    notification: int
    seq: int


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
            except _Stopping:
                return
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
            tail = await self._stream_tail()
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
                tail = await self._publish(outgoing, tail, stop)
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

    async def _stream_tail(self) -> Tail:
        """The last event of this relay's own in the stream, found from the end: a message is its
        own only if the store's event at the position it names publishes exactly that message id.
        Anything after it (published by someone else) is reported, and the chain goes on after it."""
        info = await self.js.stream_info(self.events_stream)
        last_seq = info.state.last_seq
        if last_seq == 0:
            return Tail(None, 0, 0)
        chained_to, strays = None, []
        for seq in range(last_seq, info.state.first_seq - 1, -1):
            try:
                msg = await self.js.get_msg(self.events_stream, seq)
            except NotFoundError:
                continue  # deleted
            msg_id = (msg.headers or {}).get("Nats-Msg-Id")
            if seq == last_seq:
                chained_to = msg_id
            notification = await asyncio.to_thread(self._own_notification, msg_id, msg.headers or {})
            if notification:
                if strays:
                    log.error("relay %s: the events stream %s holds %d message(s) after #%d this service did not "
                              "publish (the last at #%d, subject %s); continuing after them", self.name,
                              self.events_stream, len(strays), seq, strays[0][0], strays[0][1])
                return Tail(chained_to, notification, last_seq)
            strays.append((seq, msg.subject))
        log.error("relay %s: none of the %d message(s) in %s is this service's; continuing after them",
                  self.name, len(strays), self.events_stream)
        return Tail(chained_to, 0, last_seq)

    def _own_notification(self, msg_id: str | None, headers: dict) -> int:
        """The notification id the message names, if the store's event there is that message."""
        try:
            claimed = int(headers.get(NOTIFICATION_HEADER, ""))
        except ValueError:
            return 0
        if msg_id is None or claimed <= 0:
            return 0
        found = self.app.recorder.select_notifications(claimed, 1)
        if not found or found[0].id != claimed:
            return 0
        domain_event = self.app.mapper.to_domain_event(found[0])
        own = any(o.ordered and o.msg_id == msg_id for o in self.translate(domain_event, claimed))
        return claimed if own else 0

    async def _publish(self, outgoing: list[tuple[Outgoing, int]], tail: Tail, stop: asyncio.Event) -> Tail:
        """Publish a page at once; the chain makes the stream take the ordered messages at the
        sequences counted here, which a receipt carries (read-your-writes waits for them)."""
        futures, expected = [], []
        tail_msg_id, tail_notification, tail_seq = tail.msg_id, tail.notification, tail.seq
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
        results = await _acknowledged(futures, stop)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise RuntimeError(f"{len(failures)} of {len(results)} publishes failed, first: {failures[0]!r}")
        moved = [(seq, ack.seq) for seq, ack in zip(expected, results) if seq is not None and ack.seq != seq]
        if moved:
            raise RuntimeError(f"the events stream took an event at {moved[0][1]}, not {moved[0][0]}: another writer?")
        self.published += len(results)
        return Tail(tail_msg_id, tail_notification, tail_seq)


async def _acknowledged(futures: list[asyncio.Future], stop: asyncio.Event) -> list:
    """Every publish's ack (or its error), within `ACK_TIMEOUT`; `_Stopping` if asked to stop first."""
    if not futures:
        return []
    acks = asyncio.ensure_future(asyncio.gather(*futures, return_exceptions=True))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({acks, stopped}, timeout=ACK_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if acks.done():
        return acks.result()
    acks.cancel()
    if stop.is_set():
        raise _Stopping()
    raise RuntimeError(f"{len(futures)} publishes not acknowledged within {ACK_TIMEOUT:.0f} s")


def _wait_notify(conn: psycopg.Connection, timeout: float) -> None:
    for _ in conn.notifies(timeout=timeout, stop_after=1):
        pass


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
