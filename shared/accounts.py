"""Operator accounts: agency, role, argon2id password hash. Ids are pseudonymous UUIDs.

An agency admin changes a role or disables an account, and it counts from the next request: a
token says who signed in, but every read checks that the account is still enabled with that agency
and role, in the transaction that logs the read (no extra round trip); commands and settings check
it before they act.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from events.envelope import AGENCY_PATTERN
from shared.roles import OPERATOR_ROLES

UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

SCHEMA = "api"
ROLES = OPERATOR_ROLES

_hasher = PasswordHasher()
# Verifying against this keeps the time of a login for an unknown user like that of a known one.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


@dataclass(frozen=True)
class Operator:
    id: str
    username: str
    agency: str
    role: str


def create_tables(conn: psycopg.Connection) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.execute(f"""
        CREATE TABLE IF NOT EXISTS {SCHEMA}.operators (
            id uuid PRIMARY KEY,
            username text UNIQUE NOT NULL,
            agency text NOT NULL,
            role text NOT NULL,
            password_hash text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )""")
    conn.execute(f"ALTER TABLE {SCHEMA}.operators ADD COLUMN IF NOT EXISTS disabled_at timestamptz")
    # failed sign-ins (shared.sign_in): hashes of the username and the client, kept WINDOW long
    conn.execute(f"""
        CREATE TABLE IF NOT EXISTS {SCHEMA}.sign_in_failures (
            account bytea NOT NULL,
            client bytea NOT NULL,
            at timestamptz NOT NULL DEFAULT now()
        )""")
    conn.execute(f"CREATE INDEX IF NOT EXISTS sign_in_failures_account ON {SCHEMA}.sign_in_failures (account, at)")
    conn.execute(f"CREATE INDEX IF NOT EXISTS sign_in_failures_client ON {SCHEMA}.sign_in_failures (client, at)")
    conn.execute(f"""
        CREATE TABLE IF NOT EXISTS {SCHEMA}.access_log (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            operator_id uuid NOT NULL,
            agency text NOT NULL,
            role text NOT NULL,
            purpose text NOT NULL,
            youth_id uuid,
            what text NOT NULL
        )""")
    # the writing transaction: a reader of the log takes rows in the order their transactions
    # ended, not in id order (ids are drawn before commit, so a lower one can commit later)
    conn.execute(f"ALTER TABLE {SCHEMA}.access_log ADD COLUMN IF NOT EXISTS txid xid8 DEFAULT pg_current_xact_id()")
    conn.execute(f"CREATE INDEX IF NOT EXISTS access_log_txid ON {SCHEMA}.access_log (txid)")


class InvalidOperator(ValueError):
    """An account that cannot be added or changed so; `code` says why (for the pages' words)."""

    def __init__(self, message: str, code: str = "invalid_account"):
        super().__init__(message)
        self.code = code


class AccountInactive(PermissionError):
    """The token's account was disabled, or its agency or role changed since it signed in."""

    def __init__(self) -> None:
        super().__init__("your account was disabled or changed since you signed in: sign in again")


# the account behind a token, as it is now: enabled, with the agency and role the token carries
ACTIVE_SQL = (f"FROM {SCHEMA}.operators o WHERE o.id = %(id)s AND o.agency = %(agency)s AND o.role = %(role)s"
              " AND o.disabled_at IS NULL")


def add_operator(conn: psycopg.Connection, *, agency: str, role: str, username: str, password: str) -> Operator:
    if not re.fullmatch(AGENCY_PATTERN, agency):
        raise InvalidOperator(f"agency must match {AGENCY_PATTERN}", "agency_invalid")
    if role not in ROLES:
        raise InvalidOperator(f"role must be one of: {', '.join(ROLES)}", "role_unknown")
    if not re.fullmatch(r"[A-Za-z0-9._@-]{3,64}", username):
        raise InvalidOperator("username: 3-64 letters, digits or . _ @ -", "username_invalid")
    if len(password) < 10:
        raise InvalidOperator("password: at least 10 characters", "password_too_short")
    operator = Operator(id=str(uuid.uuid4()), username=username, agency=agency, role=role)
    try:
        conn.execute(f"INSERT INTO {SCHEMA}.operators (id, username, agency, role, password_hash)"
                     " VALUES (%s, %s, %s, %s, %s)",
                     (operator.id, username, agency, role, _hasher.hash(password)))
    except psycopg.errors.UniqueViolation as e:
        raise InvalidOperator(f"username {username!r} is taken", "username_taken") from e
    return operator


def authenticate(conn: psycopg.Connection, username: str, password: str) -> Operator | None:
    row = conn.execute(f"SELECT id, username, agency, role, password_hash, disabled_at FROM {SCHEMA}.operators"
                       " WHERE username = %s", (username,)).fetchone()
    try:
        _hasher.verify(row[4] if row else _DUMMY_HASH, password)
    except VerificationError:
        return None
    if row is None or row[5] is not None:
        return None
    return Operator(id=str(row[0]), username=row[1], agency=row[2], role=row[3])


def _account(operator: Operator) -> dict[str, str]:
    return {"id": operator.id, "agency": operator.agency, "role": operator.role}


def require_active(conn: psycopg.Connection, operator: Operator) -> Operator:
    """The operator as the token names them, with their username, if the account is still so."""
    row = conn.execute(f"SELECT o.username {ACTIVE_SQL}", _account(operator)).fetchone()
    if row is None:
        raise AccountInactive()
    return Operator(id=operator.id, username=row[0], agency=operator.agency, role=operator.role)


def usernames(conn: psycopg.Connection, ids: Iterable[str | None]) -> dict[str, str]:
    """Operator id -> username, for the ids that name an account (others, e.g. a partner system's
    own actor names, are left out)."""
    wanted = sorted({i for i in ids if i and UUID_TEXT.fullmatch(i)})
    if not wanted:
        return {}
    return dict(conn.execute(f"SELECT id::text, username FROM {SCHEMA}.operators WHERE id = ANY(%s::uuid[])",
                             (wanted,)).fetchall())


def log_access(conn: psycopg.Connection, operator: Operator, *, purpose: str, what: str,
               youth_id: str | None = None) -> None:
    """The read's access-log row, written only for an account still active as the token says
    (else AccountInactive: the caller's transaction, and what it read, goes no further)."""
    written = conn.execute(
        f"INSERT INTO {SCHEMA}.access_log (operator_id, agency, role, purpose, youth_id, what)"
        f" SELECT o.id, o.agency, o.role, %(purpose)s, %(youth_id)s::uuid, %(what)s {ACTIVE_SQL}",
        _account(operator) | {"purpose": purpose, "youth_id": youth_id, "what": what}).rowcount
    if written != 1:
        raise AccountInactive()


@dataclass(frozen=True)
class Account:
    username: str
    role: str
    disabled: bool


def list_accounts(conn: psycopg.Connection, agency: str) -> list[Account]:
    return [Account(username=u, role=r, disabled=d) for u, r, d in conn.execute(
        f"SELECT username, role, disabled_at IS NOT NULL FROM {SCHEMA}.operators WHERE agency = %s ORDER BY username",
        (agency,))]


def change_account(conn: psycopg.Connection, agency: str, username: str, *, role: str | None = None,
                   disabled: bool | None = None, by: Operator | None = None) -> str:
    """Give an account of the agency another role, or disable (or enable) it; the account's
    tokens stop working at their next request. An admin (`by`) does not change or disable their
    own account: the agency would be left without one. Returns the account's id."""
    if role is None and disabled is None:
        raise InvalidOperator("nothing to change: give a role, or disable or enable the account", "nothing_to_change")
    if role is not None and role not in ROLES:
        raise InvalidOperator(f"role must be one of: {', '.join(ROLES)}", "role_unknown")
    row = conn.execute(f"SELECT id, role FROM {SCHEMA}.operators WHERE agency = %s AND username = %s FOR UPDATE",
                       (agency, username)).fetchone()
    if row is None:
        raise InvalidOperator(f"no account {username!r} at {agency}", "no_such_account")
    if by is not None and str(row[0]) == by.id and (disabled or role not in (None, row[1])):
        raise InvalidOperator("you cannot disable your own account or change your own role", "own_account")
    conn.execute(f"UPDATE {SCHEMA}.operators SET role = coalesce(%(role)s, role),"
                 " disabled_at = CASE WHEN %(disabled)s::boolean IS NULL THEN disabled_at"
                 "                    WHEN %(disabled)s::boolean THEN coalesce(disabled_at, now()) END"
                 " WHERE id = %(id)s", {"role": role, "disabled": disabled, "id": row[0]})
    return str(row[0])
