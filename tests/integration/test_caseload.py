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
from shared import accounts
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
    with psycopg.connect(url) as conn:
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
        assert conn.execute("SELECT count(*) FROM api.access_log WHERE what = 'youth list'").fetchone()[0] >= 18
