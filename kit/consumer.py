"""Durable pull consumers that keep the platform's promises.

- Nothing is acked before its effect is committed (explicit acks, after the commit).
- The handler decides which messages of a fetch are done (applied, or recognised as duplicates);
  the others arrived ahead of their turn (after a crash the server redelivers older messages in
  no particular order) and are handed back with a short delay, never dead-lettered for waiting.
- A failing message is retried in place with backoff, then sent to `kit.dlq.<consumer>` with the
  reason and acked, so the consumer goes on. A message that is due but was already delivered too
  often (the process kept dying on it) goes straight to the dead-letter subject.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy as ServerAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from kit.streams import DLQ_STREAM, dlq_subject

log = logging.getLogger("kit.consumer")

Handle = Callable[[list[Msg]], Awaitable[list[Msg]]]
"""Applies the messages in their order and returns those that are done (to be acked); the rest
are not due yet. Raises having committed none of them, or is idempotent per message."""

IsDue = Callable[[Msg], Awaitable[bool]]
"""Whether a message is the next one to apply (for handlers that apply in order)."""

NOT_DUE_DELAY = 1.0


def safe_error(error: BaseException) -> str:
    """An error text fit for a header: no input values (pydantic echoes them unless told not to)."""
    if isinstance(error, ValidationError):
        parts = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_input=False)]
        text = f"ValidationError: {'; '.join(parts)}"
    else:
        text = f"{type(error).__name__}: {error}"
    return text.replace("\r", " ").replace("\n", " ")[:500]


async def _always_due(_: Msg) -> bool:
    return True


class Consumer:
    def __init__(self, *, name: str, handle: Handle, dead_letter_after: int = 5, max_deliveries: int = 20,
                 retry_base_delay: float = 0.2, ack_wait: float = 10.0,
                 on_dead_letter: Callable[[Msg], Awaitable[None]] | None = None, is_due: IsDue = _always_due):
        self.name = name
        self.handle = handle
        self.dead_letter_after = dead_letter_after  # attempts in process before dead-lettering
        self.max_deliveries = max_deliveries  # deliveries of a due message (crashes) before dead-lettering it
        self.ack_wait = ack_wait
        self.retry_base_delay = retry_base_delay
        self.on_dead_letter = on_dead_letter  # e.g. move a read model's position past the message
        self.is_due = is_due
        self.processed = 0
        self.dead_lettered = 0
        self.js: JetStreamContext | None = None
        self.batch_size = 200
        self.declaration: tuple[str, str, ConsumerConfig] | None = None  # for kit.nats_setup.prepare

    def declare(self, *, stream: str, subject: str, batch_size: int = 200) -> None:
        """The durable pull consumer this runs on (created or updated by kit.nats_setup.prepare).

        The server never gives up on a message (max_deliver=-1): a message waiting for its turn
        may be delivered many times; the bound on failing messages is ours (see process_one).
        """
        self.batch_size = batch_size
        self.declaration = (stream, subject, ConsumerConfig(
            durable_name=self.name, filter_subject=subject, ack_policy=ServerAckPolicy.EXPLICIT,
            ack_wait=self.ack_wait, max_deliver=-1, deliver_policy=DeliverPolicy.ALL, max_ack_pending=batch_size,
        ))

    async def run(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        """Fetch and process until `stop` is set.

        We drive the fetch loop with nats-py rather than FastStream's `PullSub(batch=True)`: its
        loop waits out the whole timeout to fill a batch (latency) and lets one timeout path of
        nats-py 2.16 escape as an error that restarts the subscriber.
        """
        assert self.declaration is not None
        self.js = js
        sub = await js.pull_subscribe_bind(durable=self.name, stream=self.declaration[0])
        try:
            while not stop.is_set():
                messages = await self._fetch(sub)
                if messages:
                    await self.process(messages)
        finally:
            await sub.unsubscribe()

    async def _fetch(self, sub) -> list[Msg]:
        """Wait for the first message, then take whatever else is already there.

        A single `fetch(batch)` that finds nothing waiting lingers until the batch is full or the
        request expires, which adds up to its timeout to every message's latency at low rates.
        """
        try:
            messages = await sub.fetch(1, timeout=0.5)
        except (asyncio.TimeoutError, nats.errors.TimeoutError):
            return []
        if self.batch_size > 1:
            try:
                messages += await sub.fetch(self.batch_size - 1, timeout=0.005)
            except (asyncio.TimeoutError, nats.errors.TimeoutError):
                pass
        return messages

    async def process(self, messages: list[Msg]) -> None:
        """The whole fetch in one commit when it succeeds; otherwise one at a time, with retries."""
        if all(m.metadata.num_delivered <= self.max_deliveries for m in messages):
            try:
                done = await self.handle(messages)
            except Exception as e:  # noqa: BLE001 - fall back to one at a time to isolate the culprit
                log.info("%s: batch of %d failed (%s); retrying one by one", self.name, len(messages), safe_error(e))
            else:
                await self._settle(messages, done)
                return
        for m in sorted(messages, key=lambda m: m.metadata.sequence.stream):
            await self.process_one(m)

    async def _settle(self, messages: list[Msg], done: list[Msg]) -> None:
        done_ids = {id(m) for m in done}
        for m in done:
            await m.ack()
        self.processed += len(done)
        not_due = [m for m in messages if id(m) not in done_ids]
        for m in not_due:
            await m.nak(delay=NOT_DUE_DELAY)
        if not_due:
            log.info("%s: %d message(s) arrived ahead of their turn; handed back", self.name, len(not_due))

    async def process_one(self, msg: Msg) -> None:
        if msg.metadata.num_delivered > self.max_deliveries and await self.is_due(msg):
            error: BaseException | None = RuntimeError(
                f"delivered {msg.metadata.num_delivered} times without being acked")
            await self.dead_letter(msg, error)
            return
        for attempt in range(1, self.dead_letter_after + 1):
            try:
                await self._settle([msg], await self.handle([msg]))
                return
            except Exception as e:  # noqa: BLE001 - every failure is retried, then dead-lettered
                error = e
                log.warning("%s: attempt %d failed: %s", self.name, attempt, safe_error(e))
                if attempt < self.dead_letter_after:
                    await msg.in_progress()
                    await asyncio.sleep(self.retry_base_delay * 2 ** (attempt - 1))
        await self.dead_letter(msg, error)

    async def dead_letter(self, msg: Msg, error: BaseException | None) -> None:
        assert self.js is not None
        headers = {
            "Kit-Consumer": self.name,
            "Kit-Error": safe_error(error) if error else "unknown",
            "Kit-Original-Subject": msg.subject,
            "Kit-Original-Stream": msg.metadata.stream,
            "Kit-Original-Sequence": str(msg.metadata.sequence.stream),
            "Kit-Deliveries": str(msg.metadata.num_delivered),
            "Nats-Msg-Id": f"dlq:{self.name}:{msg.metadata.stream}:{msg.metadata.sequence.stream}",
        }
        await self.js.publish(dlq_subject(self.name), msg.data, headers=headers, stream=DLQ_STREAM)
        if self.on_dead_letter is not None:
            await self.on_dead_letter(msg)
        await msg.ack()
        self.dead_lettered += 1
        log.error("%s: dead-lettered %s#%d: %s", self.name, msg.metadata.stream,
                  msg.metadata.sequence.stream, headers["Kit-Error"])
