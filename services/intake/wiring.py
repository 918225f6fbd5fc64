"""Composition root of the intake service: store, ingest consumer, outbox relay."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from datetime import datetime, timezone

import nats
from faststream.nats import NatsBroker
from nats.aio.msg import Msg

from kit.config import Settings, database_url, nats_url
from kit.keys import ingest_private_key, master_keys, pseudonym_key
from kit.vault import VaultKeys
from kit.consumer import Consumer
from kit.db import ensure_schema, eventsourcing_env
from kit.nats_setup import prepare
from kit.relay import OutboxRelay
from kit.streams import INGEST_STREAM, RECEIPTS_STREAM, events_stream, receipt_subject
from services.intake.application import SCHEMA, IntakeApplication
from services.intake.alerts import erase_on_schedule, erasure_candidates, flag_lost_contacts, lost_contact_candidates
from services.intake.identity import IdentityVault
from services.intake.ingest import Incoming, Intake, due_run, handle_ingest
from services.intake.policy import load_policy
from services.intake.translation import SERVICE, receipt_bytes, translate

log = logging.getLogger("kit.intake")


def agency_of(subject: str) -> str:
    """kit.ingest.<agency>[.<more>] -> <agency> (NATS permissions bind each partner to its own)."""
    return subject.split(".")[2]


def open_intake(db_url: str, data_dir: Path, env: dict[str, str] | None = None) -> Intake:
    """The intake store, policy and vault, ready to handle messages (schema and tables created)."""
    ensure_schema(db_url, SCHEMA)
    keys = VaultKeys(db_url, master_keys(data_dir, env), schema=SCHEMA)
    keys.create_table()
    vault = IdentityVault(keys=keys, ingest_private_key=ingest_private_key(data_dir, env),
                          pseudonym_key=pseudonym_key(data_dir, env))
    return Intake(app=IntakeApplication(env=eventsourcing_env(db_url, SCHEMA)), policy=load_policy(env), vault=vault)


class IntakeService:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.db_url = database_url(settings)
        self.nats_url = nats_url(settings)
        self.intake: Intake | None = None
        self.handled_upto = 0  # highest ingest sequence this process handled (acked right after)
        self.broker = NatsBroker(self.nats_url, name="kit-intake", logger=logging.getLogger("kit.intake.broker"))
        self.consumer = Consumer(name="intake-ingest", handle=self.handle, is_due=self.is_due,
                                 dead_letter_after=settings.dead_letter_after,
                                 max_deliveries=settings.max_deliver, ack_wait=settings.ack_wait)
        self.consumer.declare(stream=INGEST_STREAM, subject="kit.ingest.>", batch_size=100)

    async def oldest_pending(self) -> int:
        """KIT_INGEST is a work queue: its first sequence is the oldest message not yet handled."""
        assert self.consumer.js is not None
        return (await self.consumer.js.stream_info(INGEST_STREAM)).state.first_seq

    async def is_due(self, message: Msg) -> bool:
        return message.metadata.sequence.stream == await self.oldest_pending()

    async def handle(self, messages: list[Msg]) -> list[Msg]:
        """Messages are handled in the order partners published them, each once.

        After a crash the server redelivers the unacked messages later than newer ones: only the
        run that starts at the oldest pending message is handled now, the rest is handed back
        (a youth's commands must not overtake each other). A message already answered is
        answered again, never re-applied.
        """
        assert self.intake is not None
        ordered = sorted(messages, key=lambda m: m.metadata.sequence.stream)
        # handled here before and redelivered (the ack was lost): answered again, never re-applied
        again = [m for m in ordered if m.metadata.sequence.stream <= self.handled_upto]
        fresh = [m for m in ordered if m.metadata.sequence.stream > self.handled_upto]
        # the server may not have processed our last acks yet: what we handled is gone all the same.
        # A batch that continues right after it needs no question to the server (the usual case).
        continues = bool(fresh) and self.handled_upto and fresh[0].metadata.sequence.stream == self.handled_upto + 1
        oldest = self.handled_upto + 1 if continues else max(await self.oldest_pending(), self.handled_upto + 1)
        messages = again + fresh[:due_run([m.metadata.sequence.stream for m in fresh], oldest)]
        if not messages:
            return []
        batch = [Incoming(agency_of(m.subject), m.data, m.metadata.sequence.stream) for m in messages]
        outcomes = await asyncio.to_thread(handle_ingest, self.intake, batch, datetime.now(timezone.utc))
        for incoming, (receipt, is_new) in zip(batch, outcomes, strict=True):
            if not is_new:  # the first receipt went out through the outbox; answer the repeat too
                await self.broker.publish(
                    receipt_bytes(receipt),
                    receipt_subject(incoming.agency), stream=RECEIPTS_STREAM,
                    headers={"Nats-Msg-Id": f"receipt:{incoming.agency}:{receipt['ingest_id']}:again:{incoming.stream_seq}"},
                )
        self.handled_upto = max(self.handled_upto, messages[-1].metadata.sequence.stream)  # acked when we return
        return messages

    async def alerts(self, stop: asyncio.Event) -> None:
        """Every `KIT_ALERT_INTERVAL` seconds: lost-contact alerts and retention erasures that came due."""
        assert self.intake is not None
        while not stop.is_set():
            now = datetime.now(timezone.utc)
            candidates = await asyncio.to_thread(lost_contact_candidates, self.db_url, now,
                                                 self.intake.policy.lost_contact_days)
            if candidates:
                recorded = await asyncio.to_thread(flag_lost_contacts, self.intake, candidates, now)
                log.info("lost-contact alerts: %d recorded of %d candidates", len(recorded), len(candidates))
            closed = await asyncio.to_thread(erasure_candidates, self.db_url)
            if closed:
                erased = await asyncio.to_thread(erase_on_schedule, self.intake, closed, now)
                if erased:
                    log.info("retention: %d closed cases erased", len(erased))
            try:
                await asyncio.wait_for(stop.wait(), self.settings.alert_interval)
            except asyncio.TimeoutError:
                pass

    async def run(self, stop: asyncio.Event) -> None:
        self.intake = open_intake(self.db_url, self.settings.data_dir)
        app = self.intake.app
        await prepare(self.nats_url, [self.consumer.declaration])
        relay_nc = await nats.connect(self.nats_url, name="kit-intake-relay")
        relay = OutboxRelay(app=app, js=relay_nc.jetstream(publish_async_max_pending=1000),
                            url=self.db_url, schema=SCHEMA, name=SERVICE,
                            events_stream=events_stream(SERVICE), translate=translate)
        await self.broker.start()
        log.info("intake service running")
        try:
            await asyncio.gather(self.consumer.run(self.broker.config.connection_state.stream, stop),
                                 relay.run(stop), self.alerts(stop))
        finally:
            await self.broker.stop()
            await relay_nc.close()
            app.close()


async def main(settings: Settings, stop: asyncio.Event) -> None:
    await IntakeService(settings).run(stop)
