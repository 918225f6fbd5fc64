"""Composition root of the gateway: one consumer on the ingest stream, routing in publish order."""

from __future__ import annotations

import asyncio
import logging

from kit.config import Settings, nats_url
from kit.consumer import Consumer
from kit.gateway import Gateway
from kit.nats_auth import connect
from kit.nats_permissions import service_user
from kit.nats_setup import prepare
from kit.service import Platform
from kit.streams import INGEST_STREAM

log = logging.getLogger("kit.gateway")
CONSUMER = "gateway-ingest"


async def retire_other_consumers(js) -> None:
    """The ingest stream is a work queue with one reader, the gateway: a consumer left by an older
    version (intake read it directly) would hold a filter that overlaps ours."""
    for info in await js.consumers_info(INGEST_STREAM):
        if info.name != CONSUMER:
            await js.delete_consumer(INGEST_STREAM, info.name)
            log.info("retired the ingest consumer %s (the gateway routes the ingest stream now)", info.name)


async def main(settings: Settings, stop: asyncio.Event, platform: Platform) -> None:
    url = nats_url(settings, service_user(platform.service("gateway")))
    nc = await connect(url, name="kit-gateway")
    try:
        js = nc.jetstream(publish_async_max_pending=1000)
        gateway = Gateway(js, {name: service.name for name, service in platform.command_owners.items()})
        consumer = Consumer(name=CONSUMER, handle=gateway.handle, dead_letter_after=settings.dead_letter_after,
                            max_deliveries=settings.max_deliver, ack_wait=settings.ack_wait)
        consumer.declare(stream=INGEST_STREAM, subject="kit.ingest.>", batch_size=500, work_queue=True)
        await prepare(url, platform)
        await retire_other_consumers(js)
        await prepare(url, platform, [consumer.declaration])
        log.info("gateway running: %d command types of %d services", len(platform.command_owners),
                 len(platform.with_commands))
        await consumer.run(js, stop)
    finally:
        await nc.close()
