"""One registry from CloudEvent type name to payload model."""

from __future__ import annotations

from events import intake
from events.base import Message

MODELS: tuple[type[Message], ...] = (
    intake.RegisterYouth,
    intake.YouthRegistered,
)

REGISTRY: dict[str, type[Message]] = {m.type_name: m for m in MODELS}

INGEST_TYPES = {name for name, m in REGISTRY.items() if m.kind == "command"}


def model_for(type_name: str) -> type[Message] | None:
    return REGISTRY.get(type_name)
