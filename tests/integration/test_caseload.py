"""The caseload an operator reads: the youths the agency is involved with and may see now, newest
first, with pagination, search (pseudonymous id, nickname) and filters (status, key worker,
territory), as the API sends it. The directory is filled by its own projection from events."""

import json
import uuid
from datetime import date, datetime, timedelta, timezone

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from events import intake as ev
from events.builders import consent, envelope
from kit.db import ensure_schema
from projections.integration_event import read_event
from projections.youth_directory import YouthDirectory
from shared import accounts, search_tokens
from services.api.youths import YouthPage
from shared.accounts import Operator
from services.api.reads import CaseReads
from shared.pseudonyms import engagement_id
from shared.agencies import load_register

pytestmark = pytest.mark.integration
MILANO, AFOL = "comune-milano-m7", "afol-milano"
T0 = datetime(2026, 10, 1, tzinfo=timezone.utc)
KEY = b"k" * 32


@pytest.fixture
def reads(database_url):
    url = database_url
    ensure_schema(url, "views")
    ensure_schema(url, accounts.SCHEMA)
    ensure_schema(url, "intake")
    with psycopg.connect(url) as conn:
        search_tokens.create_table(conn)  # the intake service's search index, read by the caseload search
        YouthDirectory().create_tables(conn)
        accounts.create_tables(conn)
    with ConnectionPool(url, min_size=1, max_size=2, open=True) as pool:
        yield CaseReads(pool, load_register(), pseudonym_key=KEY)


class Path:
    """Events of one youth's path, as the intake relay publishes them."""

    seq = 0

    def __init__(self, agency: str, day: int, region: str = "IT-25", nickname: str | None = None):
        self.id, self.agency, self.at, self.events = str(uuid.uuid4()), agency, T0 + timedelta(days=day), []
        engagement = str(engagement_id(KEY, agency, nickname)) if nickname else None
        self.add(ev.YouthRegistered(youth_id=self.id, registering_agency=agency, partner_case_ref=f"ref-{day}",
                                    birth_year=2005, country="IT", region=region, engagement_id=engagement))
        self.consent = consent(given_at=self.at)
        self.add(ev.ConsentRecorded(youth_id=self.id, consent=self.consent, recorded_by=agency))

    def add(self, data) -> "Path":
        Path.seq += 1
        self.events.append(read_event(envelope(data, agency=self.agency, subject=self.id, time=self.at,
                                               kitseq=Path.seq).to_json_bytes()))
        return self

    def opened(self, key_worker: str) -> "Path":
        return self.add(ev.CaseOpened(youth_id=self.id, lead_agency=self.agency, key_worker=key_worker))


def operator(reads: CaseReads, agency: str) -> Operator:
    with reads.pool.connection() as conn:
        return accounts.add_operator(conn, agency=agency, role="key_worker", username=f"kw-{uuid.uuid4().hex[:8]}",
                                      password="long enough password")


def ids(page: tuple[list[dict], int]) -> list[str]:
    return [row["youth_id"] for row in page[0]]


def test_the_caseload_lists_searches_filters_and_pages_what_the_agency_may_see(reads):
    # given six youths: four in Milan's caseload at every stage, one whose consent was withdrawn,
    # one registered by another agency only
    active = Path(MILANO, 1).opened("kw-1")
    registered = Path(MILANO, 2, nickname="Lupo")
    lost = Path(MILANO, 3).opened("kw-1")
    lost.add(ev.ContactLost(youth_id=lost.id, last_contact_at=T0, days_without_contact=40, lead_agency=MILANO,
                            key_worker="kw-1"))
    closed = Path(MILANO, 4, region="IT-21").opened("kw-2")
    closed.add(ev.CaseClosed(youth_id=closed.id, destination="employment", exited_on=date(2026, 10, 20), follow_ups=[]))
    withdrawn = Path(MILANO, 5)
    withdrawn.add(ev.ConsentWithdrawn(youth_id=withdrawn.id, consent_id=withdrawn.consent.consent_id,
                                      withdrawn_at=T0 + timedelta(days=6)))
    elsewhere = Path(AFOL, 6)
    with reads.pool.connection() as conn:
        YouthDirectory().apply_page(conn, [e for p in (active, registered, lost, closed, withdrawn, elsewhere)
                                           for e in p.events])
    milano = operator(reads, MILANO)

    # when Milan reads its caseload, then: newest registration first, the total, nothing else
    assert reads.caseload(milano) == (reads.caseload(milano)[0], 4)
    assert ids(reads.caseload(milano)) == [closed.id, lost.id, registered.id, active.id]
    assert ids(reads.caseload(operator(reads, AFOL))) == [elsewhere.id]

    # status, key worker, territory
    assert ids(reads.caseload(milano, status="active")) == [active.id]
    assert ids(reads.caseload(milano, status="registered")) == [registered.id]
    assert ids(reads.caseload(milano, status="lost_contact")) == [lost.id]
    assert ids(reads.caseload(milano, status="closed")) == [closed.id]
    assert ids(reads.caseload(milano, key_worker="kw-1")) == [lost.id, active.id]
    assert ids(reads.caseload(milano, region="IT-21")) == [closed.id]

    # search by the start of the pseudonymous id, or by the nickname (found through its keyed pseudonym)
    assert ids(reads.caseload(milano, q=active.id[:8])) == [active.id]
    assert ids(reads.caseload(milano, q="lupo")) == [registered.id]
    assert reads.caseload(milano, q=elsewhere.id[:8]) == ([], 0)  # not Milan's to see

    # pages
    assert ids(reads.caseload(milano, limit=2)) == [closed.id, lost.id]
    assert reads.caseload(milano, limit=2, offset=2)[0] == reads.caseload(milano)[0][2:]
    assert reads.caseload(milano, limit=2, offset=10) == ([], 4)

    # as the API sends it: the documented schema, and no special-category data
    page = json.loads(reads.caseload_json(milano, limit=2))
    assert YouthPage.model_validate(page).model_dump(mode="json") == page
    assert (page["total"], page["limit"], page["offset"]) == (4, 2, 0)
    assert "vulnerabilities" not in json.dumps(page)

    # every read is in the access log
    with reads.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM api.access_log WHERE what LIKE 'youth list%'").fetchone()[0] >= 18


def admin(reads: CaseReads, agency: str) -> Operator:
    with reads.pool.connection() as conn:
        return accounts.add_operator(conn, agency=agency, role="agency_admin", username=f"ad-{uuid.uuid4().hex[:8]}",
                                      password="long enough password")


def test_a_scheduled_erasure_is_shown_to_the_agencies_in_the_path_and_leaves_when_stopped(reads):
    # given a closed case whose retention ended: its erasure is scheduled
    closed = Path(MILANO, 1).opened("kw-1")
    closed.add(ev.CaseClosed(youth_id=closed.id, destination="employment", exited_on=date(2026, 10, 2), follow_ups=[]))
    closed.add(ev.ErasureScheduled(youth_id=closed.id, scheduled_for=date(2031, 11, 2), legal_reason="retention"))
    other = Path(AFOL, 2)
    with reads.pool.connection() as conn:
        YouthDirectory().apply_page(conn, closed.events + other.events)

    # then the caseload row and the record say when, and the agencies of the path are alerted
    milano = admin(reads, MILANO)
    assert reads.caseload(milano)[0][0]["erasure_scheduled_for"] == "2031-11-02"
    assert [(a["kind"], a["youth_id"]) for a in reads.alerts(milano)] == [("erasure_scheduled", closed.id)]
    assert [a["kind"] for a in reads.alerts(admin(reads, AFOL))] == []  # not in this youth's path

    # when an agency admin stops it, then it is no longer scheduled
    closed.add(ev.ScheduledErasureCancelled(youth_id=closed.id, by_agency=MILANO, reason="litigation",
                                            cancelled_at=T0 + timedelta(days=3)))
    with reads.pool.connection() as conn:
        YouthDirectory().apply_page(conn, closed.events[-1:])
    assert reads.caseload(milano)[0][0]["erasure_scheduled_for"] is None
    assert reads.alerts(milano) == []


def test_the_receiver_of_a_referral_joins_the_path_when_it_accepts_and_a_new_lead_has_no_key_worker_yet(reads):
    path = Path(MILANO, 1).opened("kw-milano")
    path.add(ev.ConsentRecorded(youth_id=path.id, consent=consent(purpose="sharing", recipient=AFOL, given_at=path.at),
                                recorded_by=MILANO))
    referral = str(uuid.uuid4())
    path.add(ev.ReferralRequested(youth_id=path.id, referral_id=referral, from_agency=MILANO, to_agency=AFOL,
                                  service="ips_placement", reason="job search", transfer_lead=True, basis="consent:x"))
    directory = YouthDirectory()
    with reads.pool.connection() as conn:
        directory.apply_page(conn, path.events)
    milano = operator(reads, MILANO)
    assert reads.record(milano, path.id)["agencies"] == [MILANO]  # asked, not yet in the path

    path.add(ev.ReferralStatusChanged(youth_id=path.id, referral_id=referral, from_agency=MILANO, to_agency=AFOL,
                                      previous_status="requested", status="accepted", by_agency=AFOL))
    path.add(ev.LeadTransferred(youth_id=path.id, from_agency=MILANO, to_agency=AFOL, referral_id=referral))
    with reads.pool.connection() as conn:
        directory.apply_page(conn, path.events[-2:])
    record = reads.record(milano, path.id)
    assert record["agencies"] == [AFOL, MILANO]
    assert (record["lead_agency"], record.get("key_worker")) == (AFOL, None)
