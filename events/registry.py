"""One registry from CloudEvent type name to payload model: every message of `events.intake`."""

from __future__ import annotations

from events import intake
from events.base import Message

MODELS: tuple[type[Message], ...] = tuple(  # in definition order
    m for m in vars(intake).values() if isinstance(m, type) and issubclass(m, Message) and "type_name" in vars(m))

REGISTRY: dict[str, type[Message]] = {m.type_name: m for m in MODELS}

# what partners may publish on kit.ingest.<agency>
INGEST_TYPES = {name for name, m in REGISTRY.items() if m.kind == "command" and getattr(m, "from_partners", True)}


def model_for(type_name: str) -> type[Message] | None:
    return REGISTRY.get(type_name)
