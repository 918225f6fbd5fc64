"""deploy/nats/accounts.conf on a real nats-server (as `kit up` runs it, `kit.embedded`): a partner
publishes and reads only its own, no user reads another's replies, only the owning service
publishes its events and receipts, and no agency can make another's message a duplicate."""

import asyncio
import json
from pathlib import Path

import nats
import nats.errors
import psycopg
import pytest

from events.builders import register_youth
from kit import partner
from kit.embedded import EmbeddedNats, free_port
from kit.nats_auth import ADMIN_USER, connect as connect_as
from kit.nats_permissions import users_of
from kit.streams import ensure_streams, events_stream
from shared.agencies import load_register
from tests.conftest import PLATFORM, eventually
from tests.integration.harness import Service, receipts as all_receipts, running

pytestmark = pytest.mark.integration
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nats"
USERS = users_of(PLATFORM, load_register().agencies)  # every user of the file needs its password
REFUSED = (nats.errors.TimeoutError, nats.errors.NoRespondersError, asyncio.TimeoutError)


def password(user: str) -> str:
    return f"{user}-secret"


def url_of(user: str, port: int) -> str:
    return f"nats://{user}:{password(user)}@127.0.0.1:{port}"


def as_user(settings, user: str, port: int):
    """The settings of a service that connects with its own NATS user."""
    return settings.__class__(**{**settings.__dict__, "nats_url": url_of(user, port)})


def gateway_and_intake(settings, port: int) -> list[Service]:
    return [Service("gateway", as_user(settings, "svc-gateway", port)),
            Service("intake", as_user(settings, "svc-intake", port))]


@pytest.fixture
def secured_nats(tmp_path: Path):
    server = EmbeddedNats(tmp_path / "nats", free_port(), accounts=(DEPLOY / "accounts.conf").read_text(),
                          passwords={user: password(user) for user in USERS}).start()
    yield server.port
    server.stop()


async def connect(port: int, user: str, password_: str | None = None):
    """A client of `user`, replies under its own prefix (as every platform client connects)."""
    url = f"nats://{user}:{password_ or password(user)}@127.0.0.1:{port}"
    return await connect_as(url, allow_reconnect=False, error_cb=_ignore)


async def delivered(publisher, subscription, data: bytes, attempts: int = 25) -> bool:
    for _ in range(attempts):
        await publisher.publish("kit.audit.checkpoints", data)
        try:
            while (await subscription.next_msg(timeout=0.2)).data != data:
                pass
            return True
        except nats.errors.TimeoutError:
            continue
    return False


async def everything(subscription, seconds: float) -> list[bytes]:
    got = []
    try:
        while True:
            got.append((await subscription.next_msg(timeout=seconds)).data)
    except nats.errors.TimeoutError:
        return got


async def _ignore(error):  # permission violations arrive here too; the test checks their effect
    pass


async def test_a_partner_publishes_and_reads_only_its_own_subjects(secured_nats, platform):
    port = secured_nats
    service_nc = await connect(port, "svc-intake")
    await ensure_streams(service_nc.jetstream(), PLATFORM)
    milano = await connect(port, "agency-comune-milano-m7")
    js = milano.jetstream(timeout=1.0)

    ack = await partner.publish(js, "comune-milano-m7", register_youth("comune-milano-m7").to_json_bytes())
    assert ack.stream == "KIT_INGEST"
    with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError, asyncio.TimeoutError)):
        await partner.publish(js, "ngo-lugano", register_youth("ngo-lugano").to_json_bytes())
    assert (await service_nc.jetstream().stream_info("KIT_INGEST")).state.messages == 1

    async with running(*gateway_and_intake(platform.settings, port)):
        receipts = []
        for _ in range(50):
            receipts += await partner.read_receipts(js, "comune-milano-m7", timeout=0.5)
            if receipts:
                break
    assert [r["status"] for r in receipts] == ["accepted"]

    # another agency's receipts: the server drops the consumer request (a permission violation gets
    # no reply), while the same call for its own receipts above was answered at once
    with pytest.raises(nats.errors.TimeoutError):
        await partner.read_receipts(js, "ngo-lugano", timeout=0.5)

    # partners may keep the audit log's signed checkpoints (witnesses), and publish none
    audit_nc = await connect(port, "svc-audit")
    lugano = await connect(port, "agency-ngo-lugano")  # another witness, to catch a forgery
    witnessed = await milano.subscribe("kit.audit.checkpoints")
    other_witness = await lugano.subscribe("kit.audit.checkpoints")
    await milano.flush()
    await lugano.flush()
    # with accounts, a new subscription's interest can reach the publisher's side a moment after
    # its SUB was answered (seen: ~1 in 20 core messages lost): publish until it is seen
    assert await delivered(audit_nc, witnessed, b'{"checkpoint": "..."}')
    assert await delivered(audit_nc, other_witness, b'{"checkpoint": "..."}')
    await milano.publish("kit.audit.checkpoints", b"forged")
    await milano.flush()
    await audit_nc.publish("kit.audit.checkpoints", b"after the forgery")  # arrives: the witness still listens
    heard = await everything(other_witness, seconds=1.0)
    assert b"after the forgery" in heard and b"forged" not in heard
    await lugano.close()
    await audit_nc.close()
    await milano.close()
    await service_nc.close()


async def test_the_views_service_user_rebuilds_the_views_and_a_wrong_password_gets_a_clear_refusal(secured_nats,
                                                                                                   platform):
    from kit.page_reader import PageReader, PageReaderError
    from projections.rebuild import rebuild

    port = secured_nats
    service_nc = await connect(port, "svc-intake")
    await ensure_streams(service_nc.jetstream(), PLATFORM)
    milano = await connect(port, "agency-comune-milano-m7")
    await partner.publish(milano.jetstream(timeout=1.0), "comune-milano-m7",
                          register_youth("comune-milano-m7").to_json_bytes())
    stream = service_nc.jetstream()
    async with running(*gateway_and_intake(platform.settings, port)):
        await eventually(lambda: _has_events(stream, events_stream("intake")), timeout=20)
    events = (await stream.stream_info(events_stream("intake"))).state.last_seq

    # given the views service's own user, when it rebuilds the views, then every event is read
    views_url = url_of("svc-views", port)
    projections = list(PLATFORM.projections)
    result = await asyncio.to_thread(rebuild, platform.database_url, views_url, projections,
                                     {p.name: [s.name for s in PLATFORM.sources_of(p)] for p in projections})
    assert (result["events"], result["skipped"]) == (events, 0)
    with psycopg.connect(platform.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM views.youths").fetchone()[0] == 1

    with pytest.raises(PageReaderError, match="NATS refused the connection: .*Authorization Violation"):
        await PageReader.connect(f"nats://svc-views:wrong@127.0.0.1:{port}", name="kit-test")
    await milano.close()
    await service_nc.close()


async def _has_events(js, stream: str) -> bool:
    return (await js.stream_info(stream)).state.last_seq >= 2  # the registration and its consent


async def test_no_user_reads_the_replies_of_another(secured_nats, platform):
    # given a partner that listens on every reply space it can name
    port = secured_nats
    admin = await connect(port, ADMIN_USER)
    await ensure_streams(admin.jetstream(), PLATFORM)
    refusals = []

    async def refused(error):
        refusals.append(str(error))

    lugano = await connect_as(url_of("agency-ngo-lugano", port), allow_reconnect=False, error_cb=refused)
    snooped = []

    async def snoop(msg):
        snooped.append(msg.subject)

    for space in ("_INBOX.>", "_INBOX_agency-comune-milano-m7.>", "_INBOX_svc-gateway.>", "_INBOX_svc-intake.>"):
        await lugano.subscribe(space, cb=snoop)
    await lugano.flush()

    # when another agency registers a youth and reads its receipt while the services work
    milano = await connect(port, "agency-comune-milano-m7")
    js = milano.jetstream(timeout=2.0)
    await partner.publish(js, "comune-milano-m7", register_youth("comune-milano-m7").to_json_bytes())
    async with running(*gateway_and_intake(platform.settings, port)):
        got = []
        for _ in range(50):
            got += await partner.read_receipts(js, "comune-milano-m7", timeout=0.5)
            if got:
                break
    assert [r["status"] for r in got] == ["accepted"]

    # then the snooper heard none of it: each subscription was refused, by name
    await asyncio.sleep(0.5)
    assert snooped == []
    assert sum("permissions violation for subscription" in r for r in refusals) == 4, refusals
    for nc in (lugano, milano, admin):
        await nc.close()


async def test_only_the_owning_service_publishes_its_events_and_its_receipts(secured_nats):
    port = secured_nats
    admin = await connect(port, ADMIN_USER)
    await ensure_streams(admin.jetstream(), PLATFORM)
    api = await connect(port, "svc-api")  # the HTTP API believes the receipts it hears
    heard = await api.subscribe("kit.receipts.>")
    await api.flush()
    forged_event = json.dumps({"type": "kit.intake.consent_recorded.v1", "data": {}}).encode()
    forged_receipt = json.dumps({"ingest_id": "x", "agency": "comune-milano-m7", "status": "accepted"}).encode()

    # a partner, and services that own neither, publishing intake's events or anybody's receipts
    for user in ("agency-ngo-lugano", "svc-gateway", "svc-views", "svc-api", "svc-audit"):
        nc = await connect(port, user)
        with pytest.raises(REFUSED):
            await nc.jetstream(timeout=0.5).publish("kit.events.intake.consent_recorded.v1", forged_event)
        if user != "svc-gateway":  # the gateway answers what it cannot route
            with pytest.raises(REFUSED):
                await nc.jetstream(timeout=0.5).publish("kit.receipts.comune-milano-m7", forged_receipt)
        await nc.close()

    js = admin.jetstream()
    assert (await js.stream_info(events_stream("intake"))).state.messages == 0
    assert (await js.stream_info("KIT_RECEIPTS")).state.messages == 0
    with pytest.raises(nats.errors.TimeoutError):
        await heard.next_msg(timeout=0.5)

    # while the owner may (the refusals above are the permissions, not a broken server)
    intake = await connect(port, "svc-intake")
    await intake.jetstream(timeout=2.0).publish("kit.events.intake.consent_recorded.v1", forged_event)
    assert (await js.stream_info(events_stream("intake"))).state.messages == 1
    for nc in (intake, api, admin):
        await nc.close()


async def test_no_agency_makes_another_agencys_message_a_duplicate(secured_nats, platform):
    port = secured_nats
    admin = await connect(port, ADMIN_USER)
    await ensure_streams(admin.jetstream(), PLATFORM)
    genuine = register_youth("comune-milano-m7", id="mi7-ingest-0042")
    naive = register_youth("comune-milano-m7", id="mi7-ingest-0043")

    # given another agency that published, ahead, messages with the ids milano will use (its
    # CloudEvent id, and the Nats-Msg-Id a naive client derives from it)
    lugano = await connect(port, "agency-ngo-lugano")
    for decoy in (genuine, naive):
        await lugano.jetstream(timeout=2.0).publish(
            "kit.ingest.ngo-lugano", register_youth("ngo-lugano", id=decoy.id).to_json_bytes(),
            headers={"Nats-Msg-Id": f"comune-milano-m7:{decoy.id}"})
    await asyncio.sleep(0.3)  # a decoy published ahead, not in the same instant

    # when milano publishes its own, with the helper and with a naive client
    milano = await connect(port, "agency-comune-milano-m7")
    js = milano.jetstream(timeout=2.0)
    acks = [await partner.publish(js, "comune-milano-m7", genuine.to_json_bytes()),
            await js.publish("kit.ingest.comune-milano-m7", naive.to_json_bytes(),
                             headers={"Nats-Msg-Id": f"comune-milano-m7:{naive.id}"})]

    # then both are kept and both accepted as milano's own
    assert [bool(a.duplicate) for a in acks] == [False, False]
    async with running(*gateway_and_intake(platform.settings, port)):
        got = await all_receipts(admin.jetstream(), "comune-milano-m7", 2, timeout=20)
        theirs = await all_receipts(admin.jetstream(), "ngo-lugano", 2, timeout=20)
    assert sorted((r["ingest_id"], r["status"]) for r in got) == [("mi7-ingest-0042", "accepted"),
                                                                   ("mi7-ingest-0043", "accepted")]
    assert [r["status"] for r in theirs] == ["accepted", "accepted"]
    assert {r["subject"] for r in got}.isdisjoint({r["subject"] for r in theirs})
    for nc in (lugano, milano, admin):
        await nc.close()
