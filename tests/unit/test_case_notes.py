"""Given/when/then for case notes: the contract of `add_case_note`, its pure decision (who may add a
note, when, idempotent on the note id), the case state, and that no view keeps the text in clear."""

import pytest
from pydantic import ValidationError

from events import intake as ev
from projections.timeline import without_ciphertext
from services.intake.case import evolve
from shared.case_notes import open_note
from kit.vault import encrypt_for, new_data_key
from tests.unit.intake_given import (AFOL, CM_CONSENT, HOUR, MILANO, NOW, YOUTH, codes, open_case, rejected, then,
                                     types, uid, when, withdrawn)

NOTE = uid(800)
CT = "v1.ciphertext-under-the-youths-key"


def add_note(text="ha chiesto di essere richiamato lunedì", note_id=NOTE) -> ev.AddCaseNote:
    return ev.AddCaseNote(youth_id=YOUTH, note_id=note_id, text=text)


def noted(note_id=NOTE) -> ev.CaseNoteAdded:
    return ev.CaseNoteAdded(youth_id=YOUTH, note_id=note_id, ciphertext=CT)


# ---------------------------------------------------------------- the contract

def test_a_note_holds_up_to_2000_characters_with_newlines_and_tabs_but_no_other_control_character():
    assert add_note("riga uno\nriga\tdue").text == "riga uno\nriga\tdue"
    assert len(add_note("x" * 2000).text) == 2000
    for bad, code in (("x" * 2001, "string_too_long"), ("", "string_too_short"), ("a\x00b", "control_character"),
                      ("a\x1bb", "control_character")):
        with pytest.raises(ValidationError) as refused:
            add_note(bad)
        assert [e["type"] for e in refused.value.errors()] == [code]


def test_the_note_and_its_event_are_personal_and_the_event_carries_ciphertext_only():
    assert ev.AddCaseNote.classification == ev.CaseNoteAdded.classification == "personal"
    assert set(ev.CaseNoteAdded.model_fields) == {"youth_id", "note_id", "ciphertext"}


# ---------------------------------------------------------------- the decision

def test_given_an_open_case_when_the_key_worker_adds_a_note_then_it_is_recorded_as_ciphertext():
    outcome = when(open_case(), add_note(), identity_ciphertext=CT)
    assert outcome == [ev.CaseNoteAdded(youth_id=YOUTH, note_id=NOTE, ciphertext=CT)]
    assert NOTE in then(open_case(), outcome).note_ids


def test_given_the_note_was_added_when_it_is_sent_again_then_nothing_new_is_recorded():
    case = open_case(noted())
    assert case.note_ids == {NOTE}
    assert when(case, add_note(), identity_ciphertext="v1.another") == []
    assert types(when(case, add_note(note_id=uid(801)), identity_ciphertext=CT)) == [ev.CaseNoteAdded]


def test_given_a_note_of_spaces_only_then_empty():
    assert rejected(when(open_case(), add_note(" \n\t "), identity_ciphertext=CT)) == [("data.text", "empty")]


def test_given_the_youths_key_destroyed_when_a_note_comes_then_erased():
    """The handler could not encrypt: no ciphertext (the erasure event may not be recorded yet)."""
    assert rejected(when(open_case(), add_note())) == [("data.youth_id", "erased")]


def test_given_an_erased_youth_then_erased():
    erased = ev.YouthErased(youth_id=YOUTH, erased_at=NOW, by_agency=MILANO, legal_reason="art. 17",
                            keys_destroyed=[YOUTH])
    assert codes(when(open_case(erased), add_note(), role="key_worker", identity_ciphertext=CT)) == ["erased"]


def test_given_a_closed_case_when_a_note_comes_then_it_is_still_recorded():
    closed = ev.CaseClosed(youth_id=YOUTH, destination="employment", exited_on=NOW.date(), follow_ups=[])
    assert types(when(open_case(closed), add_note(), identity_ciphertext=CT)) == [ev.CaseNoteAdded]


@pytest.mark.parametrize("role", ["auditor", "observatory_analyst"])
def test_given_a_role_without_case_write_then_forbidden(role):
    assert rejected(when(open_case(), add_note(), role=role, identity_ciphertext=CT)) == [("", "forbidden")]


@pytest.mark.parametrize("role", ["key_worker", "link_worker", "employment_specialist", "supervisor", "operator",
                                  "agency_admin", "partner_system"])
def test_given_a_role_with_case_write_then_recorded(role):
    assert types(when(open_case(), add_note(), role=role, identity_ciphertext=CT)) == [ev.CaseNoteAdded]


def test_given_an_agency_that_may_not_see_the_youth_then_the_youth_is_unknown_or_without_consent():
    assert rejected(when(open_case(), add_note(), agency=AFOL, identity_ciphertext=CT)) == [
        ("data.youth_id", "unknown_youth")]
    lost = open_case(withdrawn(CM_CONSENT, NOW - HOUR))
    assert rejected(when(lost, add_note(), identity_ciphertext=CT)) == [("data.youth_id", "no_consent")]


def test_given_a_restricted_or_merged_record_then_refused():
    restricted = ev.ProcessingRestricted(youth_id=YOUTH, restricted_at=NOW, by_agency=MILANO, legal_reason="art. 18")
    assert codes(when(open_case(restricted), add_note(), identity_ciphertext=CT)) == ["restricted"]
    merged = ev.YouthMerged(youth_id=YOUTH, merged_into=uid(2), reason="same person", by_agency=MILANO)
    assert codes(when(open_case(merged), add_note(), identity_ciphertext=CT)) == ["merged"]


# ---------------------------------------------------------------- state and views

def test_the_case_state_keeps_the_note_ids_only():
    case = evolve(open_case(), noted(), NOW)
    assert case.note_ids == {NOTE}
    assert "ciphertext" not in repr(case)


def test_the_timeline_shows_a_notes_ciphertext_as_vault():
    assert without_ciphertext(noted().model_dump(mode="json"))["ciphertext"] == "[vault]"


def test_a_note_opens_with_the_youths_key_only_and_not_at_all_once_erased():
    key = new_data_key()
    ciphertext = encrypt_for(key, YOUTH, "richiamare lunedì".encode())
    assert open_note(key, YOUTH, ciphertext) == "richiamare lunedì"
    assert open_note(key, uid(2), ciphertext) is None  # copied onto another youth: does not open
    assert open_note(new_data_key(), YOUTH, ciphertext) is None
    assert open_note(None, YOUTH, ciphertext) is None  # key destroyed
    assert open_note(key, YOUTH, None) is None  # purged by the view
