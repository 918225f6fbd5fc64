"""The alerts list pages at 25 rows, oldest first, with how many there are; the API keeps the whole
list. Given an agency with more lost-contact youths than a page holds."""

import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from kit.db import ensure_schema
from projections.youth_directory import YouthDirectory
from services.api.reads import CaseReads
from shared import accounts
from shared.agencies import load_register
from shared.web.session import PAGE_SIZE

pytestmark = pytest.mark.integration
MILANO = "comune-milano-m7"
T0 = datetime(2026, 6, 1, tzinfo=timezone.utc)


@pytest.fixture
def reads_and_operator(database_url):
    ensure_schema(database_url, "views")
    with psycopg.connect(database_url) as conn:
        YouthDirectory().create_tables(conn)
        accounts.create_tables(conn)
        operator = accounts.add_operator(conn, agency=MILANO, role="key_worker", username="giulia",
                                         password="a long enough password")
        for i in range(PAGE_SIZE + 3):  # lost contact, led by Milan, consent in force
            youth = str(uuid.uuid4())
            conn.execute("INSERT INTO views.youths (youth_id, registering_agency, partner_case_ref, birth_year, country,"
                         " region, registered_at, source_seq, lead_agency, lost_contact, last_contact_at)"
                         " VALUES (%s, %s, %s, 2005, 'IT', 'IT-25', %s, 1, %s, TRUE, %s)",
                         (youth, MILANO, f"M7-{i:03d}", T0, MILANO, T0 + timedelta(days=i)))
            conn.execute("INSERT INTO views.consents VALUES (%s, %s, 'case_management', %s, 'consent', 'youth', '2026-1',"
                         " %s, NULL, NULL, NULL, 'x', %s)", (youth, uuid.uuid4(), MILANO, T0, T0))
        conn.commit()
    with ConnectionPool(database_url, min_size=1, max_size=2, open=True) as pool:
        yield CaseReads(pool, load_register()), operator


def test_the_alerts_come_a_page_at_a_time_oldest_first_and_the_api_keeps_them_all(reads_and_operator):
    reads, operator = reads_and_operator
    first, total = reads.alerts_page(operator, limit=PAGE_SIZE)
    second, _ = reads.alerts_page(operator, limit=PAGE_SIZE, offset=PAGE_SIZE)
    assert total == PAGE_SIZE + 3 and len(first) == PAGE_SIZE and len(second) == 3
    refs = [a["partner_case_ref"] for a in first + second]
    assert refs == sorted(refs)  # the longest without contact first
    assert all("total" not in a for a in first)
    assert [a["partner_case_ref"] for a in reads.alerts(operator)] == refs
