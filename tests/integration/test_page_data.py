"""What the operators' pages need to say what comes next, kept by the projections on a real
PostgreSQL: the agreed contact cadence and the next contact due, the current goals of the Project
of Life with their status, and when each thing on the timeline happened (not only when it was
recorded). A rebuild from the stream gives the same rows as live application, and a views schema
an older version created gets the new columns."""

import asyncio
import uuid
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from events import intake as ev
from events.builders import consent, envelope
from kit.db import ensure_schema
from kit.streams import event_subject, events_stream
from projections.integration_event import IntegrationEvent, read_event
from projections.rebuild import rebuild as rebuild_from
from projections.timeline import Timeline
from projections.youth_directory import YouthDirectory
from tests.conftest import PLATFORM, eventually
from tests.integration.harness import running, services

pytestmark = pytest.mark.integration
MILANO, LUGANO = "comune-milano-m7", "ufficio-giovani-ti"
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=timezone.utc)
SOURCE = "urn:kit:service:intake"
STREAM = events_stream("intake")
PAGE_COLUMNS = ("contact_every_days", "next_contact_due", "goals", "project_agreed_on")


def day(n: int, hour: int = 9, minute: int = 0) -> datetime:
    return (T0 + timedelta(days=n)).replace(hour=hour, minute=minute)


def noon(d: date) -> datetime:
    return datetime.combine(d, time(12), tzinfo=timezone.utc)


class Youth:
    """One youth's events as the intake relay publishes them; `at` is when each is recorded."""

    seq = 0

    def __init__(self, agency: str = MILANO, country: str = "IT", region: str = "IT-25"):
        self.id, self.agency, self.country, self.region = str(uuid.uuid4()), agency, country, region
        self.events: list[IntegrationEvent] = []

    def add(self, data, at: datetime) -> IntegrationEvent:
        Youth.seq += 1
        event = read_event(envelope(data, agency=self.agency, subject=self.id, time=at, source=SOURCE,
                                    kitseq=Youth.seq).to_json_bytes())
        self.events.append(event)
        return event

    def registered(self, at: datetime = T0) -> "Youth":
        self.add(ev.YouthRegistered(youth_id=self.id, registering_agency=self.agency, partner_case_ref="ref-1",
                                    birth_year=2005, country=self.country, region=self.region), at)
        self.add(ev.ConsentRecorded(youth_id=self.id, consent=consent(given_at=at - timedelta(hours=1)),
                                    recorded_by=self.agency), at)
        self.add(ev.CaseOpened(youth_id=self.id, lead_agency=self.agency, key_worker="giulia"), at)
        return self

    def cadence(self, every_days: int, at: datetime) -> IntegrationEvent:
        return self.add(ev.ContactCadenceSet(youth_id=self.id, every_days=every_days, lost_after_days=30), at)

    def contact(self, occurred_at: datetime, at: datetime | None = None, outcome: str = "reached") -> IntegrationEvent:
        return self.add(ev.ContactLogged(youth_id=self.id, contact_id=str(uuid.uuid4()), agency=self.agency,
                                         contact_type="meeting", channel="in_person", outcome=outcome,
                                         occurred_at=occurred_at, related_person_ids=[]), at or occurred_at)

    def agreed(self, version: int, goals: list[ev.Goal], at: datetime) -> IntegrationEvent:
        return self.add(ev.ProjectOfLifeAgreed(youth_id=self.id, version=version, goals=goals,
                                               next_review_due=(at + timedelta(days=90)).date(),
                                               agreed_by_youth=True, agreed_by_guardian=False), at)

    def goal_updated(self, goal_id: str, status: str, at: datetime, achievement: str | None = None) -> IntegrationEvent:
        return self.add(ev.GoalUpdated(youth_id=self.id, project_version=1, goal_id=goal_id, lifecycle_status=status,
                                       achievement_status=achievement), at)

    def reviewed(self, held_on: date, at: datetime) -> IntegrationEvent:
        return self.add(ev.ProjectReviewRecorded(youth_id=self.id, project_version=1, held_on=held_on,
                                                 outcome="on_track", next_review_due=held_on + timedelta(days=90)), at)

    def closed(self, exited_on: date, at: datetime) -> IntegrationEvent:
        return self.add(ev.CaseClosed(youth_id=self.id, destination="employment", exited_on=exited_on,
                                      follow_ups=[ev.FollowUp(checkpoint_months=6, due_on=exited_on + timedelta(days=182))]),
                        at)

    def erased(self, at: datetime) -> IntegrationEvent:
        return self.add(ev.YouthErased(youth_id=self.id, erased_at=at, by_agency=self.agency,
                                       legal_reason="Art. 17 request of the data subject", keys_destroyed=[self.id]), at)


def goal(description: str, category: str = "employment", status: str = "active", goal_id: str | None = None) -> ev.Goal:
    return ev.Goal(goal_id=goal_id or str(uuid.uuid4()), description=description, category=category,
                   lifecycle_status=status)


@pytest.fixture
def conn(database_url):
    ensure_schema(database_url, "views")
    with psycopg.connect(database_url) as connection:
        YouthDirectory().create_tables(connection)
        Timeline().create_tables(connection)
        connection.commit()
        yield connection


def apply(conn: psycopg.Connection, *events: IntegrationEvent, directory: YouthDirectory | None = None) -> None:
    """One page, committed, applied to both projections as the views service applies it."""
    with conn.transaction():
        (directory or YouthDirectory()).apply_page(conn, events)
        Timeline().apply_page(conn, events)


def youth_row(conn: psycopg.Connection, youth_id: str) -> dict[str, Any]:
    return conn.cursor(row_factory=dict_row).execute(
        "SELECT contact_every_days, next_contact_due, goals, project_agreed_on, last_contact_at, closed_on"
        " FROM views.youths WHERE youth_id = %s", (youth_id,)).fetchone()


def timeline(conn: psycopg.Connection, youth_id: str) -> list[dict[str, Any]]:
    """The youth's timeline as the youth page reads it: in the order things happened."""
    return conn.cursor(row_factory=dict_row).execute(
        "SELECT event_id::text, type, at, happened_at, stream_seq FROM views.timeline WHERE youth_id = %s"
        " ORDER BY happened_at, stream_seq", (youth_id,)).fetchall()


# ---------------------------------------------------------------- contact cadence

def test_a_cadence_sets_the_next_contact_due_and_each_later_contact_moves_it(conn):
    # given a youth with an open case and no contact yet
    youth = Youth().registered()
    directory = YouthDirectory()
    apply(conn, *youth.events, directory=directory)
    assert youth_row(conn, youth.id)["contact_every_days"] is None
    assert youth_row(conn, youth.id)["next_contact_due"] is None

    # when the key worker agrees a contact every 14 days, then the first is due 14 days after that day
    apply(conn, youth.cadence(14, day(2)), directory=directory)
    row = youth_row(conn, youth.id)
    assert (row["contact_every_days"], row["next_contact_due"]) == (14, day(2).date() + timedelta(days=14))

    # when the youth is reached, then the next is due 14 days after the contact
    apply(conn, youth.contact(day(5)), directory=directory)
    assert youth_row(conn, youth.id)["next_contact_due"] == day(5).date() + timedelta(days=14)

    # a contact that did not reach the youth, or an older one logged late, moves nothing
    apply(conn, youth.contact(day(9), outcome="not_reached"), youth.contact(day(4), at=day(10)), directory=directory)
    assert youth_row(conn, youth.id)["next_contact_due"] == day(5).date() + timedelta(days=14)

    # the date is the day in Rome: 23:30 UTC on the 12th is already the 13th there
    apply(conn, youth.contact(day(12, 23, 30)), directory=directory)
    assert youth_row(conn, youth.id)["next_contact_due"] == day(13).date() + timedelta(days=14)

    # when the cadence changes, then the next is due that many days after the last contact
    apply(conn, youth.cadence(7, day(14)), directory=directory)
    row = youth_row(conn, youth.id)
    assert (row["contact_every_days"], row["next_contact_due"]) == (7, day(13).date() + timedelta(days=7))

    # when the case is closed, then no contact is due any more (the agreed cadence stays on record)
    apply(conn, youth.closed(day(20).date(), day(20)), youth.contact(day(21)), directory=directory)
    row = youth_row(conn, youth.id)
    assert (row["contact_every_days"], row["next_contact_due"]) == (7, None)
    assert row["last_contact_at"] == day(21)

    # a fresh writer (rows read back from the database, not its cache) computes the same
    other = Youth().registered()
    apply(conn, *other.events, other.cadence(10, day(1)), other.contact(day(3)))
    apply(conn, other.contact(day(6)))
    assert youth_row(conn, other.id)["next_contact_due"] == day(6).date() + timedelta(days=10)


def test_a_youth_without_a_cadence_has_no_contact_due_whatever_the_contacts(conn):
    youth = Youth(LUGANO, "CH", "CH-TI").registered()
    apply(conn, *youth.events, youth.contact(day(3)))
    row = youth_row(conn, youth.id)
    assert (row["contact_every_days"], row["next_contact_due"]) == (None, None)
    assert row["last_contact_at"] == day(3)


def test_an_older_contact_recorded_late_leaves_a_lost_youth_lost_and_a_newer_one_clears_it(conn):
    youth = Youth().registered()
    lost = youth.add(ev.ContactLost(youth_id=youth.id, last_contact_at=day(1), days_without_contact=39,
                                    lead_agency=MILANO, key_worker="giulia"), day(40))
    apply(conn, *youth.events[:-1], youth.contact(day(1)), lost)
    apply(conn, youth.contact(day(0, hour=15), at=day(41)))  # when: before the last contact; recorded late
    assert lost_contact(conn, youth.id) is True
    apply(conn, youth.contact(day(42)))
    assert lost_contact(conn, youth.id) is False


def lost_contact(conn: psycopg.Connection, youth_id: str) -> bool:
    return conn.execute("SELECT lost_contact FROM views.youths WHERE youth_id = %s", (youth_id,)).fetchone()[0]


# ---------------------------------------------------------------- the Project of Life

def test_the_current_goals_with_their_status_after_an_agreement_an_update_and_a_revision(conn):
    # given a Project of Life agreed with two goals
    youth = Youth().registered()
    job, school = goal("Find an apprenticeship"), goal("Finish lower secondary school", "education", "proposed")
    apply(conn, *youth.events, youth.agreed(1, [job, school], day(3)))
    row = youth_row(conn, youth.id)
    assert row["project_agreed_on"] == day(3).date()
    assert row["goals"] == [
        {"goal_id": job.goal_id, "description": "Find an apprenticeship", "category": "employment",
         "status": "active", "achievement_status": None, "updated_at": day(3).isoformat()},
        {"goal_id": school.goal_id, "description": "Finish lower secondary school", "category": "education",
         "status": "proposed", "achievement_status": None, "updated_at": day(3).isoformat()}]

    # when a goal's status changes, then that goal shows it, with when; the other is untouched
    apply(conn, youth.goal_updated(school.goal_id, "active", day(8), achievement="in-progress"))
    goals = youth_row(conn, youth.id)["goals"]
    assert [(g["goal_id"], g["status"], g["achievement_status"], g["updated_at"]) for g in goals] == [
        (job.goal_id, "active", None, day(3).isoformat()),
        (school.goal_id, "active", "in-progress", day(8).isoformat())]

    # when the project is revised (a goal's text reworded, one dropped, one added), then the goals
    # are the revision's; an unchanged goal keeps when it last changed
    reworded = goal("Apprenticeship as a cook", goal_id=job.goal_id)
    carried = ev.Goal(goal_id=school.goal_id, description=school.description, category="education",
                      lifecycle_status="active", achievement_status="in-progress")
    housing = goal("Stable housing", "housing", "planned")
    apply(conn, youth.agreed(2, [reworded, carried, housing], day(30)))
    row = youth_row(conn, youth.id)
    assert row["project_agreed_on"] == day(30).date()
    assert [(g["goal_id"], g["description"], g["status"], g["updated_at"]) for g in row["goals"]] == [
        (job.goal_id, "Apprenticeship as a cook", "active", day(30).isoformat()),
        (school.goal_id, "Finish lower secondary school", "active", day(8).isoformat()),
        (housing.goal_id, "Stable housing", "planned", day(30).isoformat())]


def test_a_youth_without_a_project_has_no_goals(conn):
    youth = Youth().registered()
    apply(conn, *youth.events)
    row = youth_row(conn, youth.id)
    assert (row["goals"], row["project_agreed_on"]) == (None, None)


def test_erasure_empties_the_goals_and_the_contact_due(conn):
    # given a youth with goals and a contact due
    youth = Youth().registered()
    apply(conn, *youth.events, youth.agreed(1, [goal("Find an apprenticeship")], day(2)), youth.cadence(14, day(2)))
    assert youth_row(conn, youth.id)["goals"] and youth_row(conn, youth.id)["next_contact_due"]

    # when the youth is erased, then the goals' texts are gone from the directory and no contact is due
    apply(conn, youth.erased(day(40)))
    row = youth_row(conn, youth.id)
    assert (row["goals"], row["next_contact_due"]) == (None, None)
    with conn.cursor() as cursor:
        stored = cursor.execute("SELECT row_to_json(y)::text FROM views.youths y WHERE youth_id = %s",
                                (youth.id,)).fetchone()[0]
    assert "apprenticeship" not in stored.lower()


# ---------------------------------------------------------------- the timeline: when things happened

def test_the_timeline_says_when_each_thing_happened_and_is_read_in_that_order(conn):
    # given a registration and a consent given an hour before it was recorded
    youth = Youth().registered(at=day(0))
    apply(conn, *youth.events)
    # and then, recorded on day 3, a meeting that happened on day 1; a review, a closure, a cadence
    late = youth.contact(day(1, 15), at=day(3))
    reviewed = youth.reviewed(day(5).date(), at=day(6))
    closed = youth.closed(day(9).date(), at=day(10))
    cadence = youth.cadence(14, day(10))
    apply(conn, late, reviewed, closed, cadence)
    rows = timeline(conn, youth.id)
    by_type = {r["type"]: r for r in rows}

    # then the back-dated contact is dated when it happened and read before what was recorded meanwhile
    assert by_type[ev.ContactLogged.type_name]["happened_at"] == day(1, 15)
    assert by_type[ev.ContactLogged.type_name]["at"] == day(3)
    assert by_type[ev.ConsentRecorded.type_name]["happened_at"] == day(0) - timedelta(hours=1)
    # a day becomes noon UTC: the same day in Rome and in Zurich
    assert by_type[ev.ProjectReviewRecorded.type_name]["happened_at"] == noon(day(5).date())
    assert by_type[ev.CaseClosed.type_name]["happened_at"] == noon(day(9).date())
    # what says nothing about when it happened is dated when it was recorded
    for kind in (ev.YouthRegistered, ev.CaseOpened, ev.ContactCadenceSet):
        assert by_type[kind.type_name]["happened_at"] == by_type[kind.type_name]["at"]
    assert [r["type"] for r in rows] == [
        ev.ConsentRecorded.type_name, ev.YouthRegistered.type_name, ev.CaseOpened.type_name,
        ev.ContactLogged.type_name, ev.ProjectReviewRecorded.type_name, ev.CaseClosed.type_name,
        ev.ContactCadenceSet.type_name]
    # ties (the same instant) keep the order they were recorded in
    assert [r["stream_seq"] for r in rows[1:3]] == sorted(r["stream_seq"] for r in rows[1:3])

    # and the order is served by an index
    with conn.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in cursor.execute(
            "EXPLAIN SELECT * FROM views.timeline WHERE youth_id = %s ORDER BY happened_at, stream_seq",
            (youth.id,)))
        conn.rollback()
    assert "timeline_youth_happened" in plan and "Sort" not in plan


# ---------------------------------------------------------------- upgrading and rebuilding

OLD_YOUTHS = """CREATE TABLE views.youths (youth_id uuid PRIMARY KEY, registering_agency text NOT NULL,
    partner_case_ref text NOT NULL, birth_year int NOT NULL, country text NOT NULL, region text NOT NULL,
    registered_at timestamptz NOT NULL, first_contact_at timestamptz, engagement_id uuid, lead_agency text,
    key_worker text, neet_status text, education_level text, vulnerabilities jsonb,
    project_version int NOT NULL DEFAULT 0, next_review_due date, last_contact_at timestamptz, lost_after_days int,
    lost_contact boolean NOT NULL DEFAULT false, closed_on date, destination text, merged_into uuid,
    erased_at timestamptz, restricted_at timestamptz, source_seq bigint NOT NULL, erasure_scheduled_for date)"""
OLD_TIMELINE = """CREATE TABLE views.timeline (event_id uuid PRIMARY KEY, youth_id uuid NOT NULL,
    stream_seq bigint NOT NULL, at timestamptz NOT NULL, type text NOT NULL, agency text NOT NULL, actor text,
    role text, classification text NOT NULL, data jsonb NOT NULL);
    CREATE INDEX timeline_youth ON views.timeline (youth_id, at, stream_seq)"""


def test_views_an_older_version_created_get_the_new_columns_and_the_timeline_its_dates(database_url):
    # given the views as the previous version left them, with a youth's timeline in them
    ensure_schema(database_url, "views")
    youth = Youth().registered(at=day(0))
    youth.contact(day(1, 15), at=day(3))
    youth.reviewed(day(5).date(), at=day(6))
    youth.closed(day(9).date(), at=day(10))
    youth.add(ev.FollowUpRecorded(youth_id=youth.id, checkpoint_months=6, situation="employment",
                                  recorded_on=day(12).date(), on_time=True), day(13))
    youth.cadence(14, day(13))
    with psycopg.connect(database_url) as conn:
        conn.execute(OLD_YOUTHS)
        conn.execute(OLD_TIMELINE)
        old = [(e.id, youth.id, e.kitseq, e.time, e.type, e.agency, e.classification, e.payload.decode()) for e in youth.events]
        for row in old:
            conn.execute("INSERT INTO views.timeline (event_id, youth_id, stream_seq, at, type, agency, classification,"
                         " data) VALUES (%s, %s, %s, %s, %s, %s, %s, (%s::jsonb)->'data')", row)
        conn.commit()

        # when the new version starts
        YouthDirectory().create_tables(conn)
        Timeline().create_tables(conn)
        conn.commit()

        # then the directory has the new columns (filled by the next rebuild), and the timeline's
        # rows are dated as the new version dates them
        columns = dict(conn.execute("SELECT column_name, data_type FROM information_schema.columns"
                                    " WHERE table_schema = 'views' AND table_name = 'youths'").fetchall())
        assert {c: columns.get(c) for c in PAGE_COLUMNS} == {
            "contact_every_days": "integer", "next_contact_due": "date", "goals": "jsonb", "project_agreed_on": "date"}
        upgraded = timeline(conn, youth.id)
        conn.execute("TRUNCATE views.timeline")
        apply(conn, *youth.events)
        assert upgraded == timeline(conn, youth.id)
        assert conn.execute("SELECT is_nullable FROM information_schema.columns WHERE table_schema = 'views'"
                            " AND table_name = 'timeline' AND column_name = 'happened_at'").fetchone()[0] == "NO"
        # the index on when events were recorded gave way to the one on when they happened
        assert {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'views'"
                                           " AND tablename = 'timeline'")} == {
            "timeline_pkey", "timeline_youth_happened", "timeline_erasures"}
        # starting again changes nothing
        YouthDirectory().create_tables(conn)
        Timeline().create_tables(conn)
        conn.commit()
        assert upgraded == timeline(conn, youth.id)


def page_data(database_url: str) -> dict[str, list]:
    with psycopg.connect(database_url) as conn:
        return {"youths": conn.execute(
                    "SELECT youth_id, contact_every_days, next_contact_due, goals::text, project_agreed_on"
                    " FROM views.youths ORDER BY youth_id").fetchall(),
                "timeline": conn.execute("SELECT event_id, youth_id, at, happened_at FROM views.timeline"
                                         " ORDER BY youth_id, happened_at, stream_seq").fetchall()}


async def test_a_rebuild_gives_the_same_page_data_as_live_application(platform, nc):
    # given the paths of three youths published on the intake stream and applied live by the views service
    js = nc.jetstream()
    first, second, third = Youth().registered(), Youth(LUGANO, "CH", "CH-TI").registered(), Youth().registered()
    job = goal("Find an apprenticeship")
    first.cadence(14, day(1))
    first.contact(day(2, 16), at=day(4))
    first.agreed(1, [job, goal("Stable housing", "housing", "planned")], day(5))
    first.goal_updated(job.goal_id, "completed", day(20), achievement="achieved")
    first.contact(day(21))
    second.cadence(7, day(2))
    second.agreed(1, [goal("Vocational course in catering", "training")], day(3))
    second.reviewed(day(30).date(), day(31))
    second.closed(day(40).date(), day(41))
    third.agreed(1, [goal("Get a driving licence", "other")], day(2))
    third.cadence(10, day(2))
    third.erased(day(50))
    events = sorted(first.events + second.events + third.events, key=lambda e: e.kitseq)

    async with running(*services(platform.settings, "views")):
        async def ready() -> bool:
            try:
                return bool(await js.stream_info(STREAM))
            except Exception:
                return False

        await eventually(ready)
        for event in events:
            await js.publish(event_subject("intake", event.type), event.payload, stream=STREAM)

        def caught_up() -> bool:
            with psycopg.connect(platform.database_url) as conn:
                try:
                    positions = dict(conn.execute("SELECT projection, position FROM views.positions"
                                                  " WHERE stream = %s", (STREAM,)).fetchall())
                except psycopg.errors.UndefinedTable:
                    return False
            return all(positions.get(p.name) == len(events) for p in PLATFORM.projections)

        await eventually(caught_up, timeout=30)
    live = page_data(platform.database_url)
    by_youth = {str(r[0]): r for r in live["youths"]}
    assert by_youth[first.id][1:3] == (14, day(21).date() + timedelta(days=14))
    assert '"completed"' in by_youth[first.id][3]
    assert by_youth[second.id][1:3] == (7, None) and by_youth[second.id][4] == day(3).date()
    assert by_youth[third.id][3] is None
    assert len(live["timeline"]) == len(events)

    # when every projection is rebuilt from the stream, then the rows are the same
    sources = {p.name: [s.name for s in PLATFORM.sources_of(p)] for p in PLATFORM.projections}
    result = await asyncio.to_thread(rebuild_from, platform.database_url, platform.nats_url,
                                     list(PLATFORM.projections), sources, 4)
    assert (result["events"], result["skipped"]) == (len(events), 0)
    assert page_data(platform.database_url) == live
