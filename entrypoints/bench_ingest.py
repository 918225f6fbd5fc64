"""`kit bench ingest`: partners' commands -> what an operator sees, on the whole platform as `kit up`
runs it (fresh embedded servers in a temporary directory), with a same-run baseline.

The load is what partners send: registrations with a sealed identity (a valid codice fiscale, so
the vault opens, checks and re-encrypts it) and a consent, contacts logged, consents recorded,
contact cadences set on youths registered before, and outreach contacts under nicknames.

- baseline_eventstore_events_per_s: eventsourcing's `save()` of the same aggregates and events the
  intake service saves for that load (the youth's history, the index entries, one receipt per
  command), in transactions of the runtime's batch size (100 commands), on the same PostgreSQL;
- platform_messages_per_s / platform_events_per_s: the load published at once, until every command
  is answered and every event is in the views an operator reads (read-your-writes' projections);
- latency_ms at `--rate` (500) and latency_low_load_ms at 50 messages/s: publish -> what an operator
  sees (the receipt arrived and both views applied its events), per command;
- peak_rss_mb: every process of the platform and both servers, summed, at its peak;
- cpu_s: where the time goes during the throughput run, per process (user + system seconds);
- nats_ack_cost: what JetStream's write-to-disk-before-acknowledging (`sync_interval: always`, as
  `kit up` and deploy/nats/cluster.conf run it) costs, measured on a fresh server each way with
  the same messages: acks one at a time (latency) and a window of async publishes (throughput).
  The platform run above syncs.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psutil
import psycopg

from entrypoints.catalogue import platform
from entrypoints.demo import codice_fiscale
from events import intake as ev
from events.builders import consent, envelope
from kit.config import load_settings
from kit.db import ensure_schema, eventsourcing_env
from kit.embedded import EmbeddedNats, EmbeddedPostgres, free_port, wait_for_port
from kit.keys import ingest_private_key, ingest_public_key
from kit.nats_auth import connect
from kit.nats_setup import prepare
from kit.relay import EVENTS_SEQ_HEADER
from kit.store import Receipt, Store
from kit.streams import events_stream
from kit.vault import seal
from services.intake.aggregates import CaseReference, EngagementHistory, PersonKey, YouthCase
from shared.pseudonyms import engagement_id

AGENCY = "comune-milano-m7"
BATCH = 100  # the intake runtime's largest batch (its consumer fetches up to 100 commands)
MIX = {"register_youth": 30, "log_contact": 35, "record_consent": 10, "set_contact_cadence": 10,
       "record_outreach_contact": 15}
LOW_RATE = 50
GIVEN = ("Giulia", "Marco", "Sara", "Luca", "Chiara", "Matteo", "Elena", "Davide", "Aisha", "Omar")
FAMILY = ("Rossi", "Bianchi", "Colombo", "Ferrari", "Esposito", "Ricci", "Marino", "Greco", "Bruno", "Galli")
SETTLE_SECONDS = 3


# ---------------------------------------------------------------- the load

@dataclass
class Load:
    """Deterministic partner messages of the mix; sealing is done ahead (it is the partner's work)."""

    public_key: str
    rng: random.Random = field(default_factory=lambda: random.Random(26))
    n: int = 0
    people: int = 0

    def _id(self) -> str:
        self.n += 1
        return f"bench-{self.n:07d}"

    def identity(self) -> ev.Identity:
        self.people += 1  # a birth date of their own: no two share a codice fiscale (a second one would match)
        given, family = GIVEN[self.people % len(GIVEN)], FAMILY[self.people // len(GIVEN) % len(FAMILY)]
        birth = date(1998, 1, 1) + timedelta(days=self.people * 37 % 3650)
        sex = self.rng.choice(("female", "male"))
        return ev.Identity(given_names=given, family_name=family, birth_date=birth, sex=sex, municipality="Milano",
                           region="IT-25", country="IT", phone=f"+39 3{self.rng.randrange(10**8, 10**9)}",
                           national_id_scheme="IT-CF", national_id=codice_fiscale(given, family, birth, sex, "F205"))

    def registration(self) -> bytes:
        ident = self.identity()
        sealed = seal(self.public_key, ident.model_dump_json(exclude_none=True).encode())
        data = ev.RegisterYouth(partner_case_ref=f"case-{uuid.uuid4().hex[:16]}", birth_year=ident.birth_date.year,
                                country="IT", region="IT-25", sealed_identity=sealed, consents=[consent()])
        return envelope(data, agency=AGENCY, id=self._id()).to_json_bytes()

    def command(self, kind: str, youth_id: str) -> bytes:
        now = datetime.now(timezone.utc) - timedelta(minutes=5)
        if kind == "log_contact":
            data: Any = ev.LogContact(youth_id=youth_id, contact_id=str(uuid.uuid4()), contact_type="meeting",
                                      channel="in_person", outcome="reached", occurred_at=now)
        elif kind == "record_consent":
            data = ev.RecordConsent(youth_id=youth_id, consent=consent("sharing", recipient="afol-milano"))
        elif kind == "set_contact_cadence":
            data = ev.SetContactCadence(youth_id=youth_id, every_days=self.rng.choice((7, 14, 21)))
        elif kind == "record_outreach_contact":
            data = ev.RecordOutreachContact(handle=f"nick-{self.rng.randrange(10**6)}", place_type="street",
                                            territory=ev.Territory(country="IT", municipality="Milano"),
                                            channel="in_person", outcome="first_contact", occurred_at=now)
        else:
            raise ValueError(kind)
        return envelope(data, agency=AGENCY, id=self._id()).to_json_bytes()

    def kinds(self, n: int) -> list[str]:
        return self.rng.choices(list(MIX), weights=list(MIX.values()), k=n)

    def messages(self, kinds: list[str], youths: list[str]) -> list[bytes]:
        return [self.registration() if kind == "register_youth" else self.command(kind, self.rng.choice(youths))
                for kind in kinds]


# ---------------------------------------------------------------- the baseline

def _sample_ciphertext(size: int = 420) -> str:
    return "v1." + "A" * size  # the vault's ciphertext of an identity is about this long


def baseline_eventstore(url: str, kinds: list[str], warm: int) -> dict[str, Any]:
    """eventsourcing alone saving what intake saves for these commands: per command its events on
    the youth's history (started for a registration: registered, identity, consent), the index
    entries, and its receipt; `BATCH` commands per transaction. Youths to record on are created
    first (untimed), as the platform's warm-up registers them."""
    ensure_schema(url, "bench")
    store = Store("intake", env=eventsourcing_env(url, "bench"))
    receipt = json.loads(json.dumps({"ingest_id": "x" * 20, "agency": AGENCY, "status": "accepted",
                                     "event_ids": [str(uuid.uuid4())] * 3, "subject": str(uuid.uuid4()),
                                     "reasons": [], "notices": [], "recorded_at": "2026-12-01T10:00:00+00:00"}))
    meta = {"agency": AGENCY, "actor": None, "role": "partner_system", "ingest_id": "x" * 20,
            "correlation_id": "x" * 20, "causation_id": "x" * 20}
    n = 0

    def register() -> list[Any]:
        nonlocal n
        n += 1
        youth = str(uuid.uuid4())
        case = YouthCase.start(uuid.UUID(youth), ev.YouthRegistered(
            youth_id=youth, registering_agency=AGENCY, partner_case_ref=f"c-{n}", birth_year=2004, country="IT",
            region="IT-25"), meta)
        case.record(ev.IdentityRecorded(youth_id=youth, person_id=youth, ciphertext=_sample_ciphertext()), meta)
        case.record(ev.ConsentRecorded(youth_id=youth, consent=consent(), recorded_by=AGENCY), meta)
        return [case, CaseReference(agency=AGENCY, case_ref=f"c-{n}", youth_id=youth),
                PersonKey(pseudonym=uuid.uuid4().hex * 2, youth_id=youth)]

    youths: list[YouthCase] = []
    for i in range(0, warm, BATCH):
        batch = [a for _ in range(min(BATCH, warm - i)) for a in register()]
        store.save(*batch)
        youths += [a for a in batch if isinstance(a, YouthCase)]
    rng = random.Random(7)
    events = 0
    started = time.perf_counter()
    for i in range(0, len(kinds), BATCH):
        batch: list[Any] = []
        for kind in kinds[i:i + BATCH]:
            n += 1
            if kind == "register_youth":
                batch += register()
                events += 3
            elif kind == "record_outreach_contact":
                handle = str(uuid.uuid4())
                batch.append(EngagementHistory.start(engagement_id(b"k" * 32, AGENCY, handle), ev.OutreachContactRecorded(
                    engagement_id=str(uuid.uuid4()), agency=AGENCY, handle_ciphertext=_sample_ciphertext(40),
                    place_type="street", territory=ev.Territory(country="IT", municipality="Milano"),
                    channel="in_person", outcome="first_contact", occurred_at=datetime.now(timezone.utc)), meta))
                events += 1
            else:
                youth = rng.choice(youths)
                youth_id = str(youth.id)
                if kind == "log_contact":
                    youth.record(ev.ContactLogged(youth_id=youth_id, contact_id=str(uuid.uuid4()), agency=AGENCY,
                                                  contact_type="meeting", channel="in_person", outcome="reached",
                                                  occurred_at=datetime.now(timezone.utc), related_person_ids=[]), meta)
                elif kind == "record_consent":
                    youth.record(ev.ConsentRecorded(youth_id=youth_id, recorded_by=AGENCY,
                                                    consent=consent("sharing", recipient="afol-milano")), meta)
                else:
                    youth.record(ev.ContactCadenceSet(youth_id=youth_id, every_days=14, lost_after_days=30), meta)
                batch.append(youth)
                events += 1
            batch.append(Receipt(agency=AGENCY, ingest_id=f"r-{n}", receipt=receipt))
        store.save(*{id(a): a for a in batch}.values())  # a youth touched twice in a batch: saved once, as the runtime does
    elapsed = time.perf_counter() - started
    store.close()
    return {"events": events, "seconds": round(elapsed, 2), "events_per_s": round(events / elapsed)}


# ---------------------------------------------------------------- watching the platform

class Watch:
    """Receipts as they come (with the events stream sequence they reached), and how far the views an
    operator reads are, polled every 2 ms in a thread of its own."""

    def __init__(self, db_url: str, projections: tuple[str, ...]):
        self.db_url = db_url
        self.projections = list(projections)
        self.receipts: dict[str, tuple[float, dict, int | None]] = {}
        self.views: list[tuple[float, int]] = []  # (time, the least position of the views)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    async def on_receipt(self, msg) -> None:
        receipt = json.loads(msg.data)
        seq = (msg.headers or {}).get(EVENTS_SEQ_HEADER)
        self.receipts.setdefault(receipt["ingest_id"], (time.perf_counter(), receipt, int(seq) if seq else None))

    def _poll(self) -> None:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            while not self.stop.is_set():
                row = conn.execute("SELECT count(*), min(position) FROM views.positions WHERE stream = %s"
                                   " AND projection = ANY(%s)", (events_stream("intake"), self.projections)).fetchone()
                if row[0] == len(self.projections):
                    self.views.append((time.perf_counter(), row[1]))
                time.sleep(0.002)

    def position(self) -> int:
        return self.views[-1][1] if self.views else 0

    def visible_at(self, ingest_id: str) -> float | None:
        """When the command's outcome was what an operator sees: answered, and its events in the views."""
        if ingest_id not in self.receipts:
            return None
        at, receipt, seq = self.receipts[ingest_id]
        if receipt["status"] != "accepted" or not seq:
            return at
        for t, position in self.views:  # in time order; a bisect would do for longer runs
            if position >= seq and t >= at:
                return t
        return None


def _quantiles(values: list[float], keys: tuple[int, ...]) -> dict[str, float]:
    if len(values) < 2:
        return {f"p{k}": round(values[0], 1) if values else 0.0 for k in keys}
    q = statistics.quantiles(values, n=100)
    return {f"p{k}": round(q[k - 1], 1) for k in keys}


async def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Processes:
    """The platform's processes as `kit up` starts them, and their resident memory and CPU time."""

    def __init__(self, env: dict[str, str], log: Path, servers: list[int]):
        self.settings = load_settings(env)
        self.children = [subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "run", name.split("#")[0]], env=env,
                                          stdout=open(log, "ab"), stderr=subprocess.STDOUT)
                         for name in platform().processes(self.settings)]
        self.names = platform().processes(self.settings)
        self.servers = servers
        self.peak = 0  # proportional set size: pages shared between processes counted once
        self.peak_rss = 0  # resident set size summed: PostgreSQL's shared buffers counted once per backend
        self.peak_by_process: dict[str, float] = {}
        self.sampling = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _all(self) -> list[tuple[str, psutil.Process]]:
        found = [(name, psutil.Process(p.pid)) for name, p in zip(self.names, self.children)]
        for pid, name in zip(self.servers, ("nats-server", "postgres")):
            server = psutil.Process(pid)
            found += [(name, server)] + [(name, c) for c in server.children(recursive=True)]
        return found

    def _sample(self) -> None:
        while not self.sampling.is_set():
            total = rss = 0
            by_process: dict[str, float] = {}
            for name, process in self._all():
                try:
                    memory = process.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                total += memory.pss
                rss += memory.rss
                by_process[name.split("#")[0]] = by_process.get(name.split("#")[0], 0) + memory.pss
            if total > self.peak:
                self.peak, self.peak_by_process = total, by_process
            self.peak_rss = max(self.peak_rss, rss)
            time.sleep(0.25)

    def cpu(self) -> dict[str, float]:
        spent: dict[str, float] = {}
        for name, process in self._all():
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            key = name.split("#")[0]
            spent[key] = spent.get(key, 0.0) + times.user + times.system
        return spent

    def stop(self) -> None:
        self.sampling.set()
        for child in self.children:
            child.terminate()
        for child in self.children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()


async def nats_ack_cost(tmp: Path, payloads: list[bytes], one_by_one: int = 1000) -> dict[str, Any]:
    """JetStream publishes acknowledged with and without a sync to disk before the ack."""
    from nats.js.api import StorageType, StreamConfig

    measured: dict[str, Any] = {}
    for label, sync in (("sync_always", True), ("default_sync_every_2_min", False)):
        server = EmbeddedNats(tmp / f"nats-{label}", free_port(), sync_always=sync).start()
        try:
            nc = await connect(server.url)
            js = nc.jetstream(publish_async_max_pending=2000)
            await js.add_stream(StreamConfig(name="BENCH", subjects=["bench.>"], storage=StorageType.FILE))
            latencies = []
            for payload in payloads[:one_by_one]:
                started = time.perf_counter()
                await js.publish("bench.one", payload)
                latencies.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            for payload in payloads:
                await js.publish_async("bench.many", payload)
            await js.publish_async_completed()
            elapsed = time.perf_counter() - started
            await nc.close()
        finally:
            server.stop()
        latencies.sort()
        measured[label] = {"ack_p50_ms": round(statistics.median(latencies), 2),
                           "ack_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
                           "async_messages_per_s": round(len(payloads) / elapsed)}
    measured["messages"] = len(payloads)
    return measured


async def _publish_burst(js, messages: list[bytes]) -> float:
    started = time.perf_counter()
    for message in messages:
        await js.publish_async(f"kit.ingest.{AGENCY}", message)
    await js.publish_async_completed()
    return started


async def _latency(js, watch: Watch, load: Load, youths: list[str], rate: int, count: int) -> dict[str, Any]:
    """`count` commands of the mix at a steady `rate`; per command, publish -> what an operator sees."""
    messages = load.messages(load.kinds(count), youths)
    ids = [json.loads(m)["id"] for m in messages]
    sent: dict[str, float] = {}
    started = time.perf_counter()
    for i, (ingest_id, message) in enumerate(zip(ids, messages)):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[ingest_id] = time.perf_counter()
        await js.publish(f"kit.ingest.{AGENCY}", message)
    await _wait(lambda: all(watch.visible_at(i) is not None for i in ids[-20:]) and all(i in watch.receipts for i in ids),
                120, "the latency run's commands")
    await asyncio.sleep(0.1)
    latencies = sorted((watch.visible_at(i) - sent[i]) * 1000 for i in ids if watch.visible_at(i) is not None)
    answered = sorted((watch.receipts[i][0] - sent[i]) * 1000 for i in ids)
    return {**_quantiles(latencies, (50, 95, 99)), "max": round(latencies[-1], 1), "messages": count,
            "rate_per_s": rate, "to_receipt_p50": _quantiles(answered, (50,))["p50"]}


async def run_ingest_bench(messages: int, rate: int, latency_seconds: float = 20.0, warm: int = 1000) -> dict:
    declared = platform()
    with tempfile.TemporaryDirectory(prefix="kit-bench-") as tmp:
        nats_server = EmbeddedNats(Path(tmp) / "nats", free_port()).start()
        postgres = EmbeddedPostgres(Path(tmp) / "postgres").start()
        processes: Processes | None = None
        try:
            url = postgres.url
            load = Load(ingest_public_key(ingest_private_key(Path(tmp) / "data")))
            kinds = load.kinds(messages)
            result: dict[str, Any] = {"messages": messages, "mix": MIX}
            result["baseline"] = baseline_eventstore(url, kinds, warm)
            result["baseline_eventstore_events_per_s"] = result["baseline"]["events_per_s"]
            await prepare(nats_server.url, declared)
            http_port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("KIT_")}
            env.update(KIT_NATS_URL=nats_server.url, KIT_DATABASE_URL=url, KIT_DATA_DIR=str(Path(tmp) / "data"),
                       KIT_HTTP_PORT=str(http_port))
            processes = Processes(env, Path(tmp) / "platform.log",
                                  [nats_server.process.pid, postgres.server.get_pid()])
            try:
                wait_for_port(http_port, timeout=60)
            except RuntimeError as e:  # what the services said is the only clue: it goes with the temporary dir
                raise RuntimeError(f"{e}; the platform's log ends:\n"
                                   f"{(Path(tmp) / 'platform.log').read_text()[-4000:]}") from None
            nc = await connect(nats_server.url)
            js = nc.jetstream(publish_async_max_pending=2000)
            watch = Watch(url, declared.read_your_writes("intake"))
            await nc.subscribe(f"kit.receipts.{AGENCY}", cb=watch.on_receipt)
            watch.thread.start()
            try:
                # warm-up: youths to send commands about (untimed, as in the baseline)
                warmup = [load.registration() for _ in range(warm)]
                await _publish_burst(js, warmup)
                warm_ids = [json.loads(m)["id"] for m in warmup]
                await _wait(lambda: all(i in watch.receipts for i in warm_ids), 300, "the warm-up registrations")
                youths = [watch.receipts[i][1]["subject"] for i in warm_ids if watch.receipts[i][1]["status"] == "accepted"]
                if len(youths) < warm:
                    rejected = next(watch.receipts[i][1] for i in warm_ids if watch.receipts[i][1]["status"] != "accepted")
                    raise RuntimeError(f"warm-up registration rejected: {rejected['reasons']}")
                last = max(watch.receipts[i][2] or 0 for i in warm_ids)
                await _wait(lambda: watch.position() >= last, 300, "the views to catch up with the warm-up")

                # throughput: the mix at once
                burst = load.messages(kinds, youths)
                ids = [json.loads(m)["id"] for m in burst]
                events_before = (await js.stream_info(events_stream("intake"))).state.last_seq
                cpu_before = processes.cpu()
                started = await _publish_burst(js, burst)
                await _wait(lambda: all(i in watch.receipts for i in ids), 600, "the burst's receipts")
                answered = time.perf_counter() - started
                last = max(watch.receipts[i][2] or 0 for i in ids)
                await _wait(lambda: watch.position() >= last, 600, "the views to apply the burst")
                elapsed = time.perf_counter() - started
                cpu_after = processes.cpu()
                events = (await js.stream_info(events_stream("intake"))).state.last_seq - events_before
                rejected = [watch.receipts[i][1] for i in ids if watch.receipts[i][1]["status"] != "accepted"]
                result["platform_messages_per_s"] = round(messages / elapsed)
                result["platform_events_per_s"] = round(events / elapsed)
                result["platform_events"] = events
                result["platform_rejected"] = len(rejected)
                result["platform_vs_baseline"] = round(result["platform_events_per_s"]
                                                       / result["baseline_eventstore_events_per_s"], 2)
                result["cpu_s"] = {name: round(cpu_after.get(name, 0) - cpu_before.get(name, 0), 1)
                                   for name in sorted(cpu_after)}
                result["cpu_s"]["seconds"] = round(elapsed, 1)
                result["cpu_s"]["answered_after_s"] = round(answered, 1)  # the last receipt: gateway + intake

                await asyncio.sleep(SETTLE_SECONDS)
                result["latency_ms"] = await _latency(js, watch, load, youths, rate, max(1, int(rate * latency_seconds)))
                await asyncio.sleep(SETTLE_SECONDS)
                result["latency_low_load_ms"] = await _latency(js, watch, load, youths, LOW_RATE,
                                                               max(1, int(LOW_RATE * latency_seconds)))
            finally:
                watch.stop.set()
                await nc.close()
            result["nats_ack_cost"] = await nats_ack_cost(Path(tmp), load.messages(kinds, youths))
            result["peak_rss_mb"] = round(processes.peak / 2**20, 1)
            result["peak_rss_scope"] = (f"every platform process ({', '.join(processes.names)}), nats-server, postgres"
                                        " with its backends; proportional set size (shared pages counted once)")
            result["peak_rss_by_process_mb"] = {k: round(v / 2**20, 1) for k, v in processes.peak_by_process.items()}
            result["peak_rss_summed_mb"] = round(processes.peak_rss / 2**20, 1)  # shared pages once per process
            result["cpu_count"] = os.cpu_count()
            return result
        finally:
            if processes is not None:
                processes.stop()
            nats_server.stop()
            postgres.stop()
