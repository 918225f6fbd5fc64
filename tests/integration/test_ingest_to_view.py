"""Partner ingest -> intake store -> relay -> integration stream -> projection, on real servers."""

import json

import psycopg
import pytest

from events.builders import register_youth
from events.envelope import CloudEvent
from kit.streams import events_stream
from tests.conftest import eventually
from tests.integration.harness import publish_ingest, receipts, ingest_path, running, services

pytestmark = pytest.mark.integration
AGENCY = "comune-milano-m7"


def youths(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        try:
            return conn.execute("SELECT youth_id::text, registering_agency, partner_case_ref FROM views.youths"
                                " ORDER BY source_seq").fetchall()
        except psycopg.errors.UndefinedTable:
            return []


def stored_event_count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM intake.intake_events").fetchone()[0]


async def test_an_accepted_registration_reaches_the_view_and_the_partner_gets_a_receipt(platform, nc):
    js = nc.jetstream()
    async with running(*ingest_path(platform.settings)):
        await eventually(lambda: _stream_exists(js, "KIT_INGEST"))
        await publish_ingest(js, AGENCY, register_youth(AGENCY, id="mi7-ingest-0001", case_ref="MI7-2026-0042").to_json_bytes())
        [receipt] = await receipts(js, AGENCY, 1)
        assert receipt["status"] == "accepted" and receipt["ingest_id"] == "mi7-ingest-0001"
        rows = await eventually(lambda: youths(platform.database_url))
        assert rows == [(receipt["subject"], AGENCY, "MI7-2026-0042")]

        info = await js.stream_info(events_stream("intake"))
        assert info.state.messages == len(receipt["event_ids"]) == 2  # registered, consent recorded
        msg = await js.get_msg(events_stream("intake"), info.state.first_seq)
        event = CloudEvent.model_validate_json(msg.data)
        assert event.id == receipt["event_ids"][0] and event.subject == receipt["subject"]
        assert event.kitcausationid == "mi7-ingest-0001" and event.kitseq is not None


async def test_a_rejected_message_changes_nothing_and_says_why(platform, nc):
    js = nc.jetstream()
    bad = json.loads(register_youth(AGENCY, id="bad-1").to_json_bytes())
    del bad["data"]["birth_year"]
    wrong_type = json.loads(register_youth(AGENCY, id="bad-2").to_json_bytes())
    wrong_type["data"]["country"] = 39
    async with running(*ingest_path(platform.settings)):
        await eventually(lambda: _stream_exists(js, "KIT_INGEST"))
        before = stored_event_count(platform.database_url)
        await publish_ingest(js, AGENCY, json.dumps(bad).encode())
        await publish_ingest(js, AGENCY, json.dumps(wrong_type).encode())
        await publish_ingest(js, AGENCY, b"{not json")
        got = {r["ingest_id"]: r for r in await receipts(js, AGENCY, 3)}  # the gateway answers what it cannot route
    assert [r["status"] for r in got.values()] == ["rejected"] * 3
    assert got.pop("bad-1")["reasons"] == [{"field": "data.birth_year", "code": "missing", "message": "Field required"}]
    assert got.pop("bad-2")["reasons"][0]["field"] == "data.country"
    [(ingest_id, not_json)] = got.items()
    assert not_json["reasons"][0]["code"] == "invalid_json" and ingest_id.startswith("KIT_INGEST/")
    # only the three receipts were stored: no youth, no case reference
    # only two receipts were stored (the gateway answered the third: no service took it): no youth, no case reference
    assert stored_event_count(platform.database_url) - before == 2
    assert youths(platform.database_url) == []


async def test_resending_the_same_cloudevent_id_gives_the_same_receipt_and_no_second_effect(platform, nc):
    js = nc.jetstream()
    message = register_youth(AGENCY, id="resend-1").to_json_bytes()
    async with running(*ingest_path(platform.settings)):
        await eventually(lambda: _stream_exists(js, "KIT_INGEST"))
        await publish_ingest(js, AGENCY, message)
        await publish_ingest(js, AGENCY, message)
        first, second = await receipts(js, AGENCY, 2)
        await eventually(lambda: youths(platform.database_url))
    assert first == second and first["status"] == "accepted"
    assert len(youths(platform.database_url)) == 1


async def test_a_message_on_another_agencys_subject_is_unauthorised(platform, nc):
    js = nc.jetstream()
    async with running(*services(platform.settings, "gateway", "intake")):
        await eventually(lambda: _stream_exists(js, "KIT_INGEST"))
        await publish_ingest(js, "ngo-lugano", register_youth(AGENCY).to_json_bytes())
        [receipt] = await receipts(js, "ngo-lugano", 1)
    assert receipt["status"] == "rejected" and receipt["reasons"][0]["code"] == "agency_mismatch"


async def _stream_exists(js, name: str) -> bool:
    try:
        await js.stream_info(name)
        return True
    except Exception:
        return False


async def test_no_log_line_carries_message_content(platform, nc, caplog):
    """Rejections, dead letters and retries log ids and reasons, never what the partner sent."""
    import logging

    caplog.set_level(logging.DEBUG)
    js = nc.jetstream()
    secret = "Mario Rossi RSSMRA85T10A562S"
    bad = json.loads(register_youth(AGENCY, id="leak-1").to_json_bytes())
    bad["data"]["partner_case_ref"] = secret
    bad["data"]["full_name"] = secret
    async with running(*ingest_path(platform.settings)):
        await eventually(lambda: _stream_exists(js, "KIT_INGEST"))
        await publish_ingest(js, AGENCY, json.dumps(bad).encode())
        await publish_ingest(js, AGENCY, register_youth(AGENCY, case_ref="MI7-9").to_json_bytes())
        got = await receipts(js, AGENCY, 2)
        await eventually(lambda: youths(platform.database_url))
    assert [r["status"] for r in got] == ["rejected", "accepted"]
    assert caplog.records, "expected the services to log something"
    assert not [r for r in caplog.records if "Rossi" in r.getMessage() or "RSSMRA" in r.getMessage()]
    assert not any("MI7-9" in r.getMessage() for r in caplog.records)
