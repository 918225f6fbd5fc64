"""Operators' commands over HTTP: `POST /api/v1/<service>/commands/<name>`, a route per command of
every declared service. The API wraps the command in a CloudEvent (agency, operator and role from
the token), seals any identity for the vault, publishes it on the owning service's commands
subject for the operator's agency, and waits for the receipt: the same path and rules as partners.

No `from __future__ import annotations`: FastAPI resolves the route signatures at definition time.
"""

import asyncio
import json
import logging
import uuid
from typing import Any, Literal

import nats
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from nats.aio.msg import Msg
from pydantic import BaseModel, ConfigDict, Field, create_model

from events.base import Message
from events.builders import envelope
from events.intake import Identity
from events.receipts import Receipt
from kit.nats_auth import close, connect
from kit.relay import EVENTS_SEQ_HEADER
from kit.service import Platform, Service
from kit.streams import command_subject
from kit.vault import seal
from shared.accounts import Operator
from shared.http import CaseWriter

log = logging.getLogger("kit.api.commands")


class Pending(BaseModel):
    ingest_id: str
    status: Literal["pending"] = "pending"
    detail: str


def command_name(type_name: str) -> str:
    """kit.intake.register_youth.v1 -> register_youth"""
    return type_name.split(".")[2]


def http_body_model(model: type[Message]) -> type[BaseModel]:
    """The command as an operator sends it: identity in clear (over TLS) instead of sealed."""
    if "sealed_identity" not in model.model_fields:
        return model
    fields: dict[str, Any] = {name: (info.annotation, info) for name, info in model.model_fields.items()
                              if name != "sealed_identity"}
    if model.model_fields["sealed_identity"].is_required():
        fields["identity"] = (Identity, Field(description="Sealed for the vault by the API."))
    else:
        fields["identity"] = (Identity | None, Field(default=None, description="Sealed for the vault by the API."))
    return create_model(f"{model.__name__}Request", __doc__=model.__doc__, __config__=ConfigDict(extra="forbid"),
                        **fields)


def to_command(model: type[Message], body: BaseModel, ingest_public_key: str) -> Message:
    data = body.model_dump(exclude={"identity"})
    identity = getattr(body, "identity", None)
    if "sealed_identity" in model.model_fields:
        data["sealed_identity"] = (seal(ingest_public_key, identity.model_dump_json(exclude_none=True).encode())
                                   if identity is not None else None)
    return model.model_validate(data)


class CommandGateway:
    """Publishes operators' commands and hands back their receipts (a core subscription on the
    receipts subjects: JetStream also delivers stored subjects to plain subscribers). It listens
    only while commands wait for their receipts, and a minute after: partners' receipts are most of
    them, and none is this process's business otherwise."""

    IDLE_SECONDS = 60.0

    def __init__(self, nats_url: str, platform: Platform, ingest_public_key: str, wait_seconds: float = 10.0):
        self.nats_url = nats_url
        self.platform = platform
        self.ingest_public_key = ingest_public_key
        self.wait_seconds = wait_seconds
        self.nc: nats.NATS | None = None
        self.subscription = None
        self.last_sent = 0.0
        self.waiting: dict[tuple[str, str], asyncio.Future] = {}

    async def start(self) -> None:
        self.nc = await connect(self.nats_url, name="kit-api")

    async def stop(self) -> None:
        if self.nc is not None:
            await close(self.nc)

    async def _listen(self) -> None:
        """Subscribed before the command is published, so its receipt cannot slip by."""
        assert self.nc is not None
        self.last_sent = asyncio.get_running_loop().time()
        if self.subscription is None:
            self.subscription = await self.nc.subscribe("kit.receipts.>", cb=self._on_receipt)
            asyncio.get_running_loop().create_task(self._stop_listening_when_idle())

    async def _stop_listening_when_idle(self) -> None:
        loop = asyncio.get_running_loop()
        while self.waiting or loop.time() - self.last_sent < self.IDLE_SECONDS:
            await asyncio.sleep(self.IDLE_SECONDS / 4)
        subscription, self.subscription = self.subscription, None
        if subscription is not None:
            await subscription.unsubscribe()

    async def _on_receipt(self, msg: Msg) -> None:
        if b'"ingest_id":"http-' not in msg.data:  # a partner's receipt (most of them): not awaited here
            return
        try:
            receipt = json.loads(msg.data)
            future = self.waiting.get((receipt["agency"], receipt["ingest_id"]))
        except (ValueError, KeyError, TypeError):
            return
        if future is not None and not future.done():
            seq = (msg.headers or {}).get(EVENTS_SEQ_HEADER)
            future.set_result((receipt, int(seq) if seq and seq.isdigit() else None))

    async def send(self, operator: Operator, command: Message) -> tuple[str, dict[str, Any] | None, int | None]:
        """(ingest id, receipt, events stream sequence its events reached): the receipt is None if
        it did not come within the wait."""
        assert self.nc is not None, "gateway not started"
        service = self.platform.command_owners[command.type_name]
        ingest_id = f"http-{uuid.uuid4()}"
        message = envelope(command, agency=operator.agency, id=ingest_id, source="urn:kit:service:api",
                           kitactor=operator.id, kitrole=operator.role)
        key = (operator.agency, ingest_id)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.waiting[key] = future
        await self._listen()
        try:
            await self.nc.jetstream().publish(command_subject(service.name, operator.agency), message.to_json_bytes(),
                                              headers={"Nats-Msg-Id": f"{operator.agency}:{ingest_id}"})
            receipt, seq = await asyncio.wait_for(future, self.wait_seconds)
            return ingest_id, receipt, seq
        except asyncio.TimeoutError:
            return ingest_id, None, None
        finally:
            self.waiting.pop(key, None)


def for_http(receipt: dict[str, Any]) -> dict[str, Any]:
    """Reason fields as the HTTP body names them (no `data.` envelope, `identity` not sealed)."""
    def field(name: str) -> str:
        name = name.removeprefix("data.").removeprefix("data")
        return "identity" + name.removeprefix("sealed_identity") if name.startswith("sealed_identity") else name
    return receipt | {key: [r | {"field": field(r["field"])} for r in receipt.get(key, [])]
                      for key in ("reasons", "notices")}


def command_router(service: Service, gateway: CommandGateway, reads) -> APIRouter:
    """`POST /api/v1/<service>/commands/<name>` for every command the service takes."""
    router = APIRouter(prefix=f"/api/v1/{service.name}/commands", tags=[f"{service.name} commands"])
    for model in service.commands:
        _add_route(router, service, gateway, reads, model)
    return router


def _add_route(router: APIRouter, service: Service, gateway: CommandGateway, reads, model: type[Message]) -> None:
    body_model = http_body_model(model)

    async def send(body: body_model, operator: CaseWriter):  # type: ignore[valid-type]
        await asyncio.to_thread(reads.require_active, operator)
        ingest_id, receipt, seq = await gateway.send(operator, to_command(model, body, gateway.ingest_public_key))
        if receipt is None:
            return JSONResponse(status_code=202, content=Pending(
                ingest_id=ingest_id, detail="sent; the receipt did not arrive in time (see kit.receipts)").model_dump())
        if receipt["status"] == "accepted":  # read-your-writes: the next read shows it
            await asyncio.to_thread(reads.wait_for, service.name, seq)
        return JSONResponse(status_code=200 if receipt["status"] == "accepted" else 422, content=for_http(receipt))

    name = command_name(model.type_name)
    router.add_api_route(f"/{name}", send, methods=["POST"], summary=model.summary,
                         description=model.__doc__ or model.summary, response_model=Receipt, name=f"{service.name}.{name}",
                         responses={422: {"description": "rejected (a receipt: see `reasons`), or a body that does not "
                                                         "fit the schema (`detail` and `reasons`)",
                                          "content": {"application/json": {"schema": {"anyOf": [
                                              {"$ref": "#/components/schemas/Receipt"},
                                              {"$ref": "#/components/schemas/HTTPValidationError"}]}}}},
                                    202: {"model": Pending, "description": "sent, receipt still pending"}})
