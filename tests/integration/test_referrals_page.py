"""The referrals page pages at 25 rows, newest change first, and says how many wait for an answer;
the live badge counts the same referrals as the page. Given a referral waiting for a youth whose
consent to the agency was withdrawn, the badge must not count it: the inbox would otherwise reload
forever, waiting for a row it may not show."""

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
MILANO, AFOL = "comune-milano-m7", "afol-milano"
T0 = datetime(2026, 6, 1, tzinfo=timezone.utc)


def youth_referred(conn, i: int, *, status: str, consent_withdrawn: bool = False) -> None:
    youth = str(uuid.uuid4())
    conn.execute("INSERT INTO views.youths (youth_id, registering_agency, partner_case_ref, birth_year, country,"
                 " region, registered_at, source_seq, lead_agency) VALUES (%s, %s, %s, 2005, 'IT', 'IT-25', %s, 1, %s)",
                 (youth, MILANO, f"M7-{i:03d}", T0, MILANO))
    conn.execute("INSERT INTO views.consents VALUES (%s, %s, 'sharing', %s, 'consent', 'youth', '2026-1',"
                 " %s, NULL, %s, NULL, 'x', %s)",
                 (youth, uuid.uuid4(), AFOL, T0, T0 + timedelta(days=1) if consent_withdrawn else None, T0))
    conn.execute("INSERT INTO views.referrals (youth_id, referral_id, from_agency, to_agency, service, status,"
                 " transfer_lead, requested_at, updated_at) VALUES (%s, %s, %s, %s, 'ips_placement', %s, FALSE, %s, %s)",
                 (youth, uuid.uuid4(), MILANO, AFOL, status, T0, T0 + timedelta(hours=i)))


@pytest.fixture
def reads_and_operator(database_url):
    ensure_schema(database_url, "views")
    with psycopg.connect(database_url) as conn:
        YouthDirectory().create_tables(conn)
        accounts.create_tables(conn)
        operator = accounts.add_operator(conn, agency=AFOL, role="employment_specialist", username="luca",
                                         password="a long enough password")
        for i in range(PAGE_SIZE + 2):
            youth_referred(conn, i, status="requested" if i % 2 else "accepted")
        youth_referred(conn, 99, status="requested", consent_withdrawn=True)
        conn.commit()
    with ConnectionPool(database_url, min_size=1, max_size=2, open=True) as pool:
        yield CaseReads(pool, load_register()), operator


def test_the_inbox_comes_a_page_at_a_time_and_the_badge_counts_what_it_shows(reads_and_operator):
    reads, operator = reads_and_operator
    first, total, waiting = reads.referrals_page(operator, "inbox", limit=PAGE_SIZE)
    second, _, _ = reads.referrals_page(operator, "inbox", limit=PAGE_SIZE, offset=PAGE_SIZE)
    assert total == PAGE_SIZE + 2 and len(first) == PAGE_SIZE and len(second) == 2
    assert [r["partner_case_ref"] for r in first][:2] == [f"M7-{PAGE_SIZE + 1:03d}", f"M7-{PAGE_SIZE:03d}"]
    assert "M7-099" not in {r["partner_case_ref"] for r in first + second}  # consent withdrawn: not shown
    assert waiting == sum(1 for i in range(PAGE_SIZE + 2) if i % 2) == reads.waiting_count(operator)
