"""A small client helper for partner systems (plain nats-py): connect, publish a CloudEvent, read
receipts.

Partners may equally use any NATS client: connect as the agency's NATS user `agency-<agency>`
with the reply prefix `_INBOX_agency-<agency>` (the only replies that user may read), publish the
structured CloudEvent JSON with JetStream to `kit.ingest.<agency>` and read `kit.receipts.<agency>`
through the consumer `receipts-<agency>`, the only one their NATS user may create
(deploy/nats/accounts.conf).
"""

from __future__ import annotations

import json
from typing import Any

import nats
import nats.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, PubAck

from kit.streams import INGEST_STREAM, RECEIPTS_STREAM, ingest_subject, receipt_subject


def receipts_consumer(agency: str) -> str:
    return f"receipts-{agency}"


def inbox_prefix(agency: str) -> str:
    return f"_INBOX_agency-{agency}"


async def connect(url: str, agency: str, **options: Any) -> nats.NATS:
    """`url` with the agency's user and password (nats://agency-<agency>:<password>@host:4222)."""
    return await nats.connect(url, inbox_prefix=inbox_prefix(agency), **options)


async def publish(js: JetStreamContext, agency: str, cloudevent_json: bytes) -> PubAck:
    """JetStream publish (a PubAck means the platform holds it). Re-sending is safe: the platform
    answers the same CloudEvent id of the same agency once (same receipt, no second effect), so no
    `Nats-Msg-Id` is needed (the ingest stream is one id space for every agency: the platform
    de-duplicates by agency and id itself, and nobody can make this message look like theirs)."""
    return await js.publish(ingest_subject(agency), cloudevent_json, stream=INGEST_STREAM)


async def read_receipts(js: JetStreamContext, agency: str, max_messages: int = 100,
                        timeout: float = 2.0) -> list[dict]:
    """Receipts not read before (the durable consumer remembers), oldest first."""
    name = receipts_consumer(agency)
    await js.add_consumer(RECEIPTS_STREAM, ConsumerConfig(
        name=name, durable_name=name, filter_subject=receipt_subject(agency),
        deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT))
    sub = await js.pull_subscribe_bind(durable=name, stream=RECEIPTS_STREAM)
    try:
        messages = await sub.fetch(max_messages, timeout=timeout)
    except (TimeoutError, nats.errors.TimeoutError):
        return []
    receipts = []
    for message in messages:
        receipts.append(json.loads(message.data))
        await message.ack()
    return receipts
