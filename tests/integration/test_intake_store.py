"""Batch ingest decisions against the real intake store: idempotence inside and across batches,
and two writers racing for one key."""

from datetime import datetime, timezone

import pytest

from events.builders import register_youth
from services.intake.ingest import Incoming, handle_ingest
from services.intake.wiring import open_intake

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
AGENCY = "comune-milano-m7"


@pytest.fixture
def intake(database_url, tmp_path):
    opened = open_intake(database_url, tmp_path)
    yield opened
    opened.app.close()


def incoming(message, seq: int, agency: str = AGENCY) -> Incoming:
    return Incoming(agency, message.to_json_bytes(), seq)


def test_the_same_message_twice_in_one_batch_is_applied_once(intake):
    message = register_youth(AGENCY, id="twice")
    (first, new_1), (second, new_2) = handle_ingest(intake, [incoming(message, 1), incoming(message, 2)], NOW)
    assert (new_1, new_2) == (True, False) and first == second
    assert intake.app.youth_for_case_ref(AGENCY, message.data["partner_case_ref"]) == first["subject"]


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
    other = open_intake(database_url, tmp_path)
    message = register_youth(AGENCY, case_ref="race-1", id="race")
    batch = [incoming(message, 1), incoming(register_youth(AGENCY, case_ref="race-2"), 2)]
    # another replica answers the first message between our prefetch and our save
    from services.intake import ingest

    original = ingest.decide_batch
    calls = []

    def decide_then_race(application, items, now):
        decided = original(application, items, now)
        if not calls:
            calls.append(1)
            handle_ingest(other, [incoming(message, 1)], now)
        return decided

    ingest.decide_batch = decide_then_race
    try:
        outcomes = handle_ingest(intake, batch, NOW)
    finally:
        ingest.decide_batch = original
    assert [is_new for _, is_new in outcomes] == [False, True]
    assert intake.app.youth_for_case_ref(AGENCY, "race-1") == outcomes[0][0]["subject"]
    other.app.close()
