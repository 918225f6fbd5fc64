"""`kit bench ingest`: partner publish -> visible in the projection, with same-run baselines.

Everything runs on the embedded default (fresh servers in a temporary directory):
- baseline_eventstore_events_per_s: eventsourcing `save()` of comparable events, one per save;
- baseline_nats_publish_per_s: nats-py `publish_async` of messages of the same size;
- platform_events_per_s: N partner messages published at once, until all are in the projection;
- latency_ms: a steady run at `rate` events/s, 5 s after the burst, publish -> row visible
  (polled every 5 ms);
- peak_rss_mb: the services' and servers' resident memory, summed, at its peak.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nats
import psutil
import psycopg
from nats.js.api import StreamConfig

from events.builders import register_youth
from kit.db import ensure_schema, eventsourcing_env
from kit.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from kit.nats_setup import prepare
from events.intake import YouthRegistered
from services.intake.aggregates import YouthCase
from services.intake.application import IntakeApplication

AGENCY = "comune-milano-m7"
SETTLE_SECONDS = 5


def baseline_eventstore(url: str, events: int) -> float:
    ensure_schema(url, "bench")
    app = IntakeApplication(env=eventsourcing_env(url, "bench"))
    meta = {"agency": AGENCY, "actor": None, "ingest_id": "x" * 36, "correlation_id": "x" * 36,
            "causation_id": "x" * 36}
    started = time.perf_counter()
    for i in range(events):
        youth_id = str(uuid.uuid4())
        app.save(YouthCase.start(uuid.UUID(youth_id), YouthRegistered(
            youth_id=youth_id, registering_agency=AGENCY, partner_case_ref=f"bench-{i}", birth_year=2004,
            country="IT", region="IT-25"), meta))
    elapsed = time.perf_counter() - started
    app.close()
    return events / elapsed


async def baseline_nats(url: str, events: int, size: int) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream(publish_async_max_pending=1000)
    await js.add_stream(StreamConfig(name="BENCH_BASELINE", subjects=["bench.baseline"]))
    payload = os.urandom(size)
    started = time.perf_counter()
    for _ in range(events):
        await js.publish_async("bench.baseline", payload)
    await js.publish_async_completed()
    elapsed = time.perf_counter() - started
    await js.delete_stream("BENCH_BASELINE")
    await nc.close()
    return events / elapsed


class RssSampler:
    def __init__(self, pids: list[int]):
        self.processes = [psutil.Process(p) for p in pids]
        self.peak = 0
        self.task: asyncio.Task | None = None

    def sample(self) -> int:
        total = 0
        for process in self.processes:
            try:
                for p in [process, *process.children(recursive=True)]:
                    total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    async def run(self) -> None:
        while True:
            self.peak = max(self.peak, self.sample())
            await asyncio.sleep(0.1)


def projected(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM views.youths").fetchone()[0]


async def wait_projected(conn: psycopg.Connection, expected: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while projected(conn) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {projected(conn)} of {expected} events reached the projection")
        await asyncio.sleep(0.01)


async def throughput(js, conn, events: int, already: int) -> float:
    messages = [register_youth(AGENCY, case_ref=f"tp-{i}").to_json_bytes() for i in range(events)]
    started = time.perf_counter()
    for message in messages:
        await js.publish_async(f"kit.ingest.{AGENCY}", message)
    await js.publish_async_completed()
    await wait_projected(conn, already + events)
    return events / (time.perf_counter() - started)


async def latency(js, conn, events: int, rate: int) -> dict[str, float]:
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}

    async def watch() -> None:
        last = conn.execute("SELECT coalesce(max(source_seq), 0) FROM views.youths").fetchone()[0]
        while len(seen) < events:
            rows = conn.execute("SELECT partner_case_ref, source_seq FROM views.youths WHERE source_seq > %s",
                                (last,)).fetchall()
            now = time.perf_counter()
            for ref, seq in rows:
                seen.setdefault(ref, now)
                last = max(last, seq)
            await asyncio.sleep(0.005)

    # The probe polls every 5 ms: give it an index so it measures the platform, not its own scans.
    conn.execute("CREATE INDEX IF NOT EXISTS bench_youths_source_seq ON views.youths (source_seq)")
    watcher = asyncio.create_task(watch())
    started = time.perf_counter()
    for i in range(events):
        target = started + i / rate
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        ref = f"lat-{i}"
        sent[ref] = time.perf_counter()
        await js.publish(f"kit.ingest.{AGENCY}", register_youth(AGENCY, case_ref=ref).to_json_bytes())
    await asyncio.wait_for(watcher, 120)
    latencies = sorted((seen[ref] - sent[ref]) * 1000 for ref in sent)
    q = statistics.quantiles(latencies, n=100)
    return {"p50": round(q[49], 1), "p95": round(q[94], 1), "p99": round(q[98], 1), "max": round(latencies[-1], 1),
            "events": events, "rate_per_s": rate}


async def run_ingest_bench(events: int, rate: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="kit-bench-") as tmp:
        nats_server = EmbeddedNats(Path(tmp) / "nats", free_port()).start()
        postgres = EmbeddedPostgres(Path(tmp) / "postgres").start()
        services: list[subprocess.Popen] = []
        try:
            url = postgres.url
            result: dict = {"events": events}
            result["baseline_eventstore_events_per_s"] = round(baseline_eventstore(url, events))
            size = len(register_youth(AGENCY).to_json_bytes())
            result["baseline_nats_publish_per_s"] = round(await baseline_nats(nats_server.url, events, size))
            await prepare(nats_server.url)
            env = {k: v for k, v in os.environ.items() if not k.startswith("KIT_")}
            env.update(KIT_NATS_URL=nats_server.url, KIT_DATABASE_URL=url, KIT_DATA_DIR=str(Path(tmp) / "data"))
            for name in ("intake", "views"):
                services.append(subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "run", name], env=env,
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            server_pids = [nats_server.process.pid, postgres.server.get_pid()]
            sampler = RssSampler([p.pid for p in services] + server_pids)
            sampling = asyncio.create_task(sampler.run())
            nc = await nats.connect(nats_server.url)
            js = nc.jetstream(publish_async_max_pending=1000)
            with psycopg.connect(url, autocommit=True) as conn:
                deadline = time.monotonic() + 30
                while True:  # the views service creates its tables on start
                    try:
                        projected(conn)
                        break
                    except psycopg.errors.UndefinedTable:
                        if time.monotonic() > deadline:
                            raise
                        await asyncio.sleep(0.1)
                result["platform_events_per_s"] = round(await throughput(js, conn, events, 0))
                result["platform_vs_eventstore"] = round(
                    result["platform_events_per_s"] / result["baseline_eventstore_events_per_s"], 2)
                # A steady rate is a different regime from the burst before it: let the burst's
                # aftermath (autovacuum of the tables it filled) pass first.
                await asyncio.sleep(SETTLE_SECONDS)
                result["latency_ms"] = await latency(js, conn, min(events, rate * 20), rate)
            await nc.close()
            sampling.cancel()
            result["peak_rss_mb"] = round(sampler.peak / 2**20, 1)
            result["peak_rss_scope"] = "intake + views processes, nats-server, postgres (all backends)"
            result["cpu_count"] = os.cpu_count()
            return result
        finally:
            for p in services:
                p.terminate()
            for p in services:
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
            nats_server.stop()
            postgres.stop()
