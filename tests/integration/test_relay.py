"""The outbox relay: nothing lost, no duplicates, log order kept, one active relay per service."""

import asyncio
import contextlib
import uuid

import nats
import psycopg
import pytest

from events.envelope import CloudEvent
from kit.nats_setup import prepare
from kit.relay import OutboxRelay
from kit.store import Store
from kit.streams import events_stream
from kit.translation import translator
from events.intake import YouthRegistered
from services.intake.aggregates import YouthCase
from services.intake.store import SCHEMA, open_store
from tests.conftest import PLATFORM, eventually

SERVICE = "intake"
translate = translator(SERVICE, PLATFORM.service(SERVICE).source, PLATFORM.registry)

pytestmark = pytest.mark.integration


def make_app(url: str) -> Store:
    return open_store(url)


def save_youths(app: Store, n: int) -> list[str]:
    ids = []
    for i in range(n):
        youth_id = str(uuid.uuid4())
        app.save(YouthCase.start(uuid.UUID(youth_id), YouthRegistered(
            youth_id=youth_id, registering_agency="comune-milano-m7", partner_case_ref=f"c{i}", birth_year=2004,
            country="IT", region="IT-25"), {"agency": "comune-milano-m7", "correlation_id": f"corr-{i}"}))
        ids.append(youth_id)
    return ids


def relay_for(app, js, url, **kw) -> OutboxRelay:
    return OutboxRelay(app=app, js=js, url=url, schema=SCHEMA, name=SERVICE, events_stream=events_stream(SERVICE),
                       translate=translate, **kw)


async def stream_events(js) -> list[CloudEvent]:
    info = await js.stream_info(events_stream(SERVICE))
    return [CloudEvent.model_validate_json((await js.get_msg(events_stream(SERVICE), seq)).data)
            for seq in range(1, info.state.last_seq + 1)]


async def run_until(relay: OutboxRelay, predicate, timeout=20.0):
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await eventually(predicate, timeout)
    finally:
        stop.set()
        await task


async def test_every_committed_event_reaches_the_stream_once_in_log_order(platform, nc):
    await prepare(platform.nats_url, PLATFORM)
    app = make_app(platform.database_url)
    js = nc.jetstream()
    ids = save_youths(app, 1200)  # more than two pages
    relay = relay_for(app, js, platform.database_url, page_size=500)

    async def all_there():
        return (await js.stream_info(events_stream(SERVICE))).state.messages == 1200
    await run_until(relay, all_there)
    events = await stream_events(js)
    assert [e.subject for e in events] == ids
    seqs = [e.kitseq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 1200


async def test_a_relay_restarted_from_an_old_position_publishes_no_duplicate(platform, nc):
    await prepare(platform.nats_url, PLATFORM)
    app = make_app(platform.database_url)
    js = nc.jetstream()
    save_youths(app, 300)
    first = relay_for(app, js, platform.database_url)

    async def count():
        return (await js.stream_info(events_stream(SERVICE))).state.messages
    await run_until(first, lambda: _eq(count(), 300))
    # a crash between publishing and recording the position: the position is behind the stream
    with psycopg.connect(platform.database_url, autocommit=True) as conn:
        conn.execute("UPDATE intake.relay_position SET notification_id = 100")
    save_youths(app, 50)
    await run_until(relay_for(app, js, platform.database_url), lambda: _eq(count(), 350))
    await asyncio.sleep(0.5)
    events = await stream_events(js)
    assert len(events) == 350 and len({e.id for e in events}) == 350
    assert [e.kitseq for e in events] == sorted(e.kitseq for e in events)


async def test_only_one_relay_is_active_per_service(platform, nats_server):
    await prepare(platform.nats_url, PLATFORM)
    app_a, app_b = make_app(platform.database_url), make_app(platform.database_url)
    nc_a, nc_b = await nats.connect(nats_server.url), await nats.connect(nats_server.url)
    a = relay_for(app_a, nc_a.jetstream(), platform.database_url)
    b = relay_for(app_b, nc_b.jetstream(), platform.database_url)
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(a.run(stop_a))
    await eventually(lambda: a.is_leader)
    task_b = asyncio.create_task(b.run(stop_b))
    save_youths(app_a, 20)
    await eventually(lambda: a.published == 20)
    assert not b.is_leader and b.published == 0
    stop_a.set()  # the active relay goes away: the standby takes over
    await task_a
    await eventually(lambda: b.is_leader)
    save_youths(app_b, 5)
    await eventually(lambda: b.published == 5)
    stop_b.set()
    await task_b
    await nc_a.close()
    await nc_b.close()


async def _eq(awaitable, expected) -> bool:
    return (await awaitable) == expected


async def test_a_stray_message_on_the_events_subject_is_reported_and_the_relay_continues_after_it(platform, nc,
                                                                                                   caplog):
    # given a relay that published 300 events, and then crashed before recording its position
    await prepare(platform.nats_url, PLATFORM)
    app = make_app(platform.database_url)
    js = nc.jetstream()
    save_youths(app, 300)

    async def count():
        return (await js.stream_info(events_stream(SERVICE))).state.messages
    await run_until(relay_for(app, js, platform.database_url), lambda: _eq(count(), 300))
    with psycopg.connect(platform.database_url, autocommit=True) as conn:
        conn.execute("UPDATE intake.relay_position SET notification_id = 100")

    # when someone else's message lands on the events subject, then the service records more
    await js.publish("kit.events.intake.consent_recorded.v1", b'{"forged": true}', headers={"Nats-Msg-Id": "stray"})
    later = save_youths(app, 50)
    relay = relay_for(app, js, platform.database_url)
    await run_until(relay, lambda: _eq(count(), 351))

    # then every later event is in the stream once, in log order, after the stray; the stray is reported
    await asyncio.sleep(0.5)
    events = [e for e in (await _raw_events(js)) if e is not None]
    assert len(events) == 350 and len({e.id for e in events}) == 350
    assert [e.subject for e in events[-50:]] == later
    assert [e.kitseq for e in events] == sorted(e.kitseq for e in events)
    assert "1 message(s) after #300 this service did not publish" in caplog.text


async def test_a_forged_notification_header_does_not_make_the_relay_skip_events(platform, nc):
    await prepare(platform.nats_url, PLATFORM)
    app = make_app(platform.database_url)
    js = nc.jetstream()
    save_youths(app, 20)

    async def count():
        return (await js.stream_info(events_stream(SERVICE))).state.messages
    await run_until(relay_for(app, js, platform.database_url), lambda: _eq(count(), 20))

    # messages naming a real position (with another message id) and the service's notification
    # 1,000,000, last
    await js.publish("kit.events.intake.x.v1", b"{}", headers={"Nats-Msg-Id": "forged-1",
                                                              "Kit-Notification-Id": "20"})
    await js.publish("kit.events.intake.x.v1", b"{}", headers={"Nats-Msg-Id": "forged-2",
                                                              "Kit-Notification-Id": "1000000"})
    later = save_youths(app, 10)
    await run_until(relay_for(app, js, platform.database_url), lambda: _eq(count(), 32))
    events = [e for e in (await _raw_events(js)) if e is not None]
    assert [e.subject for e in events[-10:]] == later


async def test_the_relay_stops_at_once_when_asked_while_its_publishes_go_unanswered(platform, nats_server):
    await prepare(platform.nats_url, PLATFORM)
    app = make_app(platform.database_url)
    client = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    relay = relay_for(app, client.jetstream(), platform.database_url)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await eventually(lambda: relay.is_leader)

    nats_server.stop()  # nobody answers the publishes of the page that follows
    save_youths(app, 20)
    await asyncio.sleep(1.0)
    stop.set()
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(task, 5)
    assert asyncio.get_running_loop().time() - started < 2.0
    with contextlib.suppress(OSError):  # the server is gone
        await client.close()


async def _raw_events(js) -> list[CloudEvent | None]:
    """The events stream's messages; None for one that is not a CloudEvent (a stray)."""
    info = await js.stream_info(events_stream(SERVICE))
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        data = (await js.get_msg(events_stream(SERVICE), seq)).data
        try:
            found.append(CloudEvent.model_validate_json(data))
        except ValueError:
            found.append(None)
    return found
