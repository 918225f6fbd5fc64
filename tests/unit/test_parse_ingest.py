"""Partner messages: a clear, actionable reason for every way a message can be wrong."""

import json

import pytest

from events.builders import EXAMPLE_DATA, example, register_youth
from events.intake import RegisterYouth
from kit.runtime import ingest_id_of, parse_command
from tests.conftest import PLATFORM

AGENCY = "comune-milano-m7"
INTAKE_COMMANDS = {m.type_name: m for m in PLATFORM.service("intake").commands}


def parse_ingest(agency: str, data: bytes):
    return parse_command(agency, data, INTAKE_COMMANDS)


def raw(**changes) -> bytes:
    document = json.loads(example(RegisterYouth.type_name).to_json_bytes())
    for key, value in changes.items():
        if value is None:
            document.pop(key)
        else:
            document[key] = value
    return json.dumps(document).encode()


def raw_data(**changes) -> bytes:
    document = json.loads(raw())
    for key, value in changes.items():
        if value is None:
            document["data"].pop(key)
        else:
            document["data"][key] = value
    return json.dumps(document).encode()


def reasons(data: bytes, agency: str = AGENCY):
    outcome = parse_ingest(agency, data)
    assert isinstance(outcome, list), "expected a rejection"
    return [(r.field, r.code) for r in outcome]


def test_the_checked_in_example_is_accepted():
    envelope, command = parse_ingest(AGENCY, raw())
    assert envelope.type == RegisterYouth.type_name
    assert command == EXAMPLE_DATA[RegisterYouth.type_name]
    assert command.partner_case_ref == "MI7-2026-0042" and command.consents[0].purpose == "case_management"


def test_not_json_is_rejected():
    assert reasons(b"\xff not json") == [("", "invalid_json")]
    assert reasons(b"[1, 2]") == [("", "invalid_cloudevent")]


def test_a_missing_envelope_attribute_names_the_attribute():
    assert reasons(raw(specversion=None)) == [("specversion", "missing")]
    assert reasons(raw(kitcorrelationid=None)) == [("kitcorrelationid", "missing")]


def test_an_unknown_envelope_attribute_is_rejected():
    assert reasons(raw(nickname="Luca")) == [("", "extra_forbidden")]  # the key is not repeated: it may be a name


def test_a_missing_or_mistyped_data_field_names_the_field():
    assert reasons(raw_data(birth_year=None)) == [("data.birth_year", "missing")]
    assert reasons(raw_data(birth_year="two thousand")) == [("data.birth_year", "int_parsing")]
    assert reasons(raw_data(country="FR")) == [("data.country", "literal_error")]


def test_personal_data_in_the_payload_is_refused_not_stored():
    assert reasons(raw_data(full_name="Mario Rossi")) == [("data", "extra_forbidden")]
    outcome = parse_ingest(AGENCY, raw_data(**{"RSSMRA85T10A562S": "Mario Rossi"}))
    assert "RSSMRA" not in json.dumps([r.model_dump() for r in outcome])


def test_the_reasons_never_echo_the_input_value():
    outcome = parse_ingest(AGENCY, raw_data(partner_case_ref="RSSMRA85T10A562S Mario Rossi"))
    assert isinstance(outcome, list)
    text = json.dumps([r.model_dump() for r in outcome])
    assert "Rossi" not in text and "RSSMRA" not in text


def test_an_agency_publishing_for_another_agency_is_rejected():
    assert reasons(raw(), agency="ngo-lugano") == [("kitagency", "agency_mismatch")]
    [mismatch] = parse_ingest("ngo-lugano", raw())
    assert AGENCY not in mismatch.message  # what was sent is not repeated; the agency publishing is


def test_an_event_type_partners_may_not_send_is_rejected():
    assert reasons(raw(type="kit.intake.youth_registered.v1")) == [("type", "unknown_type")]
    assert reasons(raw(type="kit.intake.register_youth.v9")) == [("type", "unknown_type")]


def test_the_receipt_key_is_the_cloudevent_id_or_the_stream_sequence():
    assert ingest_id_of(register_youth(id="abc-1").to_json_bytes(), 7) == "abc-1"
    assert ingest_id_of(b"garbage", 7, "KIT_INGEST") == "KIT_INGEST/7"
    assert ingest_id_of(b'{"id": 5}', 8) == "KIT_COMMANDS/8"
    assert ingest_id_of(b'{"id": "\\ud800"}', 9) == "KIT_COMMANDS/9"  # not a valid id: not a key


def test_no_valid_id_is_the_key_of_another_message():
    # given an unreadable message keyed by its sequence, when a valid message uses that text as
    # its id, then the two keys differ (the fallback holds a character no valid id has)
    fallback = ingest_id_of(b"garbage", 7, "KIT_INGEST")
    assert ingest_id_of(register_youth(id="nats-seq-7").to_json_bytes(), 7, "KIT_INGEST") == "nats-seq-7"
    assert ingest_id_of(json.dumps({"id": fallback}).encode(), 8, "KIT_INGEST") == "KIT_INGEST/8"
    assert ingest_id_of(json.dumps({"id": "an id with spaces"}).encode(), 9, "KIT_INGEST") == "KIT_INGEST/9"


def test_a_platform_command_is_not_one_partners_may_send():
    assert reasons(raw(type="kit.intake.flag_lost_contact.v1")) == [("type", "unknown_type")]
    assert reasons(raw(type="kit.intake.apply_retention.v1")) == [("type", "unknown_type")]


def example_of(type_name: str, **data_changes) -> bytes:
    document = json.loads(example(type_name).to_json_bytes())
    document["data"].update(data_changes)
    return json.dumps(document).encode()


def test_a_date_the_store_cannot_hold_is_refused_by_the_contract():
    # 9999-12-31T23:59:59-14:00 is year 10000 in UTC: stored, it made every read of the youth fail
    consent = json.loads(raw())["data"]["consents"][0] | {"expires_at": "9999-12-31T23:59:59-14:00"}
    assert reasons(raw_data(consents=[consent])) == [("data.consents.0.expires_at", "date_out_of_range")]
    early = json.loads(raw())["data"]["consents"][0] | {"given_at": "1899-12-31T23:00:00+00:00"}
    assert reasons(raw_data(consents=[early])) == [("data.consents.0.given_at", "date_out_of_range")]
    assert reasons(example_of("kit.intake.close_case.v1", exited_on="2200-01-01")) == [
        ("data.exited_on", "date_out_of_range")]
    assert reasons(raw(time="2200-01-01T00:00:00Z")) == [("time", "date_out_of_range")]


@pytest.mark.parametrize("text", ["job\x00search", "job\x1bsearch", "job\x7fsearch"])
def test_a_text_with_a_control_character_is_refused_and_not_echoed(text):
    outcome = parse_ingest(AGENCY, example_of("kit.intake.request_referral.v1", reason=text))
    assert [(r.field, r.code) for r in outcome] == [("data.reason", "control_character")]
    assert "search" not in outcome[0].message
    goals = json.loads(example("kit.intake.agree_project_of_life.v1").to_json_bytes())["data"]["goals"]
    goals[0]["description"] = text
    assert reasons(example_of("kit.intake.agree_project_of_life.v1", goals=goals)) == [
        ("data.goals.0.description", "control_character")]
    assert reasons(raw(source=f"urn:{text}")) == [("source", "control_character")]


def test_tab_and_newline_are_text():
    envelope, command = parse_ingest(AGENCY, example_of("kit.intake.request_referral.v1", reason="line one\n\tline two"))
    assert command.reason == "line one\n\tline two"
