"""SIGKILL the relay (the intake service) and a consumer (the views service) again and again while
5,000 events flow; afterwards every event is in the projection exactly once, in log order."""

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from events.builders import register_youth
from events.envelope import CloudEvent
from kit.nats_setup import prepare
from kit.streams import events_stream
from tests.conftest import eventually
from tests.integration.harness import receipts

pytestmark = pytest.mark.e2e
EVENTS = 5000
AGENCY = "ngo-lugano"


class Service:
    def __init__(self, name: str, env: dict, log: Path):
        self.name, self.env, self.log = name, env, log
        self.proc: subprocess.Popen | None = None
        self.kills = 0

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "run", self.name], env=self.env,
                                     stdout=open(self.log, "a"), stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def projected(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        try:
            return conn.execute("SELECT partner_case_ref, source_seq FROM views.youths").fetchall()
        except psycopg.errors.UndefinedTable:
            return []


async def diagnostics(js, url: str) -> str:
    lines = [f"projected: {len(projected(url))}"]
    for stream in ("KIT_INGEST", events_stream("intake")):
        info = await js.stream_info(stream)
        lines.append(f"{stream}: {info.state.messages} messages, last seq {info.state.last_seq}")
        for c in await js.consumers_info(stream):
            lines.append(f"  {c.name}: pending {c.num_pending}, ack pending {c.num_ack_pending}, "
                         f"redelivered {c.num_redelivered}, delivered {c.delivered.stream_seq}")
    info = await js.stream_info(events_stream("intake"))
    events = [CloudEvent.model_validate_json((await js.get_msg(events_stream("intake"), q)).data)
              for q in range(1, info.state.last_seq + 1)]
    inversions = [(a.kitseq, b.kitseq) for a, b in zip(events, events[1:]) if b.kitseq <= a.kitseq]
    seen = {ref for ref, _ in projected(url)}
    missing = [(e.kitseq, e.data["partner_case_ref"]) for e in events if e.data["partner_case_ref"] not in seen]
    lines.append(f"inversions in the stream: {inversions[:10]}; missing from the view: {missing[:10]}")
    return "\n".join(lines)


async def test_kills_lose_nothing_and_duplicate_nothing(platform, nc, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIT_")}
    env.update(KIT_NATS_URL=platform.nats_url, KIT_DATABASE_URL=platform.database_url,
               KIT_DATA_DIR=str(tmp_path / "data"), KIT_ACK_WAIT="2")
    await prepare(platform.nats_url)
    intake = Service("intake", env, tmp_path / "intake.log")
    views = Service("views", env, tmp_path / "views.log")
    js = nc.jetstream()
    rng = random.Random(7)
    intake.start()
    views.start()

    async def publish_all():
        for i in range(EVENTS):
            await js.publish(f"kit.ingest.{AGENCY}",
                             register_youth(AGENCY, case_ref=f"fault-{i:05d}", id=f"fault-{i:05d}").to_json_bytes(),
                             stream="KIT_INGEST")
            if i % 250 == 0:
                await asyncio.sleep(0.05)  # a steady flow rather than one burst

    async def keep_killing():
        for round_ in range(8):
            await asyncio.sleep(rng.uniform(0.4, 1.2))
            victim = intake if round_ % 2 == 0 else views
            victim.kill()
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            victim.start()

    try:
        await asyncio.gather(publish_all(), keep_killing())

        async def everything_projected():
            return len(projected(platform.database_url)) >= EVENTS
        try:
            await eventually(everything_projected, timeout=60, interval=0.5)
        except AssertionError:
            raise AssertionError(await diagnostics(js, platform.database_url)) from None
        await asyncio.sleep(3)  # let any straggling redelivery arrive
        rows = projected(platform.database_url)
    finally:
        intake.stop()
        views.stop()

    assert intake.kills == 4 and views.kills == 4
    assert len(rows) == EVENTS
    assert {ref for ref, _ in rows} == {f"fault-{i:05d}" for i in range(EVENTS)}
    # the integration stream holds each event once, in the intake log's order
    info = await js.stream_info(events_stream("intake"))
    assert info.state.messages == 2 * EVENTS  # each registration: youth registered + consent recorded
    seqs = []
    for seq in range(1, info.state.last_seq + 1):
        seqs.append(CloudEvent.model_validate_json((await js.get_msg(events_stream("intake"), seq)).data).kitseq)
    assert seqs == sorted(seqs) and len(set(seqs)) == 2 * EVENTS
    assert {s for _, s in rows} <= set(seqs)  # the projection applied those positions
    with psycopg.connect(platform.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM views.consents").fetchone()[0] == EVENTS
    # and every partner message got an accepted receipt
    # (a redelivered message is answered again: receipts are at-least-once, keyed by ingest_id)
    expected_ids = {f"fault-{i:05d}" for i in range(EVENTS)}
    got = await receipts(js, AGENCY, 10 * EVENTS, timeout=120,
                         until=lambda found: len(found) >= EVENTS and {r["ingest_id"] for r in found} >= expected_ids)
    assert {r["ingest_id"] for r in got} == expected_ids
    assert all(r["status"] == "accepted" for r in got)
