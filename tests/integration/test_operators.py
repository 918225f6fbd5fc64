"""Operator accounts on real PostgreSQL: argon2id hashes, validation with reasons, login."""

import psycopg
import pytest

from services.api import operators

pytestmark = pytest.mark.integration


@pytest.fixture
def conn(database_url):
    with psycopg.connect(database_url, autocommit=True) as connection:
        operators.create_tables(connection)
        yield connection


def test_a_password_is_stored_as_an_argon2id_hash_and_checked_on_login(conn):
    added = operators.add_operator(conn, agency="ngo-lugano", role="link_worker", username="marco",
                                   password="correct horse battery")
    stored = conn.execute("SELECT password_hash FROM api.operators WHERE username = 'marco'").fetchone()[0]
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert operators.authenticate(conn, "marco", "correct horse battery") == added
    assert operators.authenticate(conn, "marco", "wrong password!") is None
    assert operators.authenticate(conn, "nobody", "correct horse battery") is None


@pytest.mark.parametrize("fields, reason", [
    (dict(agency="Not An Agency"), "agency must match"),
    (dict(role="wizard"), "role must be one of"),
    (dict(username="x"), "username"),
    (dict(password="short"), "at least 10"),
])
def test_invalid_operators_are_refused_with_a_reason(conn, fields, reason):
    values = dict(agency="ngo-lugano", role="key_worker", username="anna", password="long enough pw") | fields
    with pytest.raises(operators.InvalidOperator, match=reason):
        operators.add_operator(conn, **values)


def test_a_username_is_unique(conn):
    operators.add_operator(conn, agency="ngo-lugano", role="key_worker", username="anna", password="long enough pw")
    with pytest.raises(operators.InvalidOperator, match="taken"):
        operators.add_operator(conn, agency="comune-milano-m7", role="key_worker", username="anna",
                               password="another long pw")
