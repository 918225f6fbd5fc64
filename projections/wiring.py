"""Composition root of the views service: one durable consumer per projection and upstream stream."""

from __future__ import annotations

import asyncio
import logging

from faststream.nats import NatsBroker
from nats.aio.msg import Msg
from psycopg_pool import ConnectionPool

from kit.config import Settings, database_url, nats_url
from kit.consumer import Consumer
from kit.db import ensure_schema
from kit.nats_setup import prepare
from kit.streams import SERVICES_WITH_EVENTS, events_stream
from projections.tracking import (SCHEMA, Projection, apply_in_turn, consumer_name, create_positions_table, is_due,
                                  skip_in_turn)
from projections.timeline import Timeline
from projections.youth_directory import YouthDirectory

log = logging.getLogger("kit.views")

PROJECTIONS: tuple[Projection, ...] = (YouthDirectory(), Timeline())


class ViewsService:
    def __init__(self, settings: Settings, projections: tuple[Projection, ...] = PROJECTIONS):
        self.settings = settings
        self.db_url = database_url(settings)
        self.nats_url = nats_url(settings)
        self.projections = projections
        self.pool: ConnectionPool | None = None
        self.broker = NatsBroker(self.nats_url, name="kit-views", logger=logging.getLogger("kit.views.broker"))
        self.consumers: list[Consumer] = []
        for projection in projections:
            for service in SERVICES_WITH_EVENTS:
                consumer = Consumer(name=consumer_name(projection.name, service),
                                    handle=self._handler(projection),
                                    on_dead_letter=self._skipper(projection),
                                    is_due=self._due(projection),
                                    dead_letter_after=settings.dead_letter_after,
                                    max_deliveries=settings.max_deliver, ack_wait=settings.ack_wait)
                consumer.declare(stream=events_stream(service), subject=f"kit.events.{service}.>",
                                 batch_size=500)
                self.consumers.append(consumer)

    def _handler(self, projection: Projection):
        async def handle(messages: list[Msg]) -> list[Msg]:
            stream = messages[0].metadata.stream
            batch = [(m.metadata.sequence.stream, m.data) for m in messages]
            done = set(await asyncio.to_thread(self._in_transaction, apply_in_turn, projection, stream, batch))
            return [m for m in messages if m.metadata.sequence.stream in done]
        return handle

    def _due(self, projection: Projection):
        async def due(message: Msg) -> bool:
            return await asyncio.to_thread(self._in_transaction, is_due, projection, message.metadata.stream,
                                           message.metadata.sequence.stream)
        return due

    def _skipper(self, projection: Projection):
        async def skip(message: Msg) -> None:
            await asyncio.to_thread(self._in_transaction, skip_in_turn, projection, message.metadata.stream,
                                    message.metadata.sequence.stream)
        return skip

    def _in_transaction(self, function, *args):
        assert self.pool is not None
        with self.pool.connection() as conn, conn.transaction():
            # A view is rebuilt from the stream: if the server crashes, rows and position are lost
            # together and the consumer applies those messages again, so the commit need not wait
            # for the disk (the intake store's commits do).
            conn.execute("SET LOCAL synchronous_commit = off")
            return function(conn, *args)

    def create_tables(self) -> None:
        ensure_schema(self.db_url, SCHEMA)
        assert self.pool is not None
        with self.pool.connection() as conn, conn.transaction():
            create_positions_table(conn)
            for projection in self.projections:
                projection.create_tables(conn)

    async def run(self, stop: asyncio.Event) -> None:
        self.pool = ConnectionPool(self.db_url, min_size=1, max_size=4, open=True)
        try:
            self.create_tables()
            await prepare(self.nats_url, [c.declaration for c in self.consumers])
            await self.broker.start()
            log.info("views service running: %s", ", ".join(p.name for p in self.projections))
            js = self.broker.config.connection_state.stream
            await asyncio.gather(*(c.run(js, stop) for c in self.consumers))
            await self.broker.stop()
        finally:
            self.pool.close()


async def main(settings: Settings, stop: asyncio.Event) -> None:
    await ViewsService(settings).run(stop)
