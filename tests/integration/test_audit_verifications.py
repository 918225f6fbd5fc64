"""A whole verification of the audit log is recorded with when and by whom, and the auditor's page
shows the latest: an edited entry shows there, at its position, from the next verification on."""

from datetime import datetime, timezone

import psycopg
import pytest

from kit.keys import audit_signing_key
from kit.checkpoints import public_key_of
from services.audit import log, verify
from services.audit.checkpointing import make_checkpoint

pytestmark = pytest.mark.integration


def test_each_verification_is_recorded_and_the_latest_is_what_the_page_shows(tmp_path, database_url):
    key = audit_signing_key(tmp_path, {})
    with psycopg.connect(database_url) as conn:
        log.create_tables(conn)
        conn.commit()
        assert verify.last_verification(conn) is None  # no table yet: nothing verified, nothing broken
        conn.rollback()
        verify.create_verifications_table(conn)
        log.append(conn, [log.Item(source=f"s{i}", kind="event", youth_id=None, recorded_at=datetime.now(timezone.utc),
                                   payload={"n": i}) for i in range(30)])
        conn.commit()
    assert make_checkpoint(database_url, key) is not None
    with psycopg.connect(database_url) as conn:
        # given a log that verifies, when the service verifies it
        assert verify.verify_and_record(conn, public_key_of(key), "audit service").ok
        conn.commit()
        first = verify.last_verification(conn)
        assert (first["ok"], first["entries"], first["checkpoints"], first["by"]) == (True, 30, 1, "audit service")
        # when an entry is edited and an auditor verifies again
        conn.execute("UPDATE audit.log SET entry = overlay(entry placing 'Z'::bytea from 20 for 1) WHERE seq = 12")
        assert not verify.verify_and_record(conn, public_key_of(key), "anna").ok
        conn.commit()
        latest = verify.last_verification(conn)
    # then the page shows the broken log, where, and who found it
    assert (latest["ok"], latest["first_bad_position"], latest["by"]) == (False, 12, "anna")
    assert latest["at"] >= first["at"]
