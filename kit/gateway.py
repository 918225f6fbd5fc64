"""The partners' front door: every CloudEvent published on `kit.ingest.<agency>` is routed to the
service that owns its type, on that service's commands subject, in the order the partners
published them; what cannot be routed is answered at once with a rejected receipt.

- The sender is the agency of the ingest subject (only that agency's NATS user may publish there),
  and travels on as the agency of the commands subject: a `kitagency` claiming another agency is
  refused, and every receipt goes to the sender.
- What is refused here: not JSON, not a CloudEvent, an agency mismatch, a type no service owns.
  Everything else (the payload against its contract, the decision) is the owning service's.
- Nothing lost, nothing twice: a message is acked only once its routed copy (or its receipt) is in
  JetStream; a crash in between routes it again, and the copy is dropped as a duplicate
  (`Nats-Msg-Id` derived from its ingest sequence).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timezone

from nats.js import JetStreamContext

from events.receipts import Receipt
from kit.consumer import Item
from kit.runtime import ingest_id_of, parse_envelope, unknown_type
from kit.streams import COMMANDS_STREAM, INGEST_STREAM, RECEIPTS_STREAM, command_subject, receipt_subject
from kit.translation import receipt_bytes


def sender_of(subject: str) -> str:
    """kit.ingest.<agency>[.<more>] -> <agency>"""
    return subject.split(".")[2]


def route(item: Item, owners: Mapping[str, str], now: datetime) -> tuple[str, str, bytes, str]:
    """Pure: (subject, stream, payload, Nats-Msg-Id) of what the ingest message becomes, either
    the command for its owner or a rejected receipt for its sender."""
    sender = sender_of(item.subject)
    envelope = parse_envelope(sender, item.data)
    reasons = envelope if isinstance(envelope, list) else (
        None if envelope.type in owners else unknown_type(envelope.type, owners))
    if reasons is None:
        owner = owners[envelope.type]  # type: ignore[union-attr]
        return command_subject(owner, sender), COMMANDS_STREAM, item.data, f"ingest/{item.seq}"
    receipt = Receipt(ingest_id=ingest_id_of(item.data, item.seq, INGEST_STREAM), agency=sender, status="rejected",
                      reasons=reasons, recorded_at=now)
    return (receipt_subject(sender), RECEIPTS_STREAM, receipt_bytes(receipt.model_dump(mode="json")),
            f"gateway/{item.seq}")


class Gateway:
    def __init__(self, js: JetStreamContext, owners: Mapping[str, str]):
        self.js = js
        self.owners = owners  # command type name -> the service that handles it
        self.routed = 0
        self.refused = 0

    async def handle(self, items: list[Item]) -> list[int]:
        """Route a fetch in order: all published at once on one connection (the server keeps
        their order), then every publish acknowledged before any message is acked."""
        now = datetime.now(timezone.utc)
        futures = []
        for item in items:
            subject, stream, payload, msg_id = route(item, self.owners, now)
            if stream == COMMANDS_STREAM:
                self.routed += 1
            else:
                self.refused += 1
            futures.append(await self.js.publish_async(subject, payload, stream=stream,
                                                       headers={"Nats-Msg-Id": msg_id}, wait_stall=10))
        results = await asyncio.gather(*futures, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise RuntimeError(f"{len(failures)} of {len(results)} publishes failed, first: {failures[0]!r}")
        return [item.seq for item in items]
