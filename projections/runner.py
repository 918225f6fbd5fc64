"""Keeps read models up to date: one durable consumer per upstream stream for all the read models
that read it; each message is read once and applied to every model with the model's position, in
one transaction (`tracking.apply_all`). The views service runs every declared read model with it;
the audit service its log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from nats.js.errors import NotFoundError
from psycopg_pool import ConnectionPool

from kit.config import Settings, database_url, nats_url
from kit.consumer import Consumer, Item
from kit.db import ensure_schema
from kit.nats_auth import broker, stop_broker
from kit.nats_setup import prepare
from kit.service import Platform, Projection
from kit.streams import events_filter, events_stream
from projections.tracking import (SCHEMA, apply_all, consumer_name, create_positions_table, former_consumer_name,
                                  skip_in_turn, stream_position)

log = logging.getLogger("kit.views")


class ProjectionRunner:
    """Runs the given read models (by default every one the platform declares)."""

    def __init__(self, settings: Settings, platform: Platform, projections: Sequence[Projection] | None = None,
                 name: str = "views", user: str = "svc-views"):
        self.settings = settings
        self.platform = platform
        self.db_url = database_url(settings)
        self.nats_url = nats_url(settings, user)
        self.projections = tuple(platform.projections if projections is None else projections)
        self.pool: ConnectionPool | None = None
        self.broker = broker(self.nats_url, name=f"kit-{name}", logger=logging.getLogger(f"kit.{name}.broker"))
        self.consumers: list[Consumer] = []
        self.groups: dict[str, tuple[Projection, ...]] = {}  # stream -> the read models that read it
        for service in platform.with_events:
            group = tuple(p for p in self.projections if service in platform.sources_of(p))
            if not group:
                continue
            stream = events_stream(service.name)
            self.groups[stream] = group
            consumer = Consumer(name=consumer_name(name, service.name), handle=self._handler(group, stream),
                                on_dead_letter=self._skipper(group, stream), start_floor=self._position(group, stream),
                                dead_letter_after=settings.dead_letter_after, max_deliveries=settings.max_deliver,
                                ack_wait=settings.ack_wait)
            consumer.declare(stream=stream, subject=events_filter(service.name), batch_size=500)
            self.consumers.append(consumer)

    def _handler(self, group: tuple[Projection, ...], stream: str):
        async def handle(items: list[Item]) -> list[int]:
            batch = [(i.seq, i.data) for i in items]
            return await asyncio.to_thread(self._in_transaction, apply_all, group, stream, batch)
        return handle

    def _position(self, group: tuple[Projection, ...], stream: str):
        def least(conn) -> int:
            return min(stream_position(conn, p, stream) for p in group)

        async def where() -> int:
            return await asyncio.to_thread(self._in_transaction, least)
        return where

    def _skipper(self, group: tuple[Projection, ...], stream: str):
        def skip_all(conn, sequence: int) -> None:
            for projection in group:
                skip_in_turn(conn, projection, stream, sequence)

        async def skip(item: Item) -> None:
            await asyncio.to_thread(self._in_transaction, skip_all, item.seq)
        return skip

    async def retire_former_consumers(self, js) -> None:
        """Each read model had a consumer of its own before they shared one per stream."""
        for stream, group in self.groups.items():
            service = stream.removeprefix("KIT_EVENTS_").lower()
            for projection in group:
                try:
                    await js.delete_consumer(stream, former_consumer_name(projection.name, service))
                except NotFoundError:
                    pass

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
        self.pool = ConnectionPool(self.db_url, min_size=1, max_size=4, open=True,
                                   check=ConnectionPool.check_connection)  # a server restart leaves dead ones
        try:
            self.create_tables()
            await prepare(self.nats_url, self.platform, [c.declaration for c in self.consumers])
            await self.broker.start()
            await self.retire_former_consumers(self.broker.config.connection_state.stream)
            log.info("views service running: %s", ", ".join(p.name for p in self.projections))
            js = self.broker.config.connection_state.stream
            await asyncio.gather(*(c.run(js, stop) for c in self.consumers))
            await stop_broker(self.broker)
        finally:
            self.pool.close()

