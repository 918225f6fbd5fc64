"""The declared services: every package under `services/` with a `declaration` module holding
`SERVICE`. Adding a service is adding its package; nothing else lists it."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

import services
from kit.service import Platform


@cache
def platform() -> Platform:
    declared = []
    for module in pkgutil.iter_modules(services.__path__):
        if not module.ispkg:
            continue
        name = f"services.{module.name}.declaration"
        try:
            declaration = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        declared.append(declaration.SERVICE)
    return Platform(tuple(sorted(declared, key=lambda s: s.name)))


def docs_tables() -> dict:
    """The generated tables of docs/ that the shared layer holds (`kit.docs_tables` has the
    platform's own)."""
    from shared.roles import roles_table

    return {"roles": ("contracts.md", roles_table)}
