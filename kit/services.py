"""The runnable services by name (`kit run <name>`); `kit up` starts each as its own process."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable

from kit.config import Settings

SERVICES: dict[str, str] = {
    "intake": "services.intake.wiring",
    "views": "projections.wiring",
    "api": "services.api.wiring",
    "audit": "services.audit.wiring",
}


def entry_point(name: str) -> Callable[[Settings, asyncio.Event], Awaitable[None]]:
    return importlib.import_module(SERVICES[name]).main
