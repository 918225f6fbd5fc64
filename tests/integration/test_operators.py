"""Operator accounts on real PostgreSQL: argon2id hashes, validation with reasons, login."""

import psycopg
import pytest

from shared import accounts

pytestmark = pytest.mark.integration


@pytest.fixture
def conn(database_url):
    with psycopg.connect(database_url, autocommit=True) as connection:
        accounts.create_tables(connection)
        yield connection


def test_a_password_is_stored_as_an_argon2id_hash_and_checked_on_login(conn):
    added = accounts.add_operator(conn, agency="ngo-lugano", role="link_worker", username="marco",
                                   password="correct horse battery")
    stored = conn.execute("SELECT password_hash FROM api.operators WHERE username = 'marco'").fetchone()[0]
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert accounts.authenticate(conn, "marco", "correct horse battery") == added
    assert accounts.authenticate(conn, "marco", "wrong password!") is None
    assert accounts.authenticate(conn, "nobody", "correct horse battery") is None


@pytest.mark.parametrize("fields, reason", [
    (dict(agency="Not An Agency"), "agency must match"),
    (dict(role="wizard"), "role must be one of"),
    (dict(username="x"), "username"),
    (dict(password="short"), "at least 10"),
])
def test_invalid_operators_are_refused_with_a_reason(conn, fields, reason):
    values = dict(agency="ngo-lugano", role="key_worker", username="anna", password="long enough pw") | fields
    with pytest.raises(accounts.InvalidOperator, match=reason):
        accounts.add_operator(conn, **values)


def test_a_username_is_unique(conn):
    accounts.add_operator(conn, agency="ngo-lugano", role="key_worker", username="anna", password="long enough pw")
    with pytest.raises(accounts.InvalidOperator, match="taken"):
        accounts.add_operator(conn, agency="comune-milano-m7", role="key_worker", username="anna",
                               password="another long pw")


def test_a_disabled_account_signs_in_no_more_and_its_token_reads_nothing(conn):
    admin = accounts.add_operator(conn, agency="ngo-lugano", role="agency_admin", username="ada",
                                   password="long enough pw")
    marco = accounts.add_operator(conn, agency="ngo-lugano", role="link_worker", username="marco",
                                   password="correct horse battery")
    accounts.log_access(conn, marco, purpose="case_management", what="youth list")

    accounts.change_account(conn, "ngo-lugano", "marco", disabled=True, by=admin)
    assert accounts.authenticate(conn, "marco", "correct horse battery") is None
    with pytest.raises(accounts.AccountInactive, match="sign in again"):
        accounts.require_active(conn, marco)
    with pytest.raises(accounts.AccountInactive):
        accounts.log_access(conn, marco, purpose="case_management", what="youth list")
    assert conn.execute("SELECT count(*) FROM api.access_log").fetchone()[0] == 1  # the read before only
    assert [(a.username, a.disabled) for a in accounts.list_accounts(conn, "ngo-lugano")] == [("ada", False),
                                                                                          ("marco", True)]

    accounts.change_account(conn, "ngo-lugano", "marco", disabled=False)
    assert accounts.authenticate(conn, "marco", "correct horse battery") == marco


def test_another_role_counts_from_the_next_request(conn):
    admin = accounts.add_operator(conn, agency="ngo-lugano", role="agency_admin", username="ada",
                                   password="long enough pw")
    marco = accounts.add_operator(conn, agency="ngo-lugano", role="key_worker", username="marco",
                                   password="correct horse battery")
    accounts.change_account(conn, "ngo-lugano", "marco", role="operator", by=admin)
    with pytest.raises(accounts.AccountInactive):
        accounts.require_active(conn, marco)  # the token still says key_worker
    signed_in_again = accounts.authenticate(conn, "marco", "correct horse battery")
    assert signed_in_again.role == "operator"
    accounts.require_active(conn, signed_in_again)


def test_an_admin_changes_only_other_accounts_of_their_own_agency(conn):
    admin = accounts.add_operator(conn, agency="ngo-lugano", role="agency_admin", username="ada",
                                   password="long enough pw")
    accounts.add_operator(conn, agency="comune-milano-m7", role="key_worker", username="giulia",
                           password="long enough pw")
    with pytest.raises(accounts.InvalidOperator, match="your own account"):
        accounts.change_account(conn, "ngo-lugano", "ada", disabled=True, by=admin)
    with pytest.raises(accounts.InvalidOperator, match="your own account"):
        accounts.change_account(conn, "ngo-lugano", "ada", role="operator", by=admin)
    with pytest.raises(accounts.InvalidOperator, match="no account 'giulia' at ngo-lugano"):
        accounts.change_account(conn, admin.agency, "giulia", disabled=True, by=admin)
    with pytest.raises(accounts.InvalidOperator, match="role must be one of"):
        accounts.change_account(conn, "ngo-lugano", "ada", role="wizard", by=admin)
    assert accounts.authenticate(conn, "giulia", "long enough pw") is not None


def test_a_change_names_what_to_change(conn):
    accounts.add_operator(conn, agency="ngo-lugano", role="key_worker", username="marco", password="long enough pw")
    with pytest.raises(accounts.InvalidOperator, match="nothing to change"):
        accounts.change_account(conn, "ngo-lugano", "marco")
