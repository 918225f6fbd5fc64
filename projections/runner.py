"""Keeps read models up to date: one durable consumer per read model and upstream stream, each
message applied with the model's position in one transaction (`tracking.apply_in_turn`). The views
service runs every declared read model with it; the audit service its log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from faststream.nats import NatsBroker
from psycopg_pool import ConnectionPool

from kit.config import Settings, database_url, nats_url
from kit.consumer import Consumer, Item
from kit.db import ensure_schema
from kit.nats_setup import prepare
from kit.service import Platform, Projection
from kit.streams import events_filter, events_stream
from projections.tracking import (SCHEMA, apply_in_turn, consumer_name, create_positions_table, skip_in_turn,
                                  stream_position)

log = logging.getLogger("kit.views")


class ProjectionRunner:
    """Runs the given read models (by default every one the platform declares)."""

    def __init__(self, settings: Settings, platform: Platform, projections: Sequence[Projection] | None = None,
                 name: str = "views"):
        self.settings = settings
        self.platform = platform
        self.db_url = database_url(settings)
        self.nats_url = nats_url(settings)
        self.projections = tuple(platform.projections if projections is None else projections)
        self.pool: ConnectionPool | None = None
        self.broker = NatsBroker(self.nats_url, name=f"kit-{name}", logger=logging.getLogger(f"kit.{name}.broker"))
        self.consumers: list[Consumer] = []
        for projection in self.projections:
            for service in platform.sources_of(projection):
                stream = events_stream(service.name)
                consumer = Consumer(name=consumer_name(projection.name, service.name),
                                    handle=self._handler(projection, stream),
                                    on_dead_letter=self._skipper(projection, stream),
                                    start_floor=self._position(projection, stream),
                                    dead_letter_after=settings.dead_letter_after,
                                    max_deliveries=settings.max_deliver, ack_wait=settings.ack_wait)
                consumer.declare(stream=stream, subject=events_filter(service.name), batch_size=500)
                self.consumers.append(consumer)

    def _handler(self, projection: Projection, stream: str):
        async def handle(items: list[Item]) -> list[int]:
            batch = [(i.seq, i.data) for i in items]
            return await asyncio.to_thread(self._in_transaction, apply_in_turn, projection, stream, batch)
        return handle

    def _position(self, projection: Projection, stream: str):
        async def where() -> int:
            return await asyncio.to_thread(self._in_transaction, stream_position, projection, stream)
        return where

    def _skipper(self, projection: Projection, stream: str):
        async def skip(item: Item) -> None:
            await asyncio.to_thread(self._in_transaction, skip_in_turn, projection, stream, item.seq)
        return skip

    def _in_transaction(self, function, *args):
        assert self.pool is not None
        with self.pool.connection() as conn, conn.transaction():
            # A view is rebuilt from the stream: if the server crashes, rows and position are lost
            # together and the consumer applies those messages again, so the commit need not wait
            # for the disk (the services' stores' commits do).
            conn.execute("SET LOCAL synchronous_commit = off")
            return function(conn, *args)

    def create_tables(self) -> None:
        in_views = [p for p in self.projections if not hasattr(p, "save_position")]  # positions in views.positions
        if in_views:
            ensure_schema(self.db_url, SCHEMA)
        assert self.pool is not None
        with self.pool.connection() as conn, conn.transaction():
            if in_views:
                create_positions_table(conn)
            for projection in self.projections:
                projection.create_tables(conn)

    async def run(self, stop: asyncio.Event) -> None:
        self.pool = ConnectionPool(self.db_url, min_size=1, max_size=4, open=True)
        try:
            self.create_tables()
            await prepare(self.nats_url, self.platform, [c.declaration for c in self.consumers])
            await self.broker.start()
            log.info("views service running: %s", ", ".join(p.name for p in self.projections))
            js = self.broker.config.connection_state.stream
            await asyncio.gather(*(c.run(js, stop) for c in self.consumers))
            await self.broker.stop()
        finally:
            self.pool.close()

