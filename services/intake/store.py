"""The intake service's event store: the platform's `Store` in the `intake` schema."""

from __future__ import annotations

from kit.db import ensure_schema, eventsourcing_env
from kit.store import Store

SCHEMA = "intake"


def open_store(db_url: str, env: dict[str, str] | None = None) -> Store:
    """The store, its schema and tables created. The aggregate cache keeps a youth's case in memory
    between commands (see `Store.forget` for why it need not ask the table first)."""
    ensure_schema(db_url, SCHEMA)
    settings = eventsourcing_env(db_url, SCHEMA) | {"AGGREGATE_CACHE_MAXSIZE": "50000",
                                                    "AGGREGATE_CACHE_FASTFORWARD": "n"} | dict(env or {})
    return Store("intake", env=settings)
