"""PostgreSQL access: one URL, one schema per service, eventsourcing environment from the URL."""

from __future__ import annotations

from psycopg import Connection, sql
from psycopg.conninfo import conninfo_to_dict


def connect(url: str, **kwargs) -> Connection:
    return Connection.connect(url, **kwargs)


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
