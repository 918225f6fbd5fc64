"""The skeleton of a service that handles commands, the same for every such service:

    kit.commands.<service>.<agency> --consumer (in order per youth, each once)--> runtime
      --one transaction: events + indexes + receipts--> the service's store
      --outbox relay--> kit.events.<service>.<type> and kit.receipts.<agency>

plus the read models it keeps of its own log and its scheduled jobs. A service hands it its
declaration, its store and runtime, and those extras; its wiring module does nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone

from kit.config import Settings, database_url, nats_url
from kit.consumer import Consumer, Item
from kit.log_views import LogView, run_log_view
from kit.nats_auth import broker, connect, stop_broker
from kit.nats_permissions import service_user
from kit.nats_setup import prepare
from kit.relay import OutboxRelay
from kit.runtime import Incoming, Runtime, ordering_key
from kit.service import Platform, Service
from kit.store import Store
from kit.streams import COMMANDS_STREAM, RECEIPTS_STREAM, commands_filter, events_stream, receipt_subject
from kit.translation import receipt_bytes, translator

Job = Callable[[asyncio.Event], Awaitable[None]]


def sender_of(subject: str) -> str:
    """kit.commands.<service>.<agency> -> <agency>: only the gateway and the HTTP API publish there,
    with the agency the partner's NATS user or the operator's token stands for."""
    return subject.split(".")[3]


class CommandService:
    def __init__(self, settings: Settings, platform: Platform, service: Service, store: Store, runtime: Runtime,
                 *, log_views: Sequence[LogView] = (), jobs: Sequence[Job] = ()):
        if store.name != service.name:  # receipts and the relay derive event ids from the store's name alike
            raise ValueError(f"the {service.name} service keeps its store under its own name, not {store.name!r}")
        self.settings, self.platform, self.service = settings, platform, service
        self.store, self.runtime = store, runtime
        self.log_views, self.jobs = log_views, jobs
        self.db_url = database_url(settings)
        self.nats_url = nats_url(settings, service_user(service))
        self.log = logging.getLogger(f"kit.{service.name}")
        self.broker = broker(self.nats_url, name=f"kit-{service.name}",
                             logger=logging.getLogger(f"kit.{service.name}.broker"))
        self.consumer = Consumer(name=f"{service.name}-commands", handle=self.handle,
                                 key_of=lambda item: ordering_key(item.data),
                                 dead_letter_after=settings.dead_letter_after, max_deliveries=settings.max_deliver,
                                 ack_wait=settings.ack_wait)
        self.consumer.declare(stream=COMMANDS_STREAM, subject=commands_filter(service.name), batch_size=100,
                              work_queue=True)

    async def handle(self, items: list[Item]) -> list[int]:
        batch = [Incoming(sender_of(i.subject), i.data, i.seq) for i in items]
        outcomes = await asyncio.to_thread(self.runtime.handle, batch, datetime.now(timezone.utc))
        for incoming, (receipt, is_new) in zip(batch, outcomes, strict=True):
            if not is_new:  # the first receipt went out through the outbox; answer the repeat too
                await self.broker.publish(
                    receipt_bytes(receipt), receipt_subject(incoming.agency), stream=RECEIPTS_STREAM,
                    headers={"Nats-Msg-Id": f"receipt:{self.service.name}:{incoming.agency}:{receipt['ingest_id']}"
                                            f":again:{incoming.stream_seq}"})
        return [i.seq for i in items]

    async def run(self, stop: asyncio.Event) -> None:
        await prepare(self.nats_url, self.platform, [self.consumer.declaration])
        relay_nc = await connect(self.nats_url, name=f"kit-{self.service.name}-relay")
        relay = OutboxRelay(app=self.store, js=relay_nc.jetstream(publish_async_max_pending=1000),
                            url=self.db_url, schema=self.service.schema or self.service.name, name=self.service.name,
                            events_stream=events_stream(self.service.name),
                            translate=translator(self.service.name, self.service.source,
                                                 {m.type_name: m for m in self.service.messages}))
        await self.broker.start()
        self.log.info("%s service running", self.service.name)
        try:
            await asyncio.gather(
                self.consumer.run(self.broker.config.connection_state.stream, stop), relay.run(stop),
                *(run_log_view(self.store, self.db_url, self.service.schema or self.service.name, view, stop)
                  for view in self.log_views),
                *(job(stop) for job in self.jobs))
        finally:
            await stop_broker(self.broker)
            await relay_nc.close()
            self.store.close()
