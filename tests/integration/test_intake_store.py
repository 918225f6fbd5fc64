"""Batch ingest decisions against the real intake store: idempotence inside and across batches,
and two writers racing for one key."""

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from dataclasses import dataclass

import psycopg

from events import intake as ev
from events.builders import command, register_youth
from kit.log_views import apply_next_page, create_positions_table
from kit.runtime import Incoming, Runtime, Work
from kit.store import Store
from services.intake.handlers import Intake as Handlers
from services.intake.scheduled import Watchlist, scan
from services.intake.store import SCHEMA, open_store
from services.intake.wiring import intake_runtime, open_intake
from tests.conftest import PLATFORM

pytestmark = pytest.mark.integration
# the builders date consents at the real time; the decisions refuse a consent given after "now"
NOW = datetime.now(timezone.utc) + timedelta(hours=1)
EXITED = NOW.date()  # the day of the registration (the path's start): the earliest exit
AGENCY = "comune-milano-m7"


@dataclass
class Intake:
    """The intake service's store, handlers and runtime, as its wiring assembles them."""

    store: Store
    handlers: Handlers
    runtime: Runtime

    @property
    def vault(self):
        return self.handlers.vault

    def state(self, youth_id: str):
        return self.store.repository.get(uuid.UUID(youth_id)).state


def open_for_test(database_url: str, tmp_path) -> Intake:
    store = open_store(database_url)
    handlers = open_intake(database_url, tmp_path)
    return Intake(store, handlers, intake_runtime(store, handlers, PLATFORM))


@pytest.fixture
def intake(database_url, tmp_path):
    opened = open_for_test(database_url, tmp_path)
    yield opened
    opened.store.close()


def handle_ingest(intake: Intake, batch, now):
    return intake.runtime.handle(batch, now)


def flag_lost_contacts(intake: Intake, youth_ids: list[str], now: datetime) -> list[dict]:
    """The scheduler's lost-contact command for these youths; the receipts that recorded an event."""
    receipts = intake.runtime.submit([(f"lost-contact:{y}:{now.date()}", ev.FlagLostContact(youth_id=y))
                                      for y in youth_ids], now, "test-scheduler")
    return [r for r, is_new in receipts if is_new]


def incoming(message, seq: int, agency: str = AGENCY) -> Incoming:
    return Incoming(agency, message.to_json_bytes(), seq)


def test_the_same_message_twice_in_one_batch_is_applied_once(intake):
    message = register_youth(AGENCY, id="twice")
    (first, new_1), (second, new_2) = handle_ingest(intake, [incoming(message, 1), incoming(message, 2)], NOW)
    assert (new_1, new_2) == (True, False) and first == second
    assert Handlers.case_ref_owner(Work(intake.store), AGENCY, message.data["partner_case_ref"]) == first["subject"]


def test_a_message_seen_in_an_earlier_batch_gets_its_first_receipt(intake):
    message = register_youth(AGENCY, id="again")
    [(first, _)] = handle_ingest(intake, [incoming(message, 1)], NOW)
    [(second, is_new)] = handle_ingest(intake, [incoming(message, 7)], NOW)
    assert second == first and not is_new


def test_two_messages_claiming_one_case_ref_in_a_batch_register_one_youth(intake):
    a = register_youth(AGENCY, case_ref="MI7-9", id="a")
    b = register_youth(AGENCY, case_ref="MI7-9", id="b")
    (ra, _), (rb, _) = handle_ingest(intake, [incoming(a, 1), incoming(b, 2)], NOW)
    assert ra["status"] == "accepted"
    assert rb["status"] == "rejected" and rb["reasons"][0]["code"] == "already_registered"
    assert rb["subject"] == ra["subject"]


def test_the_same_case_ref_at_two_agencies_is_two_registrations(intake):
    a = register_youth(AGENCY, case_ref="X-1")
    b = register_youth("ngo-lugano", case_ref="X-1", country="CH", region="CH-TI")
    outcomes = handle_ingest(intake, [incoming(a, 1), incoming(b, 2, "ngo-lugano")], NOW)
    assert [r["status"] for r, _ in outcomes] == ["accepted", "accepted"]


def test_a_concurrent_writer_of_the_same_key_makes_the_batch_fall_back_without_double_effect(intake, database_url, tmp_path):
    other = open_for_test(database_url, tmp_path)
    message = register_youth(AGENCY, case_ref="race-1", id="race")
    batch = [incoming(message, 1), incoming(register_youth(AGENCY, case_ref="race-2"), 2)]
    # another replica answers the first message between our prefetch and our save
    original = intake.runtime._decide
    calls = []

    def decide_then_race(items, now):
        decided = original(items, now)
        if not calls:
            calls.append(1)
            handle_ingest(other, [incoming(message, 1)], now)
        return decided

    intake.runtime._decide = decide_then_race
    outcomes = handle_ingest(intake, batch, NOW)
    assert [is_new for _, is_new in outcomes] == [False, True]
    assert Handlers.case_ref_owner(Work(intake.store), AGENCY, "race-1") == outcomes[0][0]["subject"]
    other.store.close()


def given_registered(intake) -> str:
    [(receipt, _)] = handle_ingest(intake, [incoming(register_youth(AGENCY), 1)], NOW)
    assert receipt["status"] == "accepted", receipt
    return receipt["subject"]


def assess(youth_id: str, **kw):
    return command(ev.AssessYouth, youth_id=youth_id, neet_status="neet", education_level="upper_secondary",
                   family_context="with_parents", lead_agency=AGENCY, key_worker="giulia", **kw)


def agree(youth_id: str, based_on: int = 0):
    return command(ev.AgreeProjectOfLife, youth_id=youth_id, based_on_version=based_on, agreed_by_youth=True,
                   next_review_due=(NOW + timedelta(days=90)).date(), goals=[ev.Goal(
                       goal_id=str(uuid.uuid4()), description="Tirocinio", category="employment")])


def test_a_youth_command_sent_twice_has_one_effect_and_one_receipt(intake):
    youth = given_registered(intake)
    message = assess(youth)
    [(first, new_1)] = handle_ingest(intake, [incoming(message, 2)], NOW)
    [(second, new_2)] = handle_ingest(intake, [incoming(message, 3)], NOW)
    assert first["status"] == "accepted" and (new_1, new_2) == (True, False) and first == second
    assert intake.store.repository.get(uuid.UUID(youth)).version == 2 + len(first["event_ids"])


def test_two_commands_on_one_youth_in_one_batch_apply_in_order(intake):
    youth = given_registered(intake)
    outcomes = handle_ingest(intake, [incoming(assess(youth), 2), incoming(agree(youth), 3),
                                      incoming(agree(youth), 4)], NOW)
    assert [r["status"] for r, _ in outcomes] == ["accepted", "accepted", "rejected"]
    assert outcomes[2][0]["reasons"][0]["code"] == "stale_version"  # the second saw the first's version


def test_two_replicas_revising_one_project_at_once_accept_one_and_reject_the_other(intake, database_url, tmp_path):
    """Optimistic concurrency: both decide on version 0; the loser re-decides on the winner's state."""
    youth = given_registered(intake)
    handle_ingest(intake, [incoming(assess(youth), 2)], NOW)
    other = open_for_test(database_url, tmp_path)
    original = intake.runtime._decide
    raced = []

    def decide_then_race(items, now):
        decided = original(items, now)
        if not raced:
            raced.append(1)
            [(winner, _)] = handle_ingest(other, [incoming(agree(youth), 10)], now)
            raced.append(winner)
        return decided

    intake.runtime._decide = decide_then_race
    try:
        [(loser, is_new)] = handle_ingest(intake, [incoming(agree(youth), 11)], NOW)
    finally:
        other.store.close()
    assert raced[1]["status"] == "accepted"
    assert is_new and loser["status"] == "rejected" and loser["reasons"][0]["code"] == "stale_version"
    assert intake.state(youth).project_version == 1


def test_an_operator_without_permission_cannot_override_and_the_rejection_changes_nothing(intake):
    youth = given_registered(intake)
    before = intake.store.repository.get(uuid.UUID(youth)).version
    message = command(ev.OverrideConsent, youth_id=youth, agency="afol-milano", purpose="sharing", role="key_worker",
                      reason="Urgent coordination needed", expires_at=NOW + timedelta(days=9))
    [(receipt, _)] = handle_ingest(intake, [incoming(message, 2)], NOW)
    assert receipt["status"] == "rejected" and [r["code"] for r in receipt["reasons"]] == ["forbidden"]
    assert intake.store.repository.get(uuid.UUID(youth)).version == before


def test_an_unknown_youth_or_agency_is_refused_with_a_reason(intake):
    [(unknown, _)] = handle_ingest(intake, [incoming(assess(str(uuid.uuid4())), 1)], NOW)
    assert [(r["field"], r["code"]) for r in unknown["reasons"]] == [("data.youth_id", "unknown_youth")]
    [(stranger, _)] = handle_ingest(intake, [incoming(register_youth("nobody-here"), 2, "nobody-here")], NOW)
    assert [(r["field"], r["code"]) for r in stranger["reasons"]] == [("kitagency", "unknown_agency")]


def test_the_lost_contact_alert_is_recorded_once_when_due(intake):
    youth = given_registered(intake)
    assert flag_lost_contacts(intake, [youth], NOW + timedelta(days=29)) == []
    assert len(flag_lost_contacts(intake, [youth], NOW + timedelta(days=31))) == 1
    assert flag_lost_contacts(intake, [youth], NOW + timedelta(days=32)) == []
    assert intake.state(youth).lost_contact


def close(youth_id: str, exited_on: date):
    return command(ev.CloseCase, youth_id=youth_id, destination="employment", exited_on=exited_on)


def erase_on_schedule(intake: Intake, youth_ids: list[str], now: datetime) -> list[dict]:
    receipts = intake.runtime.submit([(f"retention:{y}:{now.date()}", ev.ApplyRetention(youth_id=y))
                                      for y in youth_ids], now, "test-scheduler")
    return [r for r, is_new in receipts if is_new]


def test_retention_schedules_the_erasure_of_a_closed_case_then_destroys_its_key_on_that_day(intake):
    youth = given_registered(intake)
    assert intake.state(youth).has_identity is False
    intake.vault.keys.ensure(youth)
    [(closed, _)] = handle_ingest(intake, [incoming(close(youth, EXITED), 5)], NOW)
    assert closed["status"] == "accepted", closed
    assert erase_on_schedule(intake, [youth], NOW + timedelta(days=365)) == []  # 5 years in the policy
    five_years_on = datetime.combine(EXITED, datetime.min.time(), timezone.utc) + timedelta(days=5 * 365 + 3)
    assert len(erase_on_schedule(intake, [youth], five_years_on)) == 1  # scheduled, 30 days ahead
    assert intake.state(youth).erasure_scheduled_for == five_years_on.date() + timedelta(days=30)
    assert not intake.state(youth).erased and intake.vault.keys.get(youth) is not None
    assert erase_on_schedule(intake, [youth], five_years_on + timedelta(days=29)) == []
    assert len(erase_on_schedule(intake, [youth], five_years_on + timedelta(days=30))) == 1
    assert intake.state(youth).erased
    assert intake.vault.keys.get(youth) is None


def test_an_erasure_request_destroys_the_key_and_records_no_personal_data(intake):
    youth = given_registered(intake)
    intake.vault.keys.ensure(youth)
    request = command(ev.EraseYouth, youth_id=youth, mode="erasure", legal_reason="Art. 17 request", role="agency_admin")
    [(receipt, _)] = handle_ingest(intake, [incoming(request, 7)], NOW)
    assert receipt["status"] == "accepted", receipt
    assert intake.vault.keys.get(youth) is None
    [(again, _)] = handle_ingest(intake, [incoming(assess(youth), 8)], NOW)
    assert [r["code"] for r in again["reasons"]] == ["erased"]


def test_the_scheduled_scan_finds_its_candidates_in_intakes_own_watch_list(intake, database_url):
    """Given a youth not reached for longer than the threshold, when the watch list has caught up
    with the log and the scan runs, then the alert is recorded (once, however often it runs)."""
    youth = given_registered(intake)
    view = Watchlist(intake.store)
    with psycopg.connect(database_url) as conn:
        with conn.transaction():
            create_positions_table(conn, SCHEMA)
            view.create_tables(conn)
        while apply_next_page(conn, intake.store, SCHEMA, view):
            pass
        row = conn.execute("SELECT open, lost_contact FROM intake.watch WHERE youth_id = %s", (youth,)).fetchone()
    assert row == (True, False)
    assert scan(intake.runtime, database_url, 30, NOW + timedelta(days=29)) == (0, 0)
    assert scan(intake.runtime, database_url, 30, NOW + timedelta(days=31)) == (1, 0)
    assert scan(intake.runtime, database_url, 30, NOW + timedelta(days=31, hours=1)) == (0, 0)  # once a day
    assert intake.state(youth).lost_contact
