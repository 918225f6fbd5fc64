"""Signing in under abuse. Failed attempts are counted per account and per client in the database,
so every API process sees the same counts: past `ACCOUNT_LIMIT` failures for a username, or
`CLIENT_LIMIT` from one client, within `WINDOW`, sign-ins are refused (429, with when to retry)
before any password is hashed. Password hashing (argon2id: ~64 MiB and tens of milliseconds each)
runs off the event loop, `HASHING_AT_ONCE` at a time per process, so a flood of token requests
queues there instead of taking the memory and the event loop from every other request.

Usernames and client addresses are kept only as hashes (`api.sign_in_failures`, created with the
accounts), for `WINDOW`: a mistyped password can end up in the username field.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg_pool import ConnectionPool

from shared import accounts
from shared.accounts import SCHEMA, Operator

ACCOUNT_LIMIT = 5
CLIENT_LIMIT = 30
WINDOW = timedelta(minutes=15)
HASHING_AT_ONCE = 1  # per API process (one per core): the rest of the API keeps its share of the CPU
HASHING_QUEUE_SECONDS = 10.0  # waited longer than this for a turn: "busy, retry" rather than a pile-up

WAIT_SQL = f"""
SELECT greatest(
  (SELECT CASE WHEN count(*) >= %(account_limit)s THEN min(at) + %(window)s END FROM
     (SELECT at FROM {SCHEMA}.sign_in_failures WHERE account = %(account)s AND at > %(now)s - %(window)s
       ORDER BY at DESC LIMIT %(account_limit)s) a),
  (SELECT CASE WHEN count(*) >= %(client_limit)s THEN min(at) + %(window)s END FROM
     (SELECT at FROM {SCHEMA}.sign_in_failures WHERE client = %(client)s AND at > %(now)s - %(window)s
       ORDER BY at DESC LIMIT %(client_limit)s) c))
"""


@dataclass(frozen=True)
class Throttled:
    retry_after: int  # seconds


class Busy(Exception):
    """No turn to hash a password came within `HASHING_QUEUE_SECONDS`."""


def _key(text: str) -> bytes:
    return hashlib.sha256(text.strip().lower().encode()).digest()[:16]


def wait_needed(conn: psycopg.Connection, username: str, client: str, now: datetime) -> int:
    """Seconds before this username may be tried again from this client (0: now)."""
    until = conn.execute(WAIT_SQL, {"account": _key(username), "client": _key(client), "now": now, "window": WINDOW,
                                    "account_limit": ACCOUNT_LIMIT, "client_limit": CLIENT_LIMIT}).fetchone()[0]
    return 0 if until is None else max(1, int((until - now).total_seconds()) + 1)


def record_failure(conn: psycopg.Connection, username: str, client: str, now: datetime) -> None:
    conn.execute(f"DELETE FROM {SCHEMA}.sign_in_failures WHERE at < %s", (now - WINDOW,))
    conn.execute(f"INSERT INTO {SCHEMA}.sign_in_failures (account, client, at) VALUES (%s, %s, %s)",
                 (_key(username), _key(client), now))


def clear(conn: psycopg.Connection, username: str) -> None:
    conn.execute(f"DELETE FROM {SCHEMA}.sign_in_failures WHERE account = %s", (_key(username),))


class SignIn:
    """One per API process: the database check around a bounded number of password hashes."""

    def __init__(self, pool: ConnectionPool):
        self.pool = pool
        self._turns: asyncio.Semaphore | None = None

    def _check(self, username: str, password: str, client: str) -> Operator | Throttled | None:
        now = datetime.now(timezone.utc)
        with self.pool.connection() as conn:
            wait = wait_needed(conn, username, client, now)
            if wait:
                return Throttled(wait)
            operator = accounts.authenticate(conn, username, password)
            with conn.transaction():
                if operator is None:
                    record_failure(conn, username, client, now)
                else:
                    clear(conn, username)
        return operator

    async def __call__(self, username: str, password: str, client: str) -> Operator | Throttled | None:
        """The operator, None for a wrong username or password, or Throttled; Busy if no turn came."""
        if self._turns is None:
            self._turns = asyncio.Semaphore(HASHING_AT_ONCE)
        try:
            await asyncio.wait_for(self._turns.acquire(), HASHING_QUEUE_SECONDS)
        except TimeoutError:
            raise Busy() from None
        try:
            return await asyncio.to_thread(self._check, username, password, client)
        finally:
            self._turns.release()
