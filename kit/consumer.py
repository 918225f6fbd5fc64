"""Durable pull consumers that apply their messages in stream order, each once, whatever order the
server delivers them in.

- Nothing is acked before its effect is committed (explicit acks, after the commit).
- In order, without waiting: after a crash the server redelivers the dead process's unacked
  messages only when their ack wait runs out, while newer ones flow at once. Rather than hand the
  newer ones back until the older ones come round again (which once cost a service 17 minutes of
  redelivery churn after one SIGKILL), the consumer reads what it is missing straight from the
  stream, applies everything in order, and acks the late redeliveries as the duplicates they are.
- Per key, not per consumer: a message that keeps failing holds back only the later messages with
  its key (a youth's), which wait for it; the others are applied. After `dead_letter_after`
  attempts it goes to `kit.dlq.<consumer>.<sequence>` with the reason, and its key flows again. A message the
  server already delivered `max_deliveries` times (the process kept dying on it) is dead-lettered
  untried.

The consumer keeps a `floor`: the stream sequence up to which every message of its filter is dealt
with (applied, recognised as a duplicate, or dead-lettered).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import nats.errors
import psycopg
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy as ServerAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from kit.streams import DLQ_STREAM, dlq_subject

log = logging.getLogger("kit.consumer")


@dataclass(slots=True)
class Item:
    """One message of the stream, as delivered, or read from the stream to fill a gap."""

    seq: int
    subject: str
    data: bytes
    headers: dict[str, str] | None
    delivery: Msg | None = None  # None: read from the stream (its own delivery comes later: a duplicate)

    @property
    def num_delivered(self) -> int:
        return self.delivery.metadata.num_delivered if self.delivery is not None else 0


Handle = Callable[[list[Item]], Awaitable[list[int]]]
"""Applies the items in their order in one commit (or raises having committed none of them, or is
idempotent per item); returns the sequences that are done. One that is not done was not yet due for
the store behind the handler (another writer moved it back, e.g. a rebuild): it is handed back."""

KeyOf = Callable[[Item], str]
"""What orders items: items with the same key are applied in stream order (a youth's commands);
different keys do not hold each other back when one of them fails."""


def one_key(_: Item) -> str:
    return ""


def safe_error(error: BaseException) -> str:
    """An error text fit for a log line and a header: no value of the message it failed on. Pydantic
    echoes input unless told not to, a database error quotes the row ("Key (x)=(...)", the bytes
    it could not store): those are named by type and field or SQLSTATE only; other errors keep
    their text only when it is known to hold none (connections, the platform's own failures, and
    errors that say so with `safe_message`)."""
    if isinstance(error, ValidationError):
        parts = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_input=False)]
        text = f"ValidationError: {'; '.join(parts)}"
    elif isinstance(error, psycopg.Error):
        text = f"{type(error).__name__}: SQLSTATE {error.sqlstate or 'unknown'}"
    elif getattr(error, "safe_message", False) or isinstance(error, SHOWN_ERRORS):
        text = f"{type(error).__name__}: {error}"
    else:
        text = f"{type(error).__name__} (its text is not shown: it may quote the message)"
    return text.replace("\r", " ").replace("\n", " ")[:500]


SHOWN_ERRORS = (OSError, TimeoutError, asyncio.TimeoutError, nats.errors.Error, RuntimeError)


async def pull(sub, batch: int, wait: float | None = None) -> list[Msg]:
    """Up to `batch` messages of a pull subscription: waiting up to `wait` seconds for the first,
    or (no `wait`) only what the server has now, answered at once with a 404 status when that is
    fewer. nats-py's `fetch` cannot ask for the latter (its probe carries an expiry, which makes
    the server linger until it runs out), and takes any message with a `Status` header for a status
    of the server's, which a publisher can set: here, a message with an ack subject is a message."""
    request: dict[str, object] = {"batch": batch}
    if wait:
        request["expires"] = int(wait * 1e9)
    else:
        request["no_wait"] = True
    await sub._nc.publish(sub._nms, json.dumps(request).encode(), sub._deliver)
    deadline = asyncio.get_running_loop().time() + (wait or 0) + 1.0
    messages: list[Msg] = []
    while len(messages) < batch:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            break
        try:
            msg = await sub._sub.next_msg(timeout=remaining)
        except (asyncio.TimeoutError, nats.errors.TimeoutError):
            break
        if not msg.reply:  # the server's status: 404 no more, 408 expired (or a stale one); 100 heartbeat
            if (msg.headers or {}).get("Status") == "100":
                continue
            break
        messages.append(msg)
    return messages


class StreamGaps:
    """Reads, straight from the stream, the messages of a filter between two sequences."""

    def __init__(self, js: JetStreamContext, stream: str, subject: str):
        self.js, self.stream, self.subject = js, stream, subject

    async def between(self, after: int, before: int, limit: int = 10_000) -> list[Item]:
        """At most `limit` of them, oldest first."""
        items: list[Item] = []
        seq = after + 1
        while seq < before and len(items) < limit:
            try:
                raw = await self.js.get_msg(self.stream, seq=seq, subject=self.subject, next=True)
            except NotFoundError:
                break
            if raw.seq is None or raw.seq >= before:
                break
            items.append(Item(raw.seq, raw.subject or "", raw.data or b"", dict(raw.headers or {}) or None))
            seq = raw.seq + 1
        return items


class Consumer:
    def __init__(self, *, name: str, handle: Handle, key_of: KeyOf = one_key, dead_letter_after: int = 5,
                 max_deliveries: int = 20, retry_base_delay: float = 0.2, ack_wait: float = 10.0,
                 on_dead_letter: Callable[[Item], Awaitable[None]] | None = None,
                 start_floor: Callable[[], Awaitable[int]] | None = None):
        self.name = name
        self.handle = handle
        self.key_of = key_of
        self.dead_letter_after = dead_letter_after  # attempts in process before dead-lettering
        self.max_deliveries = max_deliveries  # deliveries (crashes) of a message before dead-lettering it
        self.ack_wait = ack_wait
        self.retry_base_delay = retry_base_delay
        self.on_dead_letter = on_dead_letter  # e.g. move a read model's position past the message
        self.start_floor = start_floor  # the floor when the store knows it better than the server's ack floor
        self.processed = 0
        self.dead_lettered = 0
        self.gap_filled = 0
        self.js: JetStreamContext | None = None
        self.gaps: StreamGaps | None = None
        self.batch_size = 200
        self.work_queue = False
        self._acked: set[int] = set()  # of the fetch being applied
        self.floor = 0
        self.last_delivery = 0  # consumer sequence of the last delivery seen
        self.backlog: list[Item] = []  # read from the stream at start: a dead process's unacked messages
        self.declaration: tuple[str, str, ConsumerConfig] | None = None  # for kit.nats_setup.prepare

    def declare(self, *, stream: str, subject: str, batch_size: int = 200, work_queue: bool = False) -> None:
        """The durable pull consumer this runs on (created or updated by kit.nats_setup.prepare).

        The server never gives up on a message (max_deliver=-1): the bound on failing messages is
        ours. Up to ten fetches may be unacked at once, so a dead process's unacked messages do not
        stop the flow while they wait for their redelivery.
        """
        self.batch_size = batch_size
        self.work_queue = work_queue  # its stream keeps a message until this consumer acks it
        # Where the stream keeps its messages, one ack of the last applied message acks the ones
        # before it (they are applied in order): one ack a fetch, not one a message. A work queue
        # wants each message acked (it deletes them one by one).
        self.ack_all = not work_queue
        self.declaration = (stream, subject, ConsumerConfig(
            durable_name=self.name, filter_subject=subject,
            ack_policy=ServerAckPolicy.EXPLICIT if work_queue else ServerAckPolicy.ALL,
            ack_wait=self.ack_wait, max_deliver=-1, deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=10 * batch_size,
        ))

    async def run(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        """Fetch and process until `stop` is set.

        We drive the fetch loop with nats-py rather than FastStream's `PullSub(batch=True)`: its
        loop waits out the whole timeout to fill a batch (latency) and lets one timeout path of
        nats-py 2.16 escape as an error that restarts the subscriber.
        """
        assert self.declaration is not None
        stream, subject, _ = self.declaration
        self.js = js
        self.gaps = StreamGaps(js, stream, subject)
        await self._start()
        sub = await js.pull_subscribe_bind(durable=self.name, stream=stream)
        try:
            while not stop.is_set():
                messages = await self._fetch(sub)
                if messages or self.backlog:
                    await self.process(messages)
        finally:
            await sub.unsubscribe()

    async def _start(self) -> None:
        """Where we are, and what a process before us was delivered and did not ack: read from the
        stream now, it is applied with the first fetch (after it, so that the server counts the
        deliveries of a message the process keeps dying on)."""
        assert self.js is not None and self.declaration is not None and self.gaps is not None
        info = await self.js.consumer_info(self.declaration[0], self.name)
        self.floor = await self.start_floor() if self.start_floor is not None else (
            info.ack_floor.stream_seq if info.ack_floor else 0)
        delivered = info.delivered.stream_seq if info.delivered else 0
        self.last_delivery = info.delivered.consumer_seq if info.delivered else 0
        self.backlog = await self.gaps.between(self.floor, delivered + 1) if delivered > self.floor else []

    async def _fetch(self, sub) -> list[Msg]:
        """Wait for the first message, then take whatever else is already there, without waiting
        (a request that lingers for a full batch would add its wait to every command's latency at
        low rates, at every stage of the platform)."""
        messages = await pull(sub, 1, wait=0.5)
        if messages and self.batch_size > 1:
            messages += await pull(sub, self.batch_size - 1)
        return messages

    async def process(self, messages: Sequence[Msg]) -> None:
        delivered = [Item(m.metadata.sequence.stream, m.subject, m.data, m.headers, m) for m in messages]
        deliveries = [m.metadata.sequence.consumer for m in messages]
        contiguous = bool(deliveries) and min(deliveries) == self.last_delivery + 1
        self.last_delivery = max([self.last_delivery, *deliveries])
        duplicates = [i for i in delivered if i.seq <= self.floor]  # dealt with before (read from the
        for item in (duplicates[-1:] if self.ack_all else duplicates):  # stream, or the ack was lost)
            await item.delivery.ack()  # type: ignore[union-attr]
        self.processed += len(duplicates)
        fresh = {i.seq: i for i in self.backlog if i.seq > self.floor}
        fresh |= {i.seq: i for i in delivered if i.seq > self.floor}  # a delivery counts its attempts
        self.backlog = []
        if not fresh:
            return
        items = sorted(fresh.values(), key=lambda i: i.seq)
        if not (contiguous and all(i.num_delivered == 1 for i in items)):
            # someone else was delivered messages of ours, or these come late: whatever of our
            # filter is still in the stream below them comes first
            assert self.gaps is not None
            limit = 10 * self.batch_size
            found = await self.gaps.between(self.floor, items[-1].seq, limit)
            missing = [i for i in found if i.seq not in fresh]
            if len(found) == limit:  # a long way behind: catch up a part now, the rest with later fetches
                for item in items:
                    if item.seq > found[-1].seq and item.delivery is not None:
                        await item.delivery.nak()
                items = [i for i in items if i.seq <= found[-1].seq]
            if missing:
                self.gap_filled += len(missing)
                log.info("%s: %d earlier message(s) read from the stream to keep the order", self.name, len(missing))
                items = sorted([*missing, *items], key=lambda i: i.seq)
        await self._apply(items)

    async def _apply(self, everything: list[Item]) -> None:
        self._acked: set[int] = set()
        # a process that set a message aside and died before acking it: it comes again, and stays aside
        aside = [i for i in everything if (i.delivery is None or i.num_delivered > 1) and await self._set_aside(i)]
        for item in aside:  # (where one ack acks all before it, the fetch's settling acks it, in order)
            await self._done_with(item, ack=not self.ack_all)
        everything = [i for i in everything if i not in aside]
        worn = [i for i in everything if i.num_delivered > self.max_deliveries]
        for item in worn:  # the process kept dying on it: set it aside untried
            await self.dead_letter(item, RuntimeError(f"delivered {item.num_delivered} times without being acked"))
        items = [i for i in everything if i.num_delivered <= self.max_deliveries]
        done: list[int] | None = None
        if items:
            try:
                done = await self.handle(items)
            except Exception as e:  # noqa: BLE001 - isolate the culprit, key by key
                log.info("%s: batch of %d failed (%s); retrying one by one", self.name, len(items), safe_error(e))
        if done is None:
            done = await self._one_by_one(items)
        await self._settle(sorted([*everything, *aside], key=lambda i: i.seq),
                           set(done) | {i.seq for i in worn} | {i.seq for i in aside})

    async def _one_by_one(self, items: list[Item]) -> list[int]:
        """Each item alone, in order, a failing one holding back only the later items of its key."""
        done: list[int] = []
        attempts: dict[int, int] = {}
        errors: dict[int, BaseException] = {}
        pending = list(items)
        while pending:
            failed_keys: set[str] = set()
            waiting: list[Item] = []
            for item in pending:
                key = self.key_of(item)
                if key in failed_keys:
                    waiting.append(item)  # behind a failed one of its key: keeps its turn
                    continue
                try:
                    applied = await self.handle([item])
                    done += applied
                    if item.seq in applied:  # committed on its own: acked now, not after the slowest
                        await self._ack(item)
                except Exception as e:  # noqa: BLE001 - every failure is retried, then dead-lettered
                    attempts[item.seq] = attempts.get(item.seq, 0) + 1
                    errors[item.seq] = e
                    log.warning("%s: attempt %d at #%d failed: %s", self.name, attempts[item.seq], item.seq,
                                safe_error(e))
                    if attempts[item.seq] >= self.dead_letter_after:
                        await self.dead_letter(item, e)
                        done.append(item.seq)
                    else:
                        failed_keys.add(key)
                        waiting.append(item)
            pending = sorted(waiting, key=lambda i: i.seq)
            if pending:
                for item in pending:
                    if item.delivery is not None:
                        await item.delivery.in_progress()
                worst = max(attempts.get(i.seq, 0) for i in pending)
                await asyncio.sleep(self.retry_base_delay * 2 ** max(0, worst - 1))
        return done

    async def _ack(self, item: Item) -> None:
        if item.delivery is not None and item.seq not in self._acked:
            self._acked.add(item.seq)
            await item.delivery.ack()

    async def _settle(self, items: list[Item], done: set[int]) -> None:
        settled = [i for i in items if i.seq in done]  # a prefix of the fetch, in stream order
        if self.ack_all:
            last = next((i for i in reversed(settled) if i.delivery is not None), None)
            settled = [last] if last is not None else []
        for item in settled:
            await self._ack(item)
        self.processed += len(done)
        not_due = [i for i in items if i.seq not in done]
        if not_due:
            # the store behind the handler is not where we thought (another writer moved it):
            # hand these back and ask the store where it is
            for item in not_due:
                if item.delivery is not None:
                    await item.delivery.nak(delay=1.0)
            if self.start_floor is not None:
                self.floor = await self.start_floor()
            self.last_delivery = -1  # look for gaps at the next fetch
            log.info("%s: %d message(s) not yet due; handed back", self.name, len(not_due))
            return
        self.floor = max(self.floor, items[-1].seq)

    async def dead_letter(self, item: Item, error: BaseException | None) -> None:
        assert self.js is not None and self.declaration is not None
        stream = self.declaration[0]
        headers = {
            "Kit-Consumer": self.name,
            "Kit-Error": safe_error(error) if error else "unknown",
            "Kit-Original-Subject": item.subject,
            "Kit-Original-Stream": stream,
            "Kit-Original-Sequence": str(item.seq),
            "Kit-Deliveries": str(item.num_delivered),
            "Nats-Msg-Id": f"dlq:{self.name}:{stream}:{item.seq}",
        }
        await self.js.publish(dlq_subject(self.name, item.seq), item.data, headers=headers, stream=DLQ_STREAM)
        await self._done_with(item)
        self.dead_lettered += 1
        log.error("%s: dead-lettered %s#%d: %s", self.name, stream, item.seq, headers["Kit-Error"])

    async def _done_with(self, item: Item, ack: bool = True) -> None:
        """A message set aside: for good, even if this process dies before the rest of its fetch is
        settled (the read model's position moves past it; it is acked, or removed from its work
        queue when it was read from the stream)."""
        assert self.js is not None and self.declaration is not None
        if self.on_dead_letter is not None:
            await self.on_dead_letter(item)
        if item.delivery is not None:
            if ack:
                await self._ack(item)
        elif self.work_queue:
            await self.js.delete_msg(self.declaration[0], item.seq)

    async def _set_aside(self, item: Item) -> bool:
        """Whether a process before this one dead-lettered the message (its dead letter is there)."""
        assert self.js is not None
        try:
            await self.js.get_last_msg(DLQ_STREAM, dlq_subject(self.name, item.seq))
        except NotFoundError:
            return False
        log.info("%s: %d was dead-lettered before; not applied again", self.name, item.seq)
        return True
