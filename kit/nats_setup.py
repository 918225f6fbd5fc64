"""Declare streams and durable consumers before a service starts consuming.

An existing durable consumer keeps its old config unless updated explicitly, so we always call
`add_consumer`, which updates it in place.
"""

from __future__ import annotations

import nats
from nats.js.api import ConsumerConfig

from kit.service import Platform
from kit.streams import ensure_streams


async def prepare(url: str, platform: Platform, consumers: list[tuple[str, str, ConsumerConfig]] = ()) -> None:
    """`consumers`: (stream, filter subject, config) triples, as `Consumer.declaration` holds them."""
    nc = await nats.connect(url, name="kit-setup")
    try:
        js = nc.jetstream()
        await ensure_streams(js, platform)
        for stream, _subject, config in consumers:
            await js.add_consumer(stream, config)
    finally:
        await nc.close()
