"""A small client helper for partner systems (plain nats-py): publish a CloudEvent, read receipts.

Partners may equally use any NATS client: publish the structured CloudEvent JSON with JetStream to
`kit.ingest.<agency>` and read `kit.receipts.<agency>` through the consumer `receipts-<agency>`,
the only one their NATS user may create (deploy/nats/accounts.conf).
"""

from __future__ import annotations

import json

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, PubAck

from kit.streams import INGEST_STREAM, RECEIPTS_STREAM, ingest_subject, receipt_subject


def receipts_consumer(agency: str) -> str:
    return f"receipts-{agency}"


async def publish(js: JetStreamContext, agency: str, cloudevent_json: bytes) -> PubAck:
    """JetStream publish (a PubAck means the platform holds it); the CloudEvent id doubles as Nats-Msg-Id."""
    event_id = json.loads(cloudevent_json)["id"]
    return await js.publish(ingest_subject(agency), cloudevent_json, stream=INGEST_STREAM,
                            headers={"Nats-Msg-Id": f"{agency}:{event_id}"})


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
