"""deploy/nats/accounts.conf on a real nats-server: a partner publishes and reads only its own."""

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import nats
import nats.errors
import psycopg
import pytest

from events.builders import register_youth
from kit import partner
from kit.embedded import free_port, nats_server_binary, wait_for_port
from kit.nats_permissions import agency_user, password_variable, service_user
from kit.streams import ensure_streams
from shared.agencies import load_register
from tests.conftest import PLATFORM
from tests.integration.harness import Service, running

pytestmark = pytest.mark.integration
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nats"
# every user of the generated file needs its password in the environment
PASSWORDS = {password_variable(service_user(s)): f"{s.name}-secret" for s in PLATFORM.services} | {
    password_variable(agency_user(a)): f"{a}-secret" for a in load_register().agencies}
PASSWORDS |= {"KIT_AGENCY_COMUNE_MILANO_M7_PASSWORD": "milano-secret", "KIT_AGENCY_NGO_LUGANO_PASSWORD": "lugano-secret"}


def as_user(settings, user: str, port: int):
    """The settings of a service that connects with its own NATS user."""
    return settings.__class__(**{**settings.__dict__, "nats_url": f"nats://{user}:{user.removeprefix('svc-')}-secret"
                                                                  f"@127.0.0.1:{port}"})


def gateway_and_intake(settings, port: int) -> list[Service]:
    return [Service("gateway", as_user(settings, "svc-gateway", port)),
            Service("intake", as_user(settings, "svc-intake", port))]


@pytest.fixture
def secured_nats(tmp_path: Path):
    port = free_port()
    shutil.copy(DEPLOY / "accounts.conf", tmp_path / "accounts.conf")
    (tmp_path / "server.conf").write_text(
        f"listen: 127.0.0.1:{port}\njetstream {{ store_dir: {tmp_path / 'js'} }}\ninclude ./accounts.conf\n")
    process = subprocess.Popen([nats_server_binary(), "-c", str(tmp_path / "server.conf")],
                               env={**os.environ, **PASSWORDS}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    yield port
    process.terminate()
    process.wait(10)


async def connect(port: int, user: str, password: str):
    return await nats.connect(f"nats://{user}:{password}@127.0.0.1:{port}", allow_reconnect=False,
                              error_cb=_ignore)


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
    service_nc = await connect(port, "svc-intake", "intake-secret")
    await ensure_streams(service_nc.jetstream(), PLATFORM)
    milano = await connect(port, "agency-comune-milano-m7", "milano-secret")
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
    audit_nc = await connect(port, "svc-audit", "audit-secret")
    lugano = await connect(port, "agency-ngo-lugano", "lugano-secret")  # another witness, to catch a forgery
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
    from kit.streams import events_stream
    from projections.rebuild import rebuild
    from tests.conftest import eventually

    port = secured_nats
    service_nc = await connect(port, "svc-intake", "intake-secret")
    await ensure_streams(service_nc.jetstream(), PLATFORM)
    milano = await connect(port, "agency-comune-milano-m7", "milano-secret")
    await partner.publish(milano.jetstream(timeout=1.0), "comune-milano-m7",
                          register_youth("comune-milano-m7").to_json_bytes())
    stream = service_nc.jetstream()
    async with running(*gateway_and_intake(platform.settings, port)):
        await eventually(lambda: _has_events(stream, events_stream("intake")), timeout=20)
    events = (await stream.stream_info(events_stream("intake"))).state.last_seq

    # given the views service's own user, when it rebuilds the views, then every event is read
    views_url = f"nats://svc-views:views-secret@127.0.0.1:{port}"
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
