"""The auditor's access-log page reads its page in SQL, newest first, with every filter applied
there. Given more matching rows than the API's 10,000 cap, the newest read is still on the first
page, and the count is the true one (before, the page filtered and reversed the oldest 10,000)."""

import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from shared import access_log, accounts

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
ROWS = 10_030


@pytest.fixture
def conn(database_url):
    with psycopg.connect(database_url) as connection:
        accounts.create_tables(connection)
        giulia = accounts.add_operator(connection, agency="comune-milano-m7", role="key_worker", username="giulia",
                                       password="a long enough password")
        connection.execute(
            "INSERT INTO api.access_log (operator_id, agency, role, purpose, youth_id, what, at)"
            " SELECT %s, 'comune-milano-m7', 'key_worker', CASE WHEN n %% 2 = 0 THEN 'case_management' ELSE 'audit' END,"
            " NULL, 'youth list', %s + n * interval '1 minute' FROM generate_series(1, %s) n",
            (giulia.id, T0, ROWS))
        connection.commit()
        yield connection


def test_the_first_page_holds_the_newest_reads_however_many_match(conn):
    rows, total = access_log.page(conn, offset=0, limit=25, operator="giulia")
    assert total == ROWS and len(rows) == 25
    assert datetime.fromisoformat(rows[0]["at"]) == T0 + timedelta(minutes=ROWS)  # the newest first
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)


def test_agency_and_purpose_are_filtered_before_the_page_is_cut(conn):
    rows, total = access_log.page(conn, offset=25, limit=25, operator="giulia", purpose="audit",
                                  agency="comune-milano-m7")
    assert total == ROWS // 2 and all(r["purpose"] == "audit" for r in rows) and len(rows) == 25
    assert access_log.page(conn, offset=0, limit=25, agency="afol-milano") == ([], 0)
    assert len(access_log.query(conn, operator="giulia", purpose="audit", limit=20_000)) == ROWS // 2
