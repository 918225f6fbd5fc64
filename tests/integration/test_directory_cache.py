"""The youth directory keeps the rows it wrote in memory between pages, and trusts them only while
nobody else wrote the directory: another writer in between, or a page of its own that did not
commit, and it reads the rows again. On a real PostgreSQL: the outcome must equal one writer
applying every committed page."""

import uuid
from datetime import date, datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import sql

from events import intake as ev
from events.builders import consent, envelope
from kit.db import ensure_schema
from projections.integration_event import IntegrationEvent, read_event
from projections.youth_directory import TABLES, YouthDirectory

pytestmark = pytest.mark.integration
MILANO = "comune-milano-m7"
T0 = datetime(2026, 10, 1, tzinfo=timezone.utc)
SOURCE = "urn:kit:service:intake"


class Youth:
    seq = 0

    def __init__(self):
        self.id = str(uuid.uuid4())

    def event(self, data, day: int) -> IntegrationEvent:
        Youth.seq += 1
        return read_event(envelope(data, agency=MILANO, subject=self.id, time=T0 + timedelta(days=day),
                                   source=SOURCE, kitseq=Youth.seq).to_json_bytes())

    def registered(self) -> list[IntegrationEvent]:
        return [self.event(ev.YouthRegistered(youth_id=self.id, registering_agency=MILANO, partner_case_ref="ref",
                                              birth_year=2005, country="IT", region="IT-25"), 0),
                self.event(ev.ConsentRecorded(youth_id=self.id, consent=consent(given_at=T0), recorded_by=MILANO), 0)]

    def opened(self, key_worker: str, day: int) -> IntegrationEvent:
        return self.event(ev.CaseOpened(youth_id=self.id, lead_agency=MILANO, key_worker=key_worker), day)

    def contact(self, day: int) -> IntegrationEvent:
        return self.event(ev.ContactLogged(youth_id=self.id, contact_id=str(uuid.uuid4()), agency=MILANO,
                                           contact_type="meeting", channel="in_person", outcome="reached",
                                           occurred_at=T0 + timedelta(days=day), related_person_ids=[]), day)

    def closed(self, day: int) -> IntegrationEvent:
        return self.event(ev.CaseClosed(youth_id=self.id, destination="employment", exited_on=date(2026, 11, day),
                                        follow_ups=[]), day)


@pytest.fixture
def conn(database_url):
    ensure_schema(database_url, "views")
    with psycopg.connect(database_url) as connection:
        YouthDirectory().create_tables(connection)
        connection.commit()
        yield connection


def apply(conn, directory: YouthDirectory, events: list[IntegrationEvent], commit: bool = True) -> None:
    with conn.transaction(force_rollback=not commit):
        directory.apply_page(conn, events)


def contents(conn) -> dict[str, list[str]]:
    return {t.name: sorted(map(repr, conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier("views", t.name)))))
            for t in TABLES}


def one_writer(conn, pages: list[list[IntegrationEvent]]) -> dict[str, list[str]]:
    """What the directory holds when a single fresh writer applies these pages."""
    directory = YouthDirectory()
    with conn.transaction():
        directory.reset(conn)
    for events in pages:
        apply(conn, directory, events)
    return contents(conn)


def test_a_writer_reads_the_rows_again_after_another_wrote_in_between(conn):
    # given one youth whose row each page changes, in a different column each time
    youth = Youth()
    pages = [youth.registered() + [youth.opened("kw-1", 1)], [youth.contact(5)], [youth.closed(20)]]
    first, second = YouthDirectory(), YouthDirectory()  # two processes, each with its own memory

    # when the first writes pages 1 and 3 and the second page 2 in between
    apply(conn, first, pages[0])
    apply(conn, second, pages[1])
    apply(conn, first, pages[2])

    # then nothing of the second writer's page is lost (the first did not write its stale row back)
    together = contents(conn)
    row = conn.execute("SELECT key_worker, last_contact_at, closed_on FROM views.youths").fetchone()
    assert row == ("kw-1", T0 + timedelta(days=5), date(2026, 11, 20))
    assert together == one_writer(conn, pages)


def test_a_writer_reads_the_rows_again_after_a_reset_and_rebuild_in_between(conn):
    # given a live writer that skipped a page (dead-lettered), and a rebuild that applied it
    youth = Youth()
    assessed = youth.event(ev.YouthAssessed(youth_id=youth.id, neet_status="neet", education_level="upper_secondary",
                                            family_context="with_parents", aspirations=["work"], neet_since=None), 2)
    pages = [youth.registered(), [assessed], [youth.contact(5)]]
    live = YouthDirectory()
    apply(conn, live, pages[0])
    apply(conn, live, pages[2])
    rebuilt = YouthDirectory()
    with conn.transaction():
        rebuilt.reset(conn)
    for events in pages:
        apply(conn, rebuilt, events)

    # when the live writer applies its next page, then it does not write its older row back
    apply(conn, live, [youth.closed(20)])
    assert conn.execute("SELECT neet_status, closed_on FROM views.youths").fetchone() == ("neet", date(2026, 11, 20))


def test_a_page_that_did_not_commit_leaves_nothing_in_the_writers_memory(conn):
    # given a writer whose second page is rolled back (its transaction failed after the page)
    youth, other = Youth(), Youth()
    pages = [youth.registered() + other.registered(), [youth.opened("kw-1", 1), other.contact(2)],
             [youth.contact(3), other.closed(10)]]
    directory = YouthDirectory()
    apply(conn, directory, pages[0])
    apply(conn, directory, pages[1], commit=False)

    # when it applies the next page
    apply(conn, directory, pages[2])

    # then the rows are those of the committed pages only
    assert conn.execute("SELECT key_worker FROM views.youths WHERE youth_id = %s", (youth.id,)).fetchone() == (None,)
    assert contents(conn) == one_writer(conn, [pages[0], pages[2]])


def test_read_your_writes_waits_for_every_view_the_service_declares(conn, database_url):
    from psycopg_pool import ConnectionPool

    from projections.tracking import create_positions_table, save_position
    from services.api.reads import CaseReads
    from shared.agencies import load_register
    from tests.conftest import PLATFORM

    # given a command whose events lie up to sequence 5 of intake's stream, applied by the timeline only
    create_positions_table(conn)
    save_position(conn, "timeline", "KIT_EVENTS_INTAKE", 5)
    save_position(conn, "youth_directory", "KIT_EVENTS_INTAKE", 3)
    conn.commit()
    with ConnectionPool(database_url, min_size=1, max_size=1, open=True) as pool:
        reads = CaseReads(pool, load_register(), platform=PLATFORM)
        assert PLATFORM.read_your_writes("intake") == ("youth_directory", "timeline")

        # then the wait is not over while the directory lags behind (the caseload would not show it)
        assert reads.wait_for("intake", 5, timeout=0.2) is False

        # when the directory has applied them too, then it is
        save_position(conn, "youth_directory", "KIT_EVENTS_INTAKE", 5)
        conn.commit()
        assert reads.wait_for("intake", 5, timeout=0.2) is True
        assert reads.wait_for("intake", 6, timeout=0.05) is False  # an event no view has applied yet
        assert reads.wait_for("intake", None) is True  # a rejected command: nothing to wait for
