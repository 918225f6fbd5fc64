"""The message models of a bounded context's module. The platform's registry (type name -> model,
across every declared service) is derived from the service declarations: `kit.service.Platform`."""

from __future__ import annotations

from types import ModuleType

from events.base import Message


def models_in(module: ModuleType) -> tuple[type[Message], ...]:
    """Every message (command or event) the module defines, in definition order."""
    return tuple(m for m in vars(module).values()
                 if isinstance(m, type) and issubclass(m, Message) and "type_name" in vars(m))
