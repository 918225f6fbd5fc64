"""The timeline view, and rebuilding the views from the integration stream (stopped, and live), on real servers."""

import asyncio
import json
import logging
import os
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import sql

from events import intake as ev
from events.builders import command, example, register_youth
from events.envelope import CloudEvent
from entrypoints import cli
from kit.keys import ingest_private_key, ingest_public_key
from kit.streams import DLQ_STREAM, events_stream
from kit.vault import seal
from projections.integration_event import read_event
from projections.rebuild import RebuildError, _paused
from projections.rebuild import rebuild as rebuild_from
from projections.tracking import consumer_name
from projections.timeline import Timeline
from tests.conftest import PLATFORM, eventually
from tests.integration.harness import publish_ingest, receipts, ingest_path, running, services

pytestmark = pytest.mark.integration
AGENCY = "comune-milano-m7"
STREAM = events_stream("intake")
TERRITORY = ev.Territory(country="IT", municipality="Milano", district="Municipio 7")
IDENTITY = {"given_names": "Mario", "family_name": "Rossi", "birth_date": "2005-03-10"}
OUTREACH = ev.OutreachContactRecorded.type_name
PROJECTIONS = PLATFORM.projections


def rebuild(db_url: str, nats_url: str, projections, page: int = 5000, progress=None) -> dict:
    """`kit projections rebuild`: each projection from the streams of the services it reads."""
    sources = {p.name: [s.name for s in PLATFORM.sources_of(p)] for p in projections}
    return rebuild_from(db_url, nats_url, projections, sources, page=page, progress=progress)


# ---------------------------------------------------------------- helpers

async def stream_ready(js) -> bool:
    try:
        await js.stream_info("KIT_INGEST")
        return True
    except Exception:
        return False


async def views_consumer_ready(js) -> bool:
    try:
        await js.consumer_info(STREAM, consumer_name("views", "intake"))
        return True
    except Exception:
        return False


async def send(js, messages: list[CloudEvent], sent: list[str]) -> dict[str, dict]:
    """Publish ingest messages and wait for their receipts (all accepted); `sent` keeps every id so far."""
    for message in messages:
        await publish_ingest(js, AGENCY, message.to_json_bytes())
        sent.append(message.id)
    got = await receipts(js, AGENCY, len(sent), timeout=30)
    by_id = {r["ingest_id"]: r for r in got}
    for message in messages:
        assert by_id[message.id]["status"] == "accepted", by_id[message.id]
    return {m.id: by_id[m.id] for m in messages}


def outreach(handle: str, outcome: str, at: datetime) -> CloudEvent:
    return command(ev.RecordOutreachContact, sender=AGENCY, handle=handle, place_type="street", territory=TERRITORY,
                   channel="in_person", outcome=outcome, occurred_at=at)


def assess(youth: str) -> CloudEvent:
    return command(ev.AssessYouth, sender=AGENCY, youth_id=youth, neet_status="neet", education_level="upper_secondary",
                   vulnerabilities=ev.Vulnerabilities(socio_economic=True, psycho_social=True),
                   family_context="with_parents", lead_agency=AGENCY, key_worker="giulia")


def contact(youth: str, at: datetime | None = None) -> CloudEvent:
    return command(ev.LogContact, sender=AGENCY, youth_id=youth, contact_id=str(uuid.uuid4()), contact_type="meeting",
                   channel="in_person", outcome="reached", occurred_at=at or datetime.now(timezone.utc))


async def stream_events(js) -> list[CloudEvent]:
    info = await js.stream_info(STREAM)
    return [CloudEvent.model_validate_json((await js.get_msg(STREAM, seq)).data)
            for seq in range(info.state.first_seq, info.state.last_seq + 1)]


def positions(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        try:
            return dict(conn.execute("SELECT projection, position FROM views.positions WHERE stream = %s",
                                     (STREAM,)).fetchall())
        except psycopg.errors.UndefinedTable:
            return {}


async def caught_up(js, database_url: str) -> bool:
    last = (await js.stream_info(STREAM)).state.last_seq
    at = positions(database_url)
    return all(at.get(p.name) == last for p in PROJECTIONS)


def snapshot(database_url: str) -> dict[str, list[str]]:
    """Every table of the views schema, rows sorted; not the directory's writer token (which
    process wrote it last is bookkeeping, not view content)."""
    with psycopg.connect(database_url) as conn:
        tables = [t for (t,) in conn.execute("SELECT table_name FROM information_schema.tables"
                                             " WHERE table_schema = 'views' AND table_name <> 'directory_writer'"
                                             " ORDER BY table_name")]
        return {t: sorted(map(repr, conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier("views", t)))))
                for t in tables}


def timeline(database_url: str, youth_id: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT event_id::text, type, classification, stream_seq, data FROM views.timeline"
                            " WHERE youth_id = %s ORDER BY at, stream_seq", (youth_id,)).fetchall()


def concerns(event: CloudEvent, *ids: str) -> bool:
    return (event.data.get("youth_id") or event.subject) in ids


def in_order(events: list[CloudEvent]) -> list[str]:
    return [e.id for e in sorted(events, key=lambda e: (e.time, e.kitseq))]


async def journey(js, platform, sent: list[str]) -> dict[str, str]:
    """Two outreach contacts under a handle, a registration linking them, assessment, contacts;
    and a second youth registered, assessed and erased."""
    public = ingest_public_key(ingest_private_key(platform.settings.data_dir))
    now = datetime.now(timezone.utc)
    first = outreach("Skater 7", "first_contact", now - timedelta(days=20))
    [r1, r2] = (await send(js, [first, outreach("Skater 7", "hooked", now - timedelta(days=3))], sent)).values()
    assert r1["subject"] == r2["subject"]
    registration = register_youth(AGENCY, engagement_handle="Skater 7",
                                  sealed_identity=seal(public, json.dumps(IDENTITY).encode()))
    youth = (await send(js, [registration], sent))[registration.id]["subject"]
    await send(js, [assess(youth), contact(youth)], sent)

    other = register_youth(AGENCY, sealed_identity=seal(public, json.dumps({**IDENTITY, "given_names": "Luca"}).encode()))
    erased = (await send(js, [other], sent))[other.id]["subject"]
    await send(js, [assess(erased), contact(erased)], sent)
    await send(js, [command(ev.EraseYouth, sender=AGENCY, youth_id=erased, mode="erasure",
                            legal_reason="Art. 17 request of the data subject", role="agency_admin")], sent)
    return {"engagement": r1["subject"], "youth": youth, "erased": erased}


async def registrations(js, sent: list[str], n: int) -> None:
    for i in range(0, n, 20):
        youths = [register_youth(AGENCY) for _ in range(min(20, n - i))]
        got = await send(js, youths, sent)
        await send(js, [contact(got[y.id]["subject"]) for y in youths], sent)


async def keep_sending(js, sent: list[str], stop: asyncio.Event) -> int:
    """Register youths (and log a contact with each), five at a time, until `stop`; returns how many."""
    n = 0
    while not stop.is_set():
        await registrations(js, sent, 5)
        n += 5
    return n


# ---------------------------------------------------------------- the timeline

async def test_the_timeline_follows_a_youth_from_the_first_outreach_contact(platform, nc):
    js = nc.jetstream()
    sent: list[str] = []
    async with running(*ingest_path(platform.settings)):
        await eventually(lambda: stream_ready(js))
        ids = await journey(js, platform, sent)
        await eventually(lambda: caught_up(js, platform.database_url), timeout=20)
    events = await stream_events(js)
    youth, engagement, erased = ids["youth"], ids["engagement"], ids["erased"]

    # one row per event of the youth, in order, from the first outreach contact (re-homed from the engagement)
    rows = timeline(platform.database_url, youth)
    expected = [e for e in events if concerns(e, youth, engagement)]
    assert [r[0] for r in rows] == in_order(expected)
    assert [r[1] for r in rows[:2]] == [OUTREACH, OUTREACH]
    assert {ev.YouthRegistered.type_name, ev.EngagementLinked.type_name, ev.IdentityRecorded.type_name,
            ev.ConsentRecorded.type_name, ev.YouthAssessed.type_name, ev.VulnerabilitiesAssessed.type_name,
            ev.CaseOpened.type_name, ev.ContactLogged.type_name} <= {r[1] for r in rows}
    assert timeline(platform.database_url, engagement) == []
    by_id = {e.id: e for e in events}
    assert all(r[2] == by_id[r[0]].kitclassification and r[3] == by_id[r[0]].kitseq for r in rows)
    identity_row = next(r for r in rows if r[1] == ev.IdentityRecorded.type_name)
    assert identity_row[4]["ciphertext"] == "[vault]" and identity_row[4]["youth_id"] == youth
    assert all(r[4]["handle_ciphertext"] == "[vault]" for r in rows if r[1] == OUTREACH)

    # every event is on someone's timeline; no ciphertext in the view
    with psycopg.connect(platform.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM views.timeline").fetchone()[0] == len(events)
        stored = conn.execute("SELECT string_agg(data::text, '') FROM views.timeline").fetchone()[0]
    secrets = [e.data[k] for e in events for k in ("ciphertext", "handle_ciphertext") if e.data.get(k)]
    assert len(secrets) >= 4 and not [s for s in secrets if s in stored]

    # erasure: the personal and special-category rows of the erased youth are emptied, the rows kept
    erased_rows = timeline(platform.database_url, erased)
    assert [r[0] for r in erased_rows] == in_order([e for e in events if concerns(e, erased)])
    purged = [r for r in erased_rows if r[2] in ("personal", "special-category")]
    assert {r[1] for r in purged} == {ev.IdentityRecorded.type_name, ev.VulnerabilitiesAssessed.type_name}
    assert all(r[4] == {} for r in purged)
    assert all(r[4] for r in erased_rows if r not in purged)
    assert next(r for r in rows if r[2] == "special-category")[4]["vulnerabilities"]["psycho_social"] is True

    # idempotent: applying every event again changes nothing
    before = snapshot(platform.database_url)
    with psycopg.connect(platform.database_url) as conn, conn.transaction():
        Timeline().apply_page(conn, [read_event(event.to_json_bytes()) for event in events])
    assert snapshot(platform.database_url) == before


# ---------------------------------------------------------------- rebuilding

async def test_a_rebuild_gives_back_the_same_views_whether_the_views_service_is_stopped_or_live(platform, nc, monkeypatch,
                                                                                               caplog):
    caplog.set_level(logging.INFO, logger="kit.consumer")
    js = nc.jetstream()
    sent: list[str] = []
    async with running(*ingest_path(platform.settings)):
        await eventually(lambda: stream_ready(js))
        await journey(js, platform, sent)
        await registrations(js, sent, 60)
        await eventually(lambda: caught_up(js, platform.database_url), timeout=20)

    # stopped: drop and replay every projection; every views table comes back the same
    before = snapshot(platform.database_url)
    assert {"youths", "youth_agencies", "consents", "vault", "timeline", "positions"} <= set(before)
    assert all(before[t] for t in ("youths", "consents", "vault", "timeline"))
    last = (await js.stream_info(STREAM)).state.last_seq
    seen: list[tuple[int, int, int]] = []

    def progress(done: int, total: int) -> None:  # the views were emptied, then refilled page by page
        with psycopg.connect(platform.database_url) as conn:
            seen.append((done, total, conn.execute("SELECT count(*) FROM views.timeline").fetchone()[0]))

    result = await asyncio.to_thread(rebuild, platform.database_url, platform.nats_url, list(PROJECTIONS), 50,
                                     progress)
    assert result["events"] == last and result["events_per_s"] > 0
    assert [(d, t) for d, t, _ in seen] == [(min(n, last), last) for n in range(50, last + 50, 50)]
    # reported pages are committed by every projection (the timeline may be a few pages ahead)
    assert all(rows >= done for done, _, rows in seen) and seen[-1][2] == last  # every event is on a timeline
    assert snapshot(platform.database_url) == before

    # live: rebuilds in small pages while the views service runs and partners keep sending; once
    # with the live consumers paused (as rebuild does), once relying on the positions alone
    for paused in (True, False):
        if not paused:
            monkeypatch.setattr(_paused, "renew", lambda self, force=False: asyncio.sleep(0))
        caplog.clear()
        async with running(*ingest_path(platform.settings)):
            await eventually(lambda: stream_ready(js))
            await eventually(lambda: caught_up(js, platform.database_url), timeout=20)
            stop = asyncio.Event()
            traffic = asyncio.create_task(keep_sending(js, sent, stop))
            await eventually(lambda: positions(platform.database_url)["timeline"] > last + 10)  # live is applying
            live = await asyncio.to_thread(rebuild, platform.database_url, platform.nats_url, list(PROJECTIONS), 5)
            stop.set()
            registered = await traffic
            assert live["events"] > last and registered >= 10
            await eventually(lambda: caught_up(js, platform.database_url), timeout=20)
            for projection in PROJECTIONS:
                info = await js.consumer_info(STREAM, consumer_name("views", "intake"))
                assert not info.paused
        if not paused:  # the live consumers did meet the rebuild's positions
            assert any("not yet due; handed back" in r.getMessage() for r in caplog.records)
        assert (await js.stream_info(DLQ_STREAM)).state.messages == 0  # nothing skipped
        after_live = snapshot(platform.database_url)
        assert len(after_live["youths"]) == len(before["youths"]) + registered

        await asyncio.to_thread(rebuild, platform.database_url, platform.nats_url, list(PROJECTIONS))
        assert snapshot(platform.database_url) == after_live
        before, last = after_live, (await js.stream_info(STREAM)).state.last_seq


async def test_only_one_rebuild_of_a_projection_at_a_time(platform, nc):
    from projections.rebuild import RebuildInProgress, lock_key

    with psycopg.connect(platform.database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key("timeline"),))
        with pytest.raises(RebuildInProgress):
            await asyncio.to_thread(rebuild, platform.database_url, platform.nats_url, [Timeline()])


async def test_a_message_the_live_service_dead_lettered_is_skipped_by_the_rebuild_too(platform, nc, monkeypatch, capsys):
    js = nc.jetstream()
    registered, assessed = (example(t).model_copy(update={"id": str(uuid.uuid4())})
                            for t in (ev.YouthRegistered.type_name, ev.YouthAssessed.type_name))
    async with running(*services(platform.settings, "views")):
        await eventually(lambda: views_consumer_ready(js))  # the stream it publishes on, and the live consumer
        await js.publish("kit.events.intake.youth_registered.v1", registered.to_json_bytes(), stream=STREAM)
        await js.publish("kit.events.intake.youth_registered.v1", b'{"specversion": "1.0"}', stream=STREAM)
        await js.publish("kit.events.intake.youth_assessed.v1", assessed.to_json_bytes(), stream=STREAM)
        await eventually(lambda: caught_up(js, platform.database_url), timeout=20)
    assert (await js.stream_info(DLQ_STREAM)).state.messages == 1  # one consumer reads the stream for both views
    before = snapshot(platform.database_url)
    assert len(before["timeline"]) == 2 and len(before["youths"]) == 1

    result = await asyncio.to_thread(rebuild, platform.database_url, platform.nats_url, list(PROJECTIONS))
    assert (result["events"], result["skipped"]) == (3, 1)
    assert snapshot(platform.database_url) == before

    # the same from the command line: a progress bar on stderr, the summary on stdout
    monkeypatch.setenv("KIT_NATS_URL", platform.nats_url)
    monkeypatch.setenv("KIT_DATABASE_URL", platform.database_url)
    capsys.readouterr()
    assert await asyncio.to_thread(cli.main, ["projections", "rebuild", "timeline"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"projections": ["timeline"], "events": 3, "skipped": 1,
                               "seconds": json.loads(out)["seconds"], "events_per_s": json.loads(out)["events_per_s"]}
    assert f"\r[{'#' * 30}] 3/3 events" in err
    assert snapshot(platform.database_url) == before
    assert await asyncio.to_thread(cli.main, ["projections", "rebuild", "nope"]) == 2


class DiesOnItsFirstPage:
    """A projection whose worker process dies without a word (killed, out of memory)."""

    name = "dies_on_its_first_page"
    sources = ("intake",)

    def create_tables(self, conn) -> None:
        pass

    def reset(self, conn) -> None:
        pass

    def apply_page(self, conn, events) -> None:
        os._exit(9)


async def test_a_worker_that_dies_stops_the_rebuild_with_the_reason_instead_of_hanging(platform, nc):
    js = nc.jetstream()
    registered = example(ev.YouthRegistered.type_name).model_copy(update={"id": str(uuid.uuid4())})
    async with running(*services(platform.settings, "views")):
        await eventually(lambda: views_consumer_ready(js))  # the stream it publishes on, and the live consumer
        await js.publish("kit.events.intake.youth_registered.v1", registered.to_json_bytes(), stream=STREAM)
    with pytest.raises(RebuildError, match="dies_on_its_first_page worker ended early"):
        await asyncio.wait_for(asyncio.to_thread(rebuild, platform.database_url, platform.nats_url,
                                                 [Timeline(), DiesOnItsFirstPage()]), 60)
    for projection in PROJECTIONS:  # the live consumers are not left paused
        assert not (await js.consumer_info(STREAM, consumer_name("views", "intake"))).paused
