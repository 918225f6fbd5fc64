"""The audit trail notices what it cannot sign yet: rows deleted before a checkpoint, whose
positions later entries then took (the log's own checks pass: dense, hashed, signed), are found
against the sources; so are entries inserted for events or reads that never happened. One youth's
check names the first bad position as the whole log's does."""

import asyncio
import uuid
from datetime import datetime, timezone

import psycopg
import pytest

from events.builders import register_youth
from kit.checkpoints import generate_signing_key, public_key_of
from kit.keys import audit_signing_key
from kit.streams import events_stream
from services.audit import log
from services.audit.checkpointing import make_checkpoint
from services.audit.completeness import check, stream_ids, verify_sources
from services.audit.verify import verify_log, verify_youth
from services.audit.wiring import append_access_log
from shared import accounts
from shared.accounts import Operator
from kit.nats_setup import prepare
from tests.conftest import PLATFORM, eventually
from tests.integration.harness import publish_ingest, running, services

pytestmark = pytest.mark.integration
AGENCY = "comune-milano-m7"


async def registered(js, n: int) -> None:
    for _ in range(n):
        await publish_ingest(js, AGENCY, register_youth(AGENCY).to_json_bytes())


def audited(url: str) -> int:
    with psycopg.connect(url) as conn:
        try:
            return conn.execute("SELECT count(*) FROM audit.log").fetchone()[0]
        except psycopg.errors.UndefinedTable:  # the audit service is starting
            return 0


async def in_stream(js) -> int:
    return (await js.stream_info(events_stream("intake"))).state.messages


async def test_rows_deleted_before_a_checkpoint_and_their_positions_reused_are_found_against_the_sources(
        platform, nc):
    await prepare(platform.nats_url, PLATFORM)
    url, js = platform.database_url, nc.jetstream()
    key = audit_signing_key(platform.settings.data_dir)
    public = public_key_of(key)

    # given a log holding every event of six registrations, the first three signed
    async with running(*services(platform.settings, "gateway", "intake", "audit")):
        await registered(js, 3)
        await eventually(lambda: audited(url) == 6, timeout=30)
        make_checkpoint(url, key)
        await registered(js, 3)
        await eventually(lambda: audited(url) == 12, timeout=30)
        # when the newest two rows (not signed yet) are deleted, and the service goes on appending
        with psycopg.connect(url) as conn, conn.transaction():
            conn.execute("DELETE FROM audit.log WHERE seq > 10")
        await registered(js, 1)
        await eventually(lambda: audited(url) == 12, timeout=30)
    # (the service signed the tree head as it stopped)

    # then the log's own checks pass (its positions were reused and signed) ...
    with psycopg.connect(url) as conn:
        assert verify_log(conn, public).ok
    # ... and the check against the sources names what is missing
    result = await asyncio.to_thread(verify_sources, url, platform.nats_url, ["intake"])
    assert (result.events, result.pending) == (14, 0)
    assert result.problem.startswith("2 integration event(s) are not in the audit log, the first "
                                     f"{events_stream('intake')} #11")


def operator_in(url: str) -> Operator:
    operator = Operator(id=str(uuid.uuid4()), username="giulia", agency=AGENCY, role="key_worker")
    with psycopg.connect(url) as conn, conn.transaction():
        accounts.create_tables(conn)
        log.create_tables(conn)
        conn.execute("INSERT INTO api.operators (id, username, agency, role, password_hash) VALUES (%s, %s, %s, %s, 'x')",
                     (operator.id, operator.username, operator.agency, operator.role))
    return operator


def reads(url: str, operator: Operator, n: int) -> None:
    with psycopg.connect(url) as conn:
        for i in range(n):
            with conn.transaction():
                accounts.log_access(conn, operator, purpose="case_management", what=f"read {i}",
                                    youth_id=str(uuid.UUID(int=i + 1)))
    append_access_log(url)


def sources_check(url: str):
    with psycopg.connect(url) as conn, conn.transaction():
        return check(conn, {})


def test_a_read_missing_from_the_audit_log_or_an_entry_for_a_read_that_never_was_is_named(database_url):
    operator = operator_in(database_url)
    reads(database_url, operator, 5)
    assert sources_check(database_url).problem is None and sources_check(database_url).reads == 5

    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute("DELETE FROM audit.log WHERE seq = 5")
    reads(database_url, operator, 1)  # the next read takes position 5
    found = sources_check(database_url)
    assert found.problem.startswith("1 read(s) of the access log are not in the audit log")

    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute("DELETE FROM api.access_log")  # the reads themselves removed: the entries now stand alone
    assert "stand for reads the access log does not hold" in sources_check(database_url).problem


def test_an_entry_for_an_event_no_stream_holds_is_named(database_url):
    with psycopg.connect(database_url) as conn, conn.transaction():
        log.create_tables(conn)
        accounts.create_tables(conn)
        log.append(conn, [log.Item(source="event:forged", kind="event", youth_id=None,
                                   recorded_at=datetime.now(timezone.utc), payload={"type": "x"})])
    assert "stand for events no stream holds, the first at position 1" in sources_check(database_url).problem


def test_one_youth_s_check_names_the_first_bad_position_as_the_whole_log_does(database_url):
    private, public = generate_signing_key()
    youth = str(uuid.uuid4())
    with psycopg.connect(database_url) as conn, conn.transaction():
        log.create_tables(conn)
        log.append(conn, [log.Item(source=f"event:{i}", kind="event", youth_id=youth if i % 2 else None,
                                   recorded_at=datetime.now(timezone.utc), payload={"n": i}) for i in range(10)])
    make_checkpoint(database_url, private)
    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute("UPDATE audit.log SET entry = overlay(entry placing 'X'::bytea from 30 for 1) WHERE seq = 4")
    with psycopg.connect(database_url) as conn:
        whole, one = verify_log(conn, public), verify_youth(conn, youth, public)
    assert (whole.ok, one.ok) == (False, False)
    assert one.position == whole.position == 4 and one.problem == whole.problem


async def test_the_stream_ids_are_every_event_of_the_stream(platform, nc):
    await prepare(platform.nats_url, PLATFORM)
    async with running(*services(platform.settings, "gateway", "intake")):
        await registered(nc.jetstream(), 2)
        await eventually(lambda: _count(nc.jetstream()), timeout=30)
    ids = await stream_ids(platform.nats_url, ["intake"])
    assert [seq for seq, _ in ids[events_stream("intake")]] == [1, 2, 3, 4]


async def _count(js) -> bool:
    return await in_stream(js) == 4
