"""`contracts/` is generated from `events/`: JSON Schemas, examples and the AsyncAPI 3 document.

`check()` reports every checked-in file that differs from the code, and every incompatible change
to a published version (a field removed or retyped, a new required field, a version removed):
those need a new version of the type and an upcaster, never an edit in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from events.builders import example
from events.envelope import DATA_SCHEMA_BASE, CloudEvent
from events.receipts import Receipt
from events.registry import REGISTRY
from kit.streams import INGEST_STREAM, RECEIPTS_STREAM, DLQ_STREAM, event_subject, events_stream

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
DESCRIPTIVE_KEYS = {"title", "description", "examples"}


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def data_schema(type_name: str) -> dict[str, Any]:
    model = REGISTRY[type_name]
    schema = model.model_json_schema()
    return {
        "$schema": JSON_SCHEMA, "$id": f"{DATA_SCHEMA_BASE}{type_name}.json",
        **schema, "title": type_name,
        "description": (model.__doc__ or "").strip(),
        "x-kit-kind": model.kind, "x-kit-context": model.context, "x-kit-classification": model.classification,
    }


def render() -> dict[str, str]:
    files: dict[str, str] = {
        "cloudevent.schema.json": dumps({"$schema": JSON_SCHEMA, "$id": f"{DATA_SCHEMA_BASE}cloudevent.json",
                                         **CloudEvent.model_json_schema()}),
        "receipt.schema.json": dumps({"$schema": JSON_SCHEMA, "$id": f"{DATA_SCHEMA_BASE}receipt.json",
                                      **Receipt.model_json_schema()}),
        "asyncapi.json": dumps(asyncapi()),
    }
    for type_name in sorted(REGISTRY):
        files[f"schemas/{type_name}.json"] = dumps(data_schema(type_name))
        files[f"examples/{type_name}.json"] = example(type_name).model_dump_json(indent=2, exclude_none=True) + "\n"
    return files


def generate(root: Path = CONTRACTS_DIR) -> list[Path]:
    written = []
    for rel, text in render().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written


def check(root: Path = CONTRACTS_DIR) -> list[str]:
    problems: list[str] = []
    rendered = render()
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


def asyncapi() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    envelope_ref = _components_schema(CloudEvent, "CloudEvent", schemas)
    receipt_ref = _components_schema(Receipt, "Receipt", schemas)
    for type_name, model in sorted(REGISTRY.items()):
        data_ref = _components_schema(model, _message_name(type_name) + "_data", schemas)
        messages[_message_name(type_name)] = {
            "name": type_name, "title": type_name, "summary": model.summary,
            "contentType": "application/cloudevents+json",
            "payload": {"allOf": [envelope_ref, {"type": "object", "properties": {
                "type": {"const": type_name}, "data": data_ref}}]},
            "examples": [{"name": "example", "payload": json.loads(example(type_name).model_dump_json(exclude_none=True))}],
        }
    messages["Receipt"] = {"name": "Receipt", "contentType": "application/json", "payload": receipt_ref,
                           "summary": "Outcome of one partner message: accepted with event ids, or rejected with reasons."}
    messages["DeadLetter"] = {
        "name": "DeadLetter", "contentType": "application/json",
        "summary": "The original message, unchanged, that a consumer could not handle.",
        "headers": {"type": "object", "properties": {h: {"type": "string"} for h in (
            "Kit-Consumer", "Kit-Error", "Kit-Original-Subject", "Kit-Original-Stream", "Kit-Original-Sequence",
            "Kit-Deliveries")}},
        "payload": {"type": "object"},
    }
    agency = {"description": "Agency code, e.g. comune-milano-m7 (NATS permissions bind a partner to its own)."}
    commands = [t for t, m in REGISTRY.items() if m.kind == "command"]
    channels: dict[str, Any] = {
        "partnerIngest": {
            "address": "kit.ingest.{agency}", "parameters": {"agency": agency},
            "description": f"Partner systems publish structured CloudEvents here (stream {INGEST_STREAM}, work queue; "
                           "deeper tokens allowed). Publish with JetStream to get a PubAck.",
            "messages": {_message_name(t): {"$ref": f"#/components/messages/{_message_name(t)}"} for t in sorted(commands)},
        },
        "receipts": {
            "address": "kit.receipts.{agency}", "parameters": {"agency": agency},
            "description": f"One receipt per ingest message (stream {RECEIPTS_STREAM}, kept 90 days).",
            "messages": {"Receipt": {"$ref": "#/components/messages/Receipt"}},
        },
        "deadLetters": {
            "address": "kit.dlq.{consumer}", "parameters": {"consumer": {"description": "Durable consumer name."}},
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
    for type_name, model in sorted(REGISTRY.items()):
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
