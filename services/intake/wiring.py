"""Composition root of the intake service: store, ingest consumer, outbox relay."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

import nats
from faststream.nats import NatsBroker
from nats.aio.msg import Msg

from kit.config import Settings, database_url, nats_url
from kit.consumer import Consumer
from kit.db import ensure_schema, eventsourcing_env
from kit.nats_setup import prepare
from kit.relay import OutboxRelay
from kit.streams import INGEST_STREAM, RECEIPTS_STREAM, events_stream, receipt_subject
from services.intake.application import SCHEMA, IntakeApplication
from services.intake.ingest import Incoming, handle_ingest
from services.intake.translation import SERVICE, receipt_bytes, translate

log = logging.getLogger("kit.intake")


def agency_of(subject: str) -> str:
    """kit.ingest.<agency>[.<more>] -> <agency> (NATS permissions bind each partner to its own)."""
    return subject.split(".")[2]


class IntakeService:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.db_url = database_url(settings)
        self.nats_url = nats_url(settings)
        self.app: IntakeApplication | None = None
        self.broker = NatsBroker(self.nats_url, name="kit-intake", logger=logging.getLogger("kit.intake.broker"))
        self.consumer = Consumer(name="intake-ingest", handle=self.handle,
                                 dead_letter_after=settings.dead_letter_after,
                                 max_deliveries=settings.max_deliver, ack_wait=settings.ack_wait)
        self.consumer.declare(stream=INGEST_STREAM, subject="kit.ingest.>", batch_size=100)

    async def handle(self, messages: list[Msg]) -> list[Msg]:
        """Idempotent per message: a message already answered is answered again, never re-applied."""
        assert self.app is not None
        messages = sorted(messages, key=lambda m: m.metadata.sequence.stream)  # redeliveries come in any order
        batch = [Incoming(agency_of(m.subject), m.data, m.metadata.sequence.stream) for m in messages]
        outcomes = await asyncio.to_thread(handle_ingest, self.app, batch, datetime.now(timezone.utc))
        for incoming, (receipt, is_new) in zip(batch, outcomes, strict=True):
            if not is_new:  # the first receipt went out through the outbox; answer the repeat too
                await self.broker.publish(
                    receipt_bytes(receipt),
                    receipt_subject(incoming.agency), stream=RECEIPTS_STREAM,
                    headers={"Nats-Msg-Id": f"receipt:{incoming.agency}:{receipt['ingest_id']}:again:{incoming.stream_seq}"},
                )
        return messages

    async def run(self, stop: asyncio.Event) -> None:
        ensure_schema(self.db_url, SCHEMA)
        self.app = IntakeApplication(env=eventsourcing_env(self.db_url, SCHEMA))
        await prepare(self.nats_url, [self.consumer.declaration])
        relay_nc = await nats.connect(self.nats_url, name="kit-intake-relay")
        relay = OutboxRelay(app=self.app, js=relay_nc.jetstream(publish_async_max_pending=1000),
                            url=self.db_url, schema=SCHEMA, name=SERVICE,
                            events_stream=events_stream(SERVICE), translate=translate)
        await self.broker.start()
        log.info("intake service running")
        try:
            await asyncio.gather(self.consumer.run(self.broker.config.connection_state.stream, stop),
                                 relay.run(stop))
        finally:
            await self.broker.stop()
            await relay_nc.close()
            self.app.close()


async def main(settings: Settings, stop: asyncio.Event) -> None:
    await IntakeService(settings).run(stop)
