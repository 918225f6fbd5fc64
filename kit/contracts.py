"""`contracts/` is generated from `events/`: JSON Schemas, examples and the AsyncAPI 3 document.

`check()` reports every checked-in file that differs from the code, and every incompatible change
to a published version (a field removed or retyped, a new required field, a version removed):
those need a new version of the type and an upcaster, never an edit in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from events.envelope import DATA_SCHEMA_BASE, CloudEvent
from events.intake import Identity
from events.receipts import Receipt
from kit.service import Platform, load
from kit.streams import COMMANDS_STREAM, DLQ_STREAM, INGEST_STREAM, RECEIPTS_STREAM, event_subject, events_stream

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
DESCRIPTIVE_KEYS = {"title", "description", "examples"}


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def data_schema(model: type) -> dict[str, Any]:
    type_name = model.type_name
    schema = model.model_json_schema()
    return {
        "$schema": JSON_SCHEMA, "$id": f"{DATA_SCHEMA_BASE}{type_name}.json",
        **schema, "title": type_name,
        "description": (model.__doc__ or "").strip(),
        "x-kit-kind": model.kind, "x-kit-context": model.context, "x-kit-classification": model.classification,
    }


def examples(platform: Platform) -> dict[str, Any]:
    """Type name -> its example CloudEvent, from each service's declared builders."""
    found = {}
    for service in platform.services:
        example = load(service.examples) if service.examples else None
        for model in service.messages:
            if example is None:
                raise ValueError(f"{service.name} declares messages but no examples to publish with them")
            found[model.type_name] = example(model.type_name)
    return found


def render(platform: Platform) -> dict[str, str]:
    samples = examples(platform)
    files: dict[str, str] = {
        "cloudevent.schema.json": dumps({"$schema": JSON_SCHEMA, "$id": f"{DATA_SCHEMA_BASE}cloudevent.json",
                                         **CloudEvent.model_json_schema()}),
        "receipt.schema.json": dumps({"$schema": JSON_SCHEMA, "$id": f"{DATA_SCHEMA_BASE}receipt.json",
                                      **Receipt.model_json_schema()}),
        "identity.schema.json": dumps({"$schema": JSON_SCHEMA, "$id": f"{DATA_SCHEMA_BASE}identity.json",
                                       **Identity.model_json_schema(), "title": "identity",
                                       "description": "The JSON a partner seals into `sealed_identity` "
                                                      "(kit-seal-v1, docs/contracts.md): never sent in clear."}),
        "asyncapi.json": dumps(asyncapi(platform, samples)),
    }
    for type_name, model in sorted(platform.registry.items()):
        files[f"schemas/{type_name}.json"] = dumps(data_schema(model))
        files[f"examples/{type_name}.json"] = samples[type_name].model_dump_json(indent=2, exclude_none=True) + "\n"
    return files


def generate(platform: Platform, root: Path = CONTRACTS_DIR) -> list[Path]:
    written = []
    for rel, text in render(platform).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written


def check(platform: Platform, root: Path = CONTRACTS_DIR) -> list[str]:
    problems: list[str] = []
    rendered = render(platform)
    for rel, text in rendered.items():
        path = root / rel
        if not path.exists():
            problems.append(f"contracts/{rel}: missing (run `kit contracts generate`)")
        elif path.read_text() != text:
            problems.append(f"contracts/{rel}: differs from the code (run `kit contracts generate`)")
    for path in sorted((root / "schemas").glob("*.json")):
        rel = f"schemas/{path.name}"
        if rel not in rendered:
            problems.append(f"contracts/{rel}: version removed from events/ (published versions stay)")
            continue
        problems += [f"contracts/{rel}: {p}" for p in incompatibilities(json.loads(path.read_text()),
                                                                        json.loads(rendered[rel]))]
    return problems


def _shape(schema: Any) -> Any:
    """A property schema without its descriptive keys: what a consumer relies on."""
    if isinstance(schema, dict):
        return {k: _shape(v) for k, v in schema.items() if k not in DESCRIPTIVE_KEYS}
    if isinstance(schema, list):
        return [_shape(v) for v in schema]
    return schema


def incompatibilities(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What in `new` breaks a consumer or producer of `old` (the same type and version)."""
    problems = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, schema in old_props.items():
        if name not in new_props:
            problems.append(f"incompatible: field {name!r} removed")
        elif _shape(schema) != _shape(new_props[name]):
            problems.append(f"incompatible: field {name!r} retyped or constrained differently")
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        problems.append(f"incompatible: new required field {name!r}")
    return problems


# --- AsyncAPI 3.0 -------------------------------------------------------------------------------

def _components_schema(model: type, name: str, components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for def_name, definition in schema.pop("$defs", {}).items():
        components[def_name] = definition
    components[name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


def _message_name(type_name: str) -> str:
    return type_name.replace(".", "_")


def asyncapi(platform: Platform, samples: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    envelope_ref = _components_schema(CloudEvent, "CloudEvent", schemas)
    receipt_ref = _components_schema(Receipt, "Receipt", schemas)
    for type_name, model in sorted(platform.registry.items()):
        data_ref = _components_schema(model, _message_name(type_name) + "_data", schemas)
        messages[_message_name(type_name)] = {
            "name": type_name, "title": type_name, "summary": model.summary,
            "contentType": "application/cloudevents+json",
            "payload": {"allOf": [envelope_ref, {"type": "object", "properties": {
                "type": {"const": type_name}, "data": data_ref}}]},
            "examples": [{"name": "example", "payload": json.loads(samples[type_name].model_dump_json(exclude_none=True))}],
        }
    messages["Receipt"] = {"name": "Receipt", "contentType": "application/json", "payload": receipt_ref,
                           "summary": "Outcome of one command: accepted with event ids, or rejected with reasons."}
    messages["DeadLetter"] = {
        "name": "DeadLetter", "contentType": "application/json",
        "summary": "The original message, unchanged, that a consumer could not handle.",
        "headers": {"type": "object", "properties": {h: {"type": "string"} for h in (
            "Kit-Consumer", "Kit-Error", "Kit-Original-Subject", "Kit-Original-Stream", "Kit-Original-Sequence",
            "Kit-Deliveries")}},
        "payload": {"type": "object"},
    }
    agency = {"description": "Agency code, e.g. comune-milano-m7 (NATS permissions bind a partner to its own)."}
    commands = sorted(platform.command_owners)
    channels: dict[str, Any] = {
        "partnerIngest": {
            "address": "kit.ingest.{agency}", "parameters": {"agency": agency},
            "description": f"Partner systems publish structured CloudEvents here (stream {INGEST_STREAM}, work queue; "
                           "deeper tokens allowed). Publish with JetStream to get a PubAck. The gateway routes each "
                           "to the service that owns its type; a type no service owns is answered with a rejected "
                           "receipt (`unknown_type`).",
            "messages": {_message_name(t): {"$ref": f"#/components/messages/{_message_name(t)}"} for t in commands},
        },
        "receipts": {
            "address": "kit.receipts.{agency}", "parameters": {"agency": agency},
            "description": f"One receipt per ingest message (stream {RECEIPTS_STREAM}, kept 90 days).",
            "messages": {"Receipt": {"$ref": "#/components/messages/Receipt"}},
        },
        "deadLetters": {
            "address": "kit.dlq.{consumer}.{sequence}",
            "parameters": {"consumer": {"description": "Durable consumer name."},
                           "sequence": {"description": "The message's sequence in its original stream."}},
            "description": f"Messages a consumer gave up on after bounded retries (stream {DLQ_STREAM}).",
            "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
        },
    }
    operations: dict[str, Any] = {
        "receivePartnerIngest": {"action": "receive", "channel": {"$ref": "#/channels/partnerIngest"},
                                 "summary": "The platform takes partner messages in."},
        "sendReceipts": {"action": "send", "channel": {"$ref": "#/channels/receipts"},
                         "summary": "The platform answers every partner message."},
        "sendDeadLetters": {"action": "send", "channel": {"$ref": "#/channels/deadLetters"}},
    }
    for service in platform.with_commands:
        channel = f"commands_{service.name}"
        channels[channel] = {
            "address": f"kit.commands.{service.name}.{{agency}}", "parameters": {"agency": agency},
            "description": f"Commands for the {service.name} service, routed by the gateway from the partners' ingest "
                           f"subjects or sent by the HTTP API for operators (stream {COMMANDS_STREAM}, work queue; "
                           "only the platform publishes here). The agency token is the sender.",
            "messages": {_message_name(m.type_name): {"$ref": f"#/components/messages/{_message_name(m.type_name)}"}
                         for m in service.commands},
        }
        operations[f"receive_commands_{service.name}"] = {"action": "receive",
                                                          "channel": {"$ref": f"#/channels/{channel}"}}
    for type_name, model in sorted(platform.registry.items()):
        if model.kind != "event":
            continue
        channel = "events_" + _message_name(type_name)
        channels[channel] = {
            "address": event_subject(model.context, type_name),
            "description": f"Integration events of the {model.context} service (stream {events_stream(model.context)}, "
                           "in the service's log order, deduplicated by Nats-Msg-Id).",
            "messages": {_message_name(type_name): {"$ref": f"#/components/messages/{_message_name(type_name)}"}},
        }
        operations["send_" + _message_name(type_name)] = {"action": "send", "channel": {"$ref": f"#/channels/{channel}"}}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "KiT platform messaging", "version": "0.1.0",
                 "description": "Subjects, streams and messages of the KiT integrated services platform. "
                                "Delivery semantics are in docs/architecture.md."},
        "defaultContentType": "application/json",
        "servers": {"embedded": {"host": "127.0.0.1:4222", "protocol": "nats",
                                 "description": "The embedded nats-server started by `kit up`."}},
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }
