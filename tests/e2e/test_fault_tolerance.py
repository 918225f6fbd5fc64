"""SIGKILL the gateway, the intake service (its consumer and its relay) and the views service again
and again while partners publish at a steady rate; afterwards every message was applied once, the
commands about one youth in the order they were published, every event is in the projection once,
and each service was back at its full rate within seconds of its restart (measured here).

"Full rate" is a rate the service keeps up at: it works through at least as many messages a second
as the partners publish (or, on a machine so busy that it could not even before the kill, as many
as it did then). How long the backlog then takes to drain depends on how much faster than
that this machine lets it go (on a loaded 2-core CI runner, a little; alone, a lot), so that figure
is printed, not asserted; a service that came back crawling (the bug this test was written for:
50-95 messages/s after a kill, for minutes) fails the assertion."""

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from events import intake as ev
from events.builders import command, register_youth
from events.envelope import CloudEvent
from kit.nats_setup import prepare
from kit.streams import COMMANDS_STREAM, INGEST_STREAM, events_stream
from tests.conftest import PLATFORM, eventually
from tests.integration.harness import receipts

pytestmark = pytest.mark.e2e
AGENCY = "ngo-lugano"
RATE = 200  # messages per second, steady, as an outside tester published them
REGISTRATIONS = 4000
HANDLES, CONTACTS = 50, 20  # outreach contacts: a nickname's contacts must be applied in publish order
KILLS = 9  # three of each service, in turn
RECOVERY_LIMIT_S = 10.0
T0 = datetime.now(timezone.utc) - timedelta(days=10)


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


def messages() -> list[bytes]:
    """Registrations, and each nickname's outreach contacts in their order, interleaved at random."""
    rng = random.Random(11)
    contacts = [[command(ev.RecordOutreachContact, sender=AGENCY, id=f"contact-{h:02d}-{i:02d}", handle=f"nick-{h:02d}",
                         place_type="street", territory=ev.Territory(country="CH", municipality="Lugano", canton="CH-TI"),
                         channel="in_person", outcome="first_contact" if i == 0 else "conversation",
                         occurred_at=T0 + timedelta(minutes=i)).to_json_bytes() for i in range(CONTACTS)]
                for h in range(HANDLES)]
    registrations = [register_youth(AGENCY, case_ref=f"fault-{i:05d}", id=f"fault-{i:05d}").to_json_bytes()
                     for i in range(REGISTRATIONS)]
    order = [None] * REGISTRATIONS + [h for h in range(HANDLES) for _ in range(CONTACTS)]
    rng.shuffle(order)
    taken = defaultdict(int)
    out = []
    for h in order:
        if h is None:
            out.append(registrations.pop())
        else:
            out.append(contacts[h][taken[h]])
            taken[h] += 1
    return out


class Backlog:
    """How much work waits for each service and how far it has got, sampled every 100 ms: the
    pending messages of its durable consumers (delivered and not acked, or not delivered yet), and
    the stream sequence below which it has acked everything (each stream here carries only that
    consumer's subjects, so the sequence counts its messages)."""

    CONSUMERS = {"gateway": [(INGEST_STREAM, "gateway-ingest")], "intake": [(COMMANDS_STREAM, "intake-commands")],
                 "views": [(events_stream("intake"), "views-intake")]}

    def __init__(self, js):
        self.js = js
        self.samples: dict[str, list[tuple[float, int, int]]] = defaultdict(list)

    async def sample(self, service: str) -> tuple[int, int] | None:
        pending = done = 0
        for stream, name in self.CONSUMERS[service]:
            try:
                info = await self.js.consumer_info(stream, name)
            except Exception:  # noqa: BLE001 - not created yet
                return None
            pending += info.num_pending + info.num_ack_pending
            done += info.ack_floor.stream_seq if info.ack_floor else 0
        return pending, done

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for service in self.CONSUMERS:
                value = await self.sample(service)
                if value is not None:
                    self.samples[service].append((time.monotonic(), *value))
            await asyncio.sleep(0.1)

    def rate_before(self, service: str, killed_at: float) -> float:
        """The rate to get back to: the partners' rate, or, on a machine too busy for the service to
        keep up with it even before the kill, the rate it had in the two seconds before the kill."""
        window = [(t, d) for t, _, d in self.samples[service] if killed_at - 2.0 <= t <= killed_at]
        if len(window) < 2 or window[-1][0] - window[0][0] < 1.0:
            return RATE
        return min(RATE, (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0]))

    def recovery(self, service: str, killed_at: float, restarted_at: float,
                 until: float) -> tuple[int, float, float]:
        """After one kill: (the backlog that piled up; seconds from the restart until the service
        works through messages at its full rate (`rate_before`) over a one-second window; seconds until the
        backlog is worked off, back to what it was before the kill give or take a quarter of a
        second of traffic). Only samples before `until` (the service's next kill) count."""
        series = [s for s in self.samples[service] if s[0] < until]
        before = max([v for t, v, _ in series if killed_at - 1.0 <= t <= killed_at] or [0])
        after = [(t, v, done) for t, v, done in series if t >= restarted_at]
        peak = max([v for _, v, _ in after] or [0])
        full_rate = drained = float("inf")
        for t, _, done in after:
            window = [d for s, _, d in after if t - 1.0 <= s <= t]
            if t >= restarted_at + 1.0 and done - window[0] >= self.rate_before(service, killed_at):
                full_rate = t - restarted_at
                break
        for t, v, _ in after:
            if t > restarted_at + 0.5 and v <= before + RATE // 4:
                drained = t - restarted_at
                break
        return peak, full_rate, drained


async def test_kills_lose_nothing_duplicate_nothing_keep_each_youths_order_and_cost_seconds(platform, nc, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIT_")}
    env.update(KIT_NATS_URL=platform.nats_url, KIT_DATABASE_URL=platform.database_url,
               KIT_DATA_DIR=str(tmp_path / "data"), KIT_ACK_WAIT="2")
    await prepare(platform.nats_url, PLATFORM)
    services = {name: Service(name, env, tmp_path / f"{name}.log") for name in ("gateway", "intake", "views")}
    js = nc.jetstream()
    rng = random.Random(7)
    for service in services.values():
        service.start()
    backlog = Backlog(js)
    sampling = asyncio.Event()
    sampler = asyncio.create_task(backlog.run(sampling))
    recoveries: list[tuple[str, float, float]] = []
    wire = messages()

    published_until = []

    async def publish_all():
        started = time.monotonic()
        for i, message in enumerate(wire):
            delay = started + i / RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await js.publish(f"kit.ingest.{AGENCY}", message, stream="KIT_INGEST")
        published_until.append(time.monotonic())

    async def keep_killing():
        await asyncio.sleep(2)  # let every service reach its steady rate first
        for round_ in range(KILLS):  # within the publishing (25 s): each kill meets traffic
            victim = services[("gateway", "intake", "views")[round_ % 3]]
            killed_at = time.monotonic()
            victim.kill()
            await asyncio.sleep(rng.uniform(1.0, 1.5))  # down for a moment: work piles up
            victim.start()
            recoveries.append((victim.name, killed_at, time.monotonic()))
            await asyncio.sleep(rng.uniform(0.8, 1.2))

    try:
        await asyncio.gather(publish_all(), keep_killing())

        async def everything_projected():
            return len(projected(platform.database_url)) >= REGISTRATIONS
        await eventually(everything_projected, timeout=120, interval=0.5)
        await asyncio.sleep(3)  # let any straggling redelivery arrive
        rows = projected(platform.database_url)
    finally:
        sampling.set()
        await sampler
        for service in services.values():
            service.stop()

    assert [s.kills for s in services.values()] == [KILLS // 3] * 3
    # every registration once in the view
    assert len(rows) == REGISTRATIONS
    assert {ref for ref, _ in rows} == {f"fault-{i:05d}" for i in range(REGISTRATIONS)}
    # the integration stream holds each event once, in the intake log's order
    info = await js.stream_info(events_stream("intake"))
    events = [CloudEvent.model_validate_json((await js.get_msg(events_stream("intake"), seq)).data)
              for seq in range(1, info.state.last_seq + 1)]
    assert len(events) == 2 * REGISTRATIONS + HANDLES * CONTACTS  # registered + consent; one per contact
    assert [e.kitseq for e in events] == sorted(e.kitseq for e in events) and len({e.id for e in events}) == len(events)
    # per youth (here: per nickname's engagement history), in the order the partner published them
    contacts = defaultdict(list)
    for e in events:
        if e.type == ev.OutreachContactRecorded.type_name:
            contacts[e.subject].append(datetime.fromisoformat(e.data["occurred_at"]))
    assert len(contacts) == HANDLES
    assert all(times == sorted(times) and len(times) == CONTACTS for times in contacts.values())
    with psycopg.connect(platform.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM views.consents").fetchone()[0] == REGISTRATIONS
    # every partner message got an accepted receipt (a redelivered one may be answered twice)
    expected = {f"fault-{i:05d}" for i in range(REGISTRATIONS)} | {
        f"contact-{h:02d}-{i:02d}" for h in range(HANDLES) for i in range(CONTACTS)}
    got = await receipts(js, AGENCY, 10 * len(expected), timeout=120,
                         until=lambda found: {r["ingest_id"] for r in found} >= expected)
    assert {r["ingest_id"] for r in got} == expected
    assert all(r["status"] == "accepted" for r in got)
    # a crash costs seconds: each service works off its backlog soon after its restart
    def next_kill(i: int) -> float:
        return next((k for name, k, _ in recoveries[i + 1:] if name == recoveries[i][0]), float("inf"))
    measured = [(name, *backlog.recovery(name, killed, restarted, until=next_kill(i)))
                for i, (name, killed, restarted) in enumerate(recoveries)
                if restarted < published_until[0] - 1.0]  # traffic still came while it was down
    print("after each kill: (service, backlog piled up, seconds from the restart to full rate, to work it off):",
          [(name, peak, round(rate, 1), round(drained, 1)) for name, peak, rate, drained in measured])
    assert len(measured) >= KILLS - 1
    assert all(peak >= RATE // 2 for _, peak, _, _ in measured), "each kill should leave work to catch up on"
    assert all(rate <= RECOVERY_LIMIT_S for _, _, rate, _ in measured), measured
