"""The audit log on a real PostgreSQL: an untouched log verifies; every way of tampering with the
rows directly is found, at the exact position; a youth's exported bundle verifies offline with
nothing but the public key, and a modified one does not."""

import json
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from kit.checkpoints import generate_signing_key
from kit.merkle import leaf_hash
from services.audit import log
from services.audit.bundle import make_bundle, verify_bundle
from services.audit.checkpointing import latest, make_checkpoint
from services.audit.verify import prove_youth, verify_log, verify_youth

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
YOUTHS = [str(uuid.UUID(int=i + 1)) for i in range(3)]
PRIVATE, PUBLIC = generate_signing_key()


def item(i: int) -> log.Item:
    youth = YOUTHS[i % 3]
    return log.Item(source=f"event:{i}", kind="event", youth_id=youth, recorded_at=T0 + timedelta(minutes=i),
                    payload={"type": "kit.intake.contact_logged.v1", "subject": youth, "kitagency": "comune-milano-m7",
                             "time": (T0 + timedelta(minutes=i)).isoformat(), "data": {"youth_id": youth, "n": i}})


@pytest.fixture
def db(database_url):
    """50 entries, checkpoints signed at sizes 20 and 50."""
    with psycopg.connect(database_url) as conn, conn.transaction():
        log.create_tables(conn)
        log.append(conn, [item(i) for i in range(20)])
    make_checkpoint(database_url, PRIVATE)
    with psycopg.connect(database_url) as conn, conn.transaction():
        log.append(conn, [item(i) for i in range(15, 50)])  # 15..19 again: recorded once only
    make_checkpoint(database_url, PRIVATE)
    return database_url


def verify(url):
    with psycopg.connect(url) as conn:
        return verify_log(conn, PUBLIC)


def tamper(url, *statements):
    with psycopg.connect(url) as conn, conn.transaction():
        for statement, args in statements:
            conn.execute(statement, args)


def test_given_an_untouched_log_then_verification_passes_over_every_entry_and_checkpoint(db):
    report = verify(db)
    assert report.ok and (report.entries, report.checkpoints, report.unsigned) == (50, 2, 0)


def test_given_a_byte_changed_in_an_entry_then_its_position_is_reported(db):
    tamper(db, ("UPDATE audit.log SET entry = overlay(entry placing 'X'::bytea from 40 for 1) WHERE seq = 17", None))
    report = verify(db)
    assert (report.ok, report.position) == (False, 17) and "modified" in report.problem


def test_given_a_deleted_row_then_the_missing_position_is_reported(db):
    tamper(db, ("DELETE FROM audit.log WHERE seq = 23", None))
    assert (verify(db).ok, verify(db).position) == (False, 23)


def test_given_two_rows_swapped_then_the_first_of_them_is_reported(db):
    tamper(db, ("UPDATE audit.log SET seq = -1 WHERE seq = 10", None),
           ("UPDATE audit.log SET seq = 10 WHERE seq = 11", None),
           ("UPDATE audit.log SET seq = 11 WHERE seq = -1", None))
    report = verify(db)
    assert (report.ok, report.position) == (False, 10) and "10 and 11 were swapped" in report.problem


def test_given_a_row_inserted_in_the_middle_then_its_position_is_reported(db):
    forged = log.entry_bytes(25, item(999))
    tamper(db, ("UPDATE audit.log SET seq = seq + 1000 WHERE seq >= 25", None),
           ("UPDATE audit.log SET seq = seq - 999 WHERE seq >= 1025", None),
           ("INSERT INTO audit.log VALUES (25, 'event:forged', 'event', NULL, now(), %s, %s)",
            (forged, leaf_hash(forged))))
    report = verify(db)
    assert (report.ok, report.position) == (False, 25) and "inserted" in report.problem


def test_given_an_entry_rewritten_with_a_matching_hash_then_the_signed_checkpoint_exposes_it(db):
    with psycopg.connect(db) as conn:
        entry = bytes(conn.execute("SELECT entry FROM audit.log WHERE seq = 30").fetchone()[0])
    forged = entry.replace(b'"n":29', b'"n":-1')
    assert forged != entry
    tamper(db, ("UPDATE audit.log SET entry = %s, leaf_hash = %s WHERE seq = 30", (forged, leaf_hash(forged))))
    report = verify(db)
    assert not report.ok and report.position == 21 and "between 21 and 50" in report.problem


def test_given_the_last_rows_deleted_then_the_checkpoint_shows_where_the_log_was_cut(db):
    tamper(db, ("DELETE FROM audit.log WHERE seq > 47", None))
    report = verify(db)
    assert (report.ok, report.position) == (False, 48)


def test_given_a_forged_checkpoint_then_its_signature_fails(db):
    other_private, _ = generate_signing_key()
    with psycopg.connect(db) as conn:
        signed = json.dumps(conn.execute("SELECT signed FROM audit.checkpoints WHERE size = 20").fetchone()[0])
    tamper(db, ("UPDATE audit.checkpoints SET signed = jsonb_set(signed::jsonb, '{signature}', to_jsonb(%s::text))"
                " WHERE size = 20", (json.loads(signed)["signature"][::-1],)))
    report = verify(db)
    assert not report.ok and "size 20" in report.problem


def test_one_youth_verifies_against_the_latest_checkpoint_and_fails_when_one_of_its_entries_changes(db):
    with psycopg.connect(db) as conn:
        assert verify_youth(conn, YOUTHS[1], PUBLIC).ok
        assert verify_youth(conn, YOUTHS[1], PUBLIC).entries == 17
    tamper(db, ("UPDATE audit.log SET entry = overlay(entry placing 'X'::bytea from 40 for 1) WHERE seq = 2", None))
    with psycopg.connect(db) as conn:
        assert not verify_youth(conn, YOUTHS[1], PUBLIC).ok


def test_an_exported_bundle_verifies_offline_and_a_modified_one_does_not(db):
    with psycopg.connect(db) as conn:
        signed = latest(conn)
        bundle = make_bundle(YOUTHS[0], signed, prove_youth(conn, YOUTHS[0], signed))
    assert len(bundle["entries"]) == 17 and verify_bundle(json.loads(json.dumps(bundle)), PUBLIC) == []
    _, other_public = generate_signing_key()
    assert verify_bundle(bundle, other_public) == ["the checkpoint is not signed by this key"]
    changed = json.loads(json.dumps(bundle))
    import base64
    entry = base64.b64decode(changed["entries"][3]["entry"]).replace(b'"n":', b'"n":1')
    changed["entries"][3]["entry"] = base64.b64encode(entry).decode()
    assert verify_bundle(changed, PUBLIC) == [f"entry {changed['entries'][3]['seq']}: not in the signed log "
                                              "(modified, or a wrong proof)"]
    changed = json.loads(json.dumps(bundle))
    changed["checkpoint"]["checkpoint"]["size"] += 1
    assert verify_bundle(changed, PUBLIC)


def test_a_new_checkpoint_hashes_only_what_came_since_and_ignores_a_forged_saved_state(db):
    tamper(db, ("UPDATE audit.checkpoints SET frontier = array_fill(decode(repeat('ab', 32), 'hex'),"
                " ARRAY[array_length(frontier, 1)]) WHERE size = 50", None))
    with psycopg.connect(db) as conn, conn.transaction():
        log.append(conn, [item(i) for i in range(50, 60)])
    signed = make_checkpoint(db, PRIVATE)
    assert signed.checkpoint.size == 60 and verify(db).ok and verify(db).checkpoints == 3


def test_a_read_whose_transaction_ends_after_a_later_one_is_still_in_the_audit_log(database_url):
    """Given two reads whose access-log rows commit out of id order (the first transaction is still
    open when the second commits and the log is tailed), when the first commits and the log is
    tailed again, then both reads are in the audit log."""
    from services.audit.wiring import append_access_log
    from shared import accounts
    from shared.accounts import Operator

    operator = Operator(id=str(uuid.uuid4()), username="giulia", agency="comune-milano-m7", role="key_worker")
    with psycopg.connect(database_url) as conn, conn.transaction():
        accounts.create_tables(conn)
        log.create_tables(conn)
        conn.execute("INSERT INTO api.operators (id, username, agency, role, password_hash) VALUES (%s, %s, %s, %s, 'x')",
                     (operator.id, operator.username, operator.agency, operator.role))
    slow, fast = psycopg.connect(database_url), psycopg.connect(database_url)
    try:
        accounts.log_access(slow, operator, purpose="case_management", what="youth record", youth_id=YOUTHS[0])
        accounts.log_access(fast, operator, purpose="case_management", what="youth timeline", youth_id=YOUTHS[1])
        fast.commit()
        append_access_log(database_url)
        slow.commit()
        append_access_log(database_url)
    finally:
        slow.close()
        fast.close()
    with psycopg.connect(database_url) as conn:
        recorded = [log.decode(bytes(r[0]))["payload"]["what"] for r in conn.execute(
            "SELECT entry FROM audit.log WHERE kind = 'access' ORDER BY seq")]
    assert sorted(recorded) == ["youth record", "youth timeline"]
