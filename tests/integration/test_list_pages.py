"""The alerts and referrals pages page at 25 rows, with how many there are; the API keeps the
whole alerts list; the live badge counts the referrals waiting as the inbox shows them. Given a
referral waiting for a youth whose consent to the agency was withdrawn, the badge must not count
it: the inbox would otherwise reload forever, waiting for a row it may not show."""

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


def youth(conn, i: int, *, consent_to: str, purpose: str = "case_management", withdrawn: bool = False,
          lost_contact: bool = False) -> str:
    """A youth led by Milan, case reference M7-<i>, with a consent to `consent_to` (withdrawn a
    day after it was given, or in force)."""
    youth_id = str(uuid.uuid4())
    conn.execute("INSERT INTO views.youths (youth_id, registering_agency, partner_case_ref, birth_year, country,"
                 " region, registered_at, source_seq, lead_agency, lost_contact, last_contact_at)"
                 " VALUES (%s, %s, %s, 2005, 'IT', 'IT-25', %s, 1, %s, %s, %s)",
                 (youth_id, MILANO, f"M7-{i:03d}", T0, MILANO, lost_contact, T0 + timedelta(days=i)))
    conn.execute("INSERT INTO views.consents VALUES (%s, %s, %s, %s, 'consent', 'youth', '2026-1', %s, NULL, %s, NULL,"
                 " 'x', %s)", (youth_id, uuid.uuid4(), purpose, consent_to, T0,
                               T0 + timedelta(days=1) if withdrawn else None, T0))
    return youth_id


def referred(conn, i: int, *, status: str, withdrawn: bool = False) -> None:
    youth_id = youth(conn, i, consent_to=AFOL, purpose="sharing", withdrawn=withdrawn)
    conn.execute("INSERT INTO views.referrals (youth_id, referral_id, from_agency, to_agency, service, status,"
                 " transfer_lead, requested_at, updated_at) VALUES (%s, %s, %s, %s, 'ips_placement', %s, FALSE, %s, %s)",
                 (youth_id, uuid.uuid4(), MILANO, AFOL, status, T0, T0 + timedelta(hours=i)))


@pytest.fixture
def reads(database_url):
    ensure_schema(database_url, "views")
    with psycopg.connect(database_url) as conn:
        YouthDirectory().create_tables(conn)
        accounts.create_tables(conn)
        conn.commit()
    with ConnectionPool(database_url, min_size=1, max_size=2, open=True) as pool:
        yield CaseReads(pool, load_register())


def operator(database_url, agency: str, role: str, username: str) -> accounts.Operator:
    with psycopg.connect(database_url) as conn:
        return accounts.add_operator(conn, agency=agency, role=role, username=username,
                                     password="a long enough password")


def test_the_alerts_come_a_page_at_a_time_oldest_first_and_the_api_keeps_them_all(reads, database_url):
    giulia = operator(database_url, MILANO, "key_worker", "giulia")
    with psycopg.connect(database_url) as conn:
        for i in range(PAGE_SIZE + 3):
            youth(conn, i, consent_to=MILANO, lost_contact=True)
    first, total = reads.alerts_page(giulia, limit=PAGE_SIZE)
    second, _ = reads.alerts_page(giulia, limit=PAGE_SIZE, offset=PAGE_SIZE)
    assert total == PAGE_SIZE + 3 and len(first) == PAGE_SIZE and len(second) == 3
    refs = [a["partner_case_ref"] for a in first + second]
    assert refs == sorted(refs)  # the longest without contact first
    assert all("total" not in a for a in first)
    assert [a["partner_case_ref"] for a in reads.alerts(giulia)] == refs


def test_the_inbox_comes_a_page_at_a_time_and_the_badge_counts_what_it_shows(reads, database_url):
    luca = operator(database_url, AFOL, "employment_specialist", "luca")
    with psycopg.connect(database_url) as conn:
        for i in range(PAGE_SIZE + 2):
            referred(conn, i, status="requested" if i % 2 else "accepted")
        referred(conn, 99, status="requested", withdrawn=True)
    first, total, waiting = reads.referrals_page(luca, "inbox", limit=PAGE_SIZE)
    second, _, _ = reads.referrals_page(luca, "inbox", limit=PAGE_SIZE, offset=PAGE_SIZE)
    assert total == PAGE_SIZE + 2 and len(first) == PAGE_SIZE and len(second) == 2
    assert [r["partner_case_ref"] for r in first][:2] == [f"M7-{PAGE_SIZE + 1:03d}", f"M7-{PAGE_SIZE:03d}"]
    assert "M7-099" not in {r["partner_case_ref"] for r in first + second}  # consent withdrawn: not shown
    assert waiting == sum(1 for i in range(PAGE_SIZE + 2) if i % 2) == reads.waiting_count(luca)
