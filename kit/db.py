"""PostgreSQL access: one URL, one schema per service, eventsourcing environment from the URL."""

from __future__ import annotations

import time
import weakref

from psycopg import Connection, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool


def connect(url: str, **kwargs) -> Connection:
    return Connection.connect(url, **kwargs)


class AliveCheck:
    """What a pool does before lending a connection: a round trip to see the server still answers
    (a server restart leaves dead connections in the pool), skipped for a connection given back
    within the last `window` seconds, which was working then (HikariCP's alive-bypass window).
    A busy service thus pays the round trip only on connections that sat idle."""

    def __init__(self, window: float = 0.5, clock=time.monotonic):
        self.window, self.clock = window, clock
        self.returned: weakref.WeakKeyDictionary[Connection, float] = weakref.WeakKeyDictionary()

    def check(self, conn: Connection) -> None:
        returned = self.returned.get(conn)
        if returned is not None and self.clock() - returned < self.window:
            return
        ConnectionPool.check_connection(conn)

    def given_back(self, conn: Connection) -> None:
        self.returned[conn] = self.clock()


def pool(url: str, *, min_size: int, max_size: int, generic_plans: bool = False) -> ConnectionPool:
    """An open pool whose connections are checked before use (`AliveCheck`). With `generic_plans`,
    a statement prepared on a connection (psycopg prepares one after its fifth run) is planned once
    for any values, not again on every run."""
    alive = AliveCheck()
    return ConnectionPool(url, min_size=min_size, max_size=max_size, open=True, check=alive.check,
                          reset=alive.given_back, configure=prefer_generic_plans if generic_plans else None)


def prefer_generic_plans(conn: Connection) -> None:
    conn.execute("SET plan_cache_mode = force_generic_plan")
    conn.commit()


def ensure_schema(url: str, schema: str) -> None:
    with connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def eventsourcing_env(url: str, schema: str) -> dict[str, str]:
    """The eventsourcing settings for an Application storing its events in `schema`."""
    params = conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname", "postgres")),
        "POSTGRES_HOST": str(params.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(params.get("port", "5432")),
        "POSTGRES_USER": str(params.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(params.get("password", "")),
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_ENABLE_DB_FUNCTIONS": "y",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "4",
        "CREATE_TABLE": "y",
    }
