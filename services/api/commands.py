"""Operators' commands over HTTP take the partners' path: the API wraps the command in a
CloudEvent (agency, operator and role from the token), seals any identity for the vault, publishes
it on `kit.ingest.<agency>` and waits for the intake service's receipt. One path, one set of rules.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import nats
from nats.aio.msg import Msg
from pydantic import BaseModel, Field, create_model

from events.builders import envelope
from events.intake import Command, Identity
from events.registry import INGEST_TYPES, REGISTRY
from kit.streams import ingest_subject
from kit.vault import seal
from shared.accounts import Operator

log = logging.getLogger("kit.api.commands")


def command_name(type_name: str) -> str:
    """kit.intake.register_youth.v1 -> register_youth"""
    return type_name.split(".")[2]


def http_body_model(model: type[Command]) -> type[BaseModel]:
    """The command as an operator sends it: identity in clear (over TLS) instead of sealed."""
    if "sealed_identity" not in model.model_fields:
        return model
    fields: dict[str, Any] = {name: (info.annotation, info) for name, info in model.model_fields.items()
                              if name != "sealed_identity"}
    fields["identity"] = (Identity | None, Field(default=None, description="Sealed for the vault by the API."))
    return create_model(f"{model.__name__}Request", __doc__=model.__doc__, **fields)


def to_command(model: type[Command], body: BaseModel, ingest_public_key: str) -> Command:
    data = body.model_dump(exclude={"identity"})
    identity = getattr(body, "identity", None)
    if "sealed_identity" in model.model_fields:
        data["sealed_identity"] = (seal(ingest_public_key, identity.model_dump_json(exclude_none=True).encode())
                                   if identity is not None else None)
    return model.model_validate(data)


HTTP_COMMANDS: dict[str, type[Command]] = {
    command_name(name): REGISTRY[name] for name in sorted(INGEST_TYPES)  # type: ignore[misc]
}


class CommandGateway:
    """Publishes operators' commands and hands back their receipts (core subscription on the
    receipts subjects: JetStream also delivers stored subjects to plain subscribers)."""

    def __init__(self, nats_url: str, ingest_public_key: str, wait_seconds: float = 10.0):
        self.nats_url = nats_url
        self.ingest_public_key = ingest_public_key
        self.wait_seconds = wait_seconds
        self.nc: nats.NATS | None = None
        self.waiting: dict[tuple[str, str], asyncio.Future] = {}

    async def start(self) -> None:
        self.nc = await nats.connect(self.nats_url, name="kit-api")
        await self.nc.subscribe("kit.receipts.>", cb=self._on_receipt)

    async def stop(self) -> None:
        if self.nc is not None:
            await self.nc.drain()

    async def _on_receipt(self, msg: Msg) -> None:
        try:
            receipt = json.loads(msg.data)
            future = self.waiting.get((receipt["agency"], receipt["ingest_id"]))
        except (ValueError, KeyError, TypeError):
            return
        if future is not None and not future.done():
            future.set_result(receipt)

    async def send(self, operator: Operator, command: Command) -> tuple[str, dict[str, Any] | None]:
        """(ingest id, receipt) — the receipt is None if it did not come within the wait."""
        assert self.nc is not None, "gateway not started"
        ingest_id = f"http-{uuid.uuid4()}"
        message = envelope(command, agency=operator.agency, id=ingest_id, source="urn:kit:service:api",
                           kitactor=operator.id, kitrole=operator.role)
        key = (operator.agency, ingest_id)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.waiting[key] = future
        try:
            await self.nc.jetstream().publish(ingest_subject(operator.agency), message.to_json_bytes(),
                                              headers={"Nats-Msg-Id": f"{operator.agency}:{ingest_id}"})
            return ingest_id, await asyncio.wait_for(future, self.wait_seconds)
        except asyncio.TimeoutError:
            return ingest_id, None
        finally:
            self.waiting.pop(key, None)
