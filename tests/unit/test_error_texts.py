"""What a failure leaves in a log line or a dead letter's header names what went wrong, never the
content of the message it failed on; and an event from before the contract refused NUL still
reaches the views."""

import json

import psycopg
from pydantic import BaseModel, ValidationError

from kit.consumer import safe_error
from projections.integration_event import UnreadableEvent, read_event


def test_a_database_error_is_named_by_its_sqlstate_not_its_text():
    error = psycopg.errors.UniqueViolation("duplicate key value violates unique constraint: Key (ref)=(MARIO ROSSI)")
    assert safe_error(error) == "UniqueViolation: SQLSTATE 23505"
    untranslatable = psycopg.errors.UntranslatableCharacter('unsupported Unicode escape sequence "search\\u0000me"')
    assert "search" not in safe_error(untranslatable)


def test_an_unknown_error_keeps_its_type_and_not_its_text():
    text = safe_error(ValueError("invalid literal for int() with base 10: 'RSSMRA05T10F205Z'"))
    assert text.startswith("ValueError") and "RSSMRA" not in text


def test_the_platform_s_own_and_validation_errors_keep_their_text_without_values():
    assert safe_error(UnreadableEvent("kitseq must be a positive integer")) == (
        "UnreadableEvent: kitseq must be a positive integer")
    assert safe_error(ConnectionRefusedError("[Errno 111] Connect call failed")).startswith("ConnectionRefusedError: [Errno")

    class Model(BaseModel):
        n: int

    try:
        Model(n="RSSMRA05T10F205Z")
    except ValidationError as e:
        assert "RSSMRA" not in safe_error(e) and safe_error(e).startswith("ValidationError: n:")


def test_an_event_with_nul_in_a_text_is_read_with_the_replacement_character():
    payload = json.dumps({"id": "e1", "source": "s", "type": "kit.intake.referral_requested.v1",
                          "time": "2026-01-01T00:00:00Z", "kitagency": "a", "kitclassification": "pseudonymous",
                          "kitseq": 1, "data": {"reason": "job\u0000search"}}).encode()
    assert b"\\u0000" in payload
    assert read_event(payload).data["reason"] == "job\ufffdsearch"
