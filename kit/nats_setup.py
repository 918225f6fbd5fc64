"""Declare streams and durable consumers before a service starts consuming.

An existing durable consumer keeps its old config unless updated explicitly, so we always call
`add_consumer`, which updates it in place.
"""

from __future__ import annotations

from nats.js.api import ConsumerConfig
from nats.js.errors import NotFoundError

from kit.nats_auth import connect
from kit.service import Platform
from kit.streams import ensure_streams


async def prepare(url: str, platform: Platform, consumers: list[tuple[str, str, ConsumerConfig]] = ()) -> None:
    """`consumers`: (stream, filter subject, config) triples, as `Consumer.declaration` holds them."""
    nc = await connect(url, name="kit-setup")
    try:
        js = nc.jetstream()
        await ensure_streams(js, platform)
        for stream, _subject, config in consumers:
            try:
                existing = await js.consumer_info(stream, config.durable_name)
            except NotFoundError:
                existing = None
            if existing is not None and existing.config.ack_policy != config.ack_policy:
                # the server keeps a consumer's ack policy for good: an older one is made anew (the
                # consumer's floor, kept by its reader, skips what it hands over again)
                await js.delete_consumer(stream, config.durable_name)
            await js.add_consumer(stream, config)
    finally:
        await nc.close()
