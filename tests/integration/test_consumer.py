"""Durable consumers: effect and position in one transaction, redelivery without second effect,
dead-lettering after bounded retries, nothing acked before the commit."""

import json
import uuid

import psycopg
import pytest

from events.builders import envelope
from events.intake import YouthRegistered
from kit.nats_setup import prepare
from kit.streams import DLQ_STREAM, dlq_subject, event_subject, events_stream
from projections.runner import ProjectionRunner
from tests.conftest import PLATFORM, eventually
from tests.integration.harness import running

pytestmark = pytest.mark.integration
STREAM = events_stream("intake")
SUBJECT = event_subject("intake", YouthRegistered.type_name)


class Recording:
    """A projection that records what it applied, failing on demand."""

    name = "recording"
    sources = ("intake",)

    def __init__(self, fail_times: dict[int, int] | None = None, always_fail: set[int] = frozenset()):
        self.fail_times = dict(fail_times or {})
        self.always_fail = always_fail

    def create_tables(self, conn):
        conn.execute("CREATE TABLE IF NOT EXISTS views.recording (seq bigint PRIMARY KEY, youth text)")

    def apply_page(self, conn, events):
        for event in events:
            if event.kitseq in self.always_fail:
                raise RuntimeError(f"cannot apply position {event.kitseq}")
            if self.fail_times.get(event.kitseq, 0) > 0:
                self.fail_times[event.kitseq] -= 1
                raise ConnectionError("database hiccup")
            conn.execute("INSERT INTO views.recording VALUES (%s, %s)", (event.kitseq, event.subject))


def integration_event(seq: int, youth: str | None = None) -> bytes:
    youth = youth or str(uuid.uuid4())
    data = YouthRegistered(youth_id=youth, registering_agency="ngo-lugano", partner_case_ref=f"r{seq}",
                           birth_year=2003, country="CH", region="CH-TI")
    return envelope(data, agency="ngo-lugano", subject=youth, source="urn:kit:service:intake", kitseq=seq,
                    id=f"evt-{seq}").to_json_bytes()


def applied(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        try:
            return [r[0] for r in conn.execute("SELECT seq FROM views.recording ORDER BY seq")]
        except psycopg.errors.UndefinedTable:
            return []


async def publish(js, seq: int, payload: bytes | None = None, msg_id: str | None = None):
    await js.publish(SUBJECT, payload or integration_event(seq), stream=STREAM,
                     headers={"Nats-Msg-Id": msg_id or f"evt-{seq}"})


async def test_a_redelivered_event_has_no_second_effect(platform, nc):
    js = nc.jetstream()
    await prepare(platform.nats_url, PLATFORM)
    for seq in (1, 2, 3):
        await publish(js, seq)
    service = ProjectionRunner(platform.settings, PLATFORM, projections=(Recording(),))
    async with running(service):
        await eventually(lambda: applied(platform.database_url) == [1, 2, 3])
    # the durable consumer is lost and recreated: the server delivers everything again
    await js.delete_consumer(STREAM, service.consumers[0].name)
    await publish(js, 4)
    service = ProjectionRunner(platform.settings, PLATFORM, projections=(Recording(),))
    async with running(service):
        await eventually(lambda: applied(platform.database_url) == [1, 2, 3, 4])
        await eventually(lambda: service.consumers[0].processed == 4)
    assert applied(platform.database_url) == [1, 2, 3, 4]
    assert service.consumers[0].dead_lettered == 0


async def test_a_failing_effect_is_not_acked_and_is_retried_until_committed(platform, nc):
    js = nc.jetstream()
    await prepare(platform.nats_url, PLATFORM)
    for seq in (1, 2, 3):
        await publish(js, seq)
    service = ProjectionRunner(platform.settings, PLATFORM, projections=(Recording(fail_times={2: 2}),))
    async with running(service):
        await eventually(lambda: applied(platform.database_url) == [1, 2, 3])
    consumer = (await js.consumer_info(STREAM, service.consumers[0].name))
    assert consumer.num_ack_pending == 0 and consumer.num_pending == 0
    assert service.consumers[0].dead_lettered == 0


async def test_a_message_that_keeps_failing_goes_to_the_dead_letter_subject_and_the_rest_flows(platform, nc):
    js = nc.jetstream()
    await prepare(platform.nats_url, PLATFORM)
    await publish(js, 1)
    await publish(js, 2, payload=b'{"specversion": "1.0", "id": "broken"}')  # not a valid integration event
    await publish(js, 3)
    await publish(js, 4)
    service = ProjectionRunner(platform.settings, PLATFORM, projections=(Recording(always_fail={4}),))
    async with running(service):
        await eventually(lambda: service.consumers[0].dead_lettered == 2, timeout=30)
        await eventually(lambda: applied(platform.database_url) == [1, 3])
    info = await js.stream_info(DLQ_STREAM)
    assert info.state.messages == 2
    first = await js.get_msg(DLQ_STREAM, 1)
    assert first.data == b'{"specversion": "1.0", "id": "broken"}'
    assert first.headers["Kit-Consumer"] == service.consumers[0].name
    assert first.headers["Kit-Original-Sequence"] == "2"
    assert first.headers["Kit-Error"] == "UnreadableEvent: data must be an object"  # the reason, for the operator
    second = await js.get_msg(DLQ_STREAM, 2)
    assert "cannot apply position 4" in second.headers["Kit-Error"]
    # one subject per message: whether a message was set aside can be looked up
    name = service.consumers[0].name
    assert (first.subject, second.subject) == (dlq_subject(name, 2), dlq_subject(name, 4))
    assert (await js.get_last_msg(DLQ_STREAM, dlq_subject(name, 4))).seq == 2
    # the dead-lettered messages are acked: nothing is pending or redelivered forever
    consumer = await js.consumer_info(STREAM, service.consumers[0].name)
    assert consumer.num_ack_pending == 0 and consumer.num_pending == 0


async def test_dead_letter_headers_never_carry_input_values(platform, nc):
    js = nc.jetstream()
    await prepare(platform.nats_url, PLATFORM)
    document = json.loads(integration_event(1))
    document["time"] = "Mario Rossi RSSMRA85T10A562S"  # refused: not a timestamp; the reason must not quote it
    await publish(js, 1, payload=json.dumps(document).encode())
    service = ProjectionRunner(platform.settings, PLATFORM)
    async with running(service):
        await eventually(lambda: service.consumers[0].dead_lettered == 1, timeout=30)
    message = await js.get_msg(DLQ_STREAM, 1)
    assert "Rossi" not in json.dumps(dict(message.headers))


def test_redeliveries_in_any_order_are_applied_in_stream_order(database_url):
    """After a crash the server redelivers unacked messages in no particular order."""
    from kit.db import ensure_schema
    from projections.tracking import apply_in_turn, create_positions_table, stream_position

    ensure_schema(database_url, "views")
    projection = Recording()
    with psycopg.connect(database_url) as conn:
        create_positions_table(conn)
        projection.create_tables(conn)
        # 3 and 2 arrive before 1: nothing is due yet
        assert apply_in_turn(conn, projection, STREAM, [(3, integration_event(3)), (2, integration_event(2))]) == []
        assert stream_position(conn, projection, STREAM) == 0
        # a fetch holding all three in any order applies them in stream order
        batch = [(3, integration_event(3)), (1, integration_event(1)), (2, integration_event(2))]
        assert apply_in_turn(conn, projection, STREAM, batch) == [1, 2, 3]
        # 5 without 4 waits; a redelivered 2 is done without effect
        assert apply_in_turn(conn, projection, STREAM, [(5, integration_event(5)), (2, integration_event(2))]) == [2]
        conn.commit()
    assert applied(database_url) == [1, 2, 3]
