"""Operator accounts: agency, role, argon2id password hash. Ids are pseudonymous UUIDs."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from events.envelope import AGENCY_PATTERN
from kit.roles import OPERATOR_ROLES

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


class InvalidOperator(ValueError):
    pass


def add_operator(conn: psycopg.Connection, *, agency: str, role: str, username: str, password: str) -> Operator:
    if not re.fullmatch(AGENCY_PATTERN, agency):
        raise InvalidOperator(f"agency must match {AGENCY_PATTERN}")
    if role not in ROLES:
        raise InvalidOperator(f"role must be one of: {', '.join(ROLES)}")
    if not re.fullmatch(r"[A-Za-z0-9._@-]{3,64}", username):
        raise InvalidOperator("username: 3-64 letters, digits or . _ @ -")
    if len(password) < 10:
        raise InvalidOperator("password: at least 10 characters")
    operator = Operator(id=str(uuid.uuid4()), username=username, agency=agency, role=role)
    try:
        conn.execute(f"INSERT INTO {SCHEMA}.operators (id, username, agency, role, password_hash)"
                     " VALUES (%s, %s, %s, %s, %s)",
                     (operator.id, username, agency, role, _hasher.hash(password)))
    except psycopg.errors.UniqueViolation as e:
        raise InvalidOperator(f"username {username!r} is taken") from e
    return operator


def authenticate(conn: psycopg.Connection, username: str, password: str) -> Operator | None:
    row = conn.execute(f"SELECT id, username, agency, role, password_hash FROM {SCHEMA}.operators"
                       " WHERE username = %s", (username,)).fetchone()
    try:
        _hasher.verify(row[4] if row else _DUMMY_HASH, password)
    except VerificationError:
        return None
    if row is None:
        return None
    return Operator(id=str(row[0]), username=row[1], agency=row[2], role=row[3])


def log_access(conn: psycopg.Connection, operator: Operator, *, purpose: str, what: str,
               youth_id: str | None = None) -> None:
    conn.execute(f"INSERT INTO {SCHEMA}.access_log (operator_id, agency, role, purpose, youth_id, what)"
                 " VALUES (%s, %s, %s, %s, %s, %s)",
                 (operator.id, operator.agency, operator.role, purpose, youth_id, what))
