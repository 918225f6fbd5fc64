"""`kit bench audit`: the audit log's verification and replay, with a same-run baseline.

Everything runs on the embedded default (a fresh PostgreSQL in a temporary directory):
- build_entries_per_s: `log.append` of realistic entries (integration events as CloudEvents, ~5%
  access-log rows), 1000 per transaction; a checkpoint is signed every `checkpoint_every` entries
  (and at the end), so verification checks many tree heads;
- verify_entries_per_s: `verify_log` over the whole log (it must report ok), entries / wall time;
- baseline_hash_entries_per_s: the floor under it, in the same run: the same rows read the same
  way (a server-side cursor in pages of 5000, as `log.rows`) and each entry hashed once with
  SHA-256, nothing else. Both are measured after a warm-up read, twice, interleaved; the better
  run counts and both are printed;
- replay_youth_ms: `replay.path` of one youth whose events are spread through the whole log
  (median and p95 of 20 runs, after one warm-up); the other entries belong to ~entries/20 youths;
- peak_rss_mb: this process and PostgreSQL (postmaster and every backend), summed, at its peak.
"""

from __future__ import annotations

import hashlib
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psutil
import psycopg

from kit.checkpoints import generate_signing_key
from kit.embedded import EmbeddedPostgres
from services.audit import log, replay
from services.audit.checkpointing import make_checkpoint
from services.audit.verify import verify_log

BATCH = 1000
CHECKPOINT_EVERY = 10_000
PAGE = 5000  # as log.rows
REPLAY_RUNS = 20
ACCESS_SHARE = 0.05
START = datetime(2026, 1, 12, 8, 0, tzinfo=timezone.utc)
STEP = timedelta(seconds=75)  # ~170 days for 200,000 entries

AGENCIES = ("comune-milano-m7", "afol-metropolitana-mi", "caritas-ambrosiana", "cantone-ticino-uos",
            "cfp-lecco-formazione", "ats-insubria-como", "comune-varese-giovani", "ust-bellinzona")
ROLES = ("operator", "key_worker", "link_worker", "employment_specialist", "supervisor")
CONTACT_TYPES = ("meeting", "phone_call", "message", "home_visit", "family_meeting", "group_activity")
CHANNELS = ("in_person", "phone", "video", "messaging", "email", "social_media")
OUTCOMES = ("reached", "not_reached", "rescheduled")
READS = ("youth record", "youth record with identity", "youth record with special-category data",
         "referrals incoming", "youth list")
CONTACT_TYPE = "kit.intake.contact_logged.v1"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _z(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


class Entries:
    """The log's content, generated batch by batch (deterministic for a seed).

    Positions `target_positions` (1-based, spread through the whole log, one per slice of
    entries/youth_events) are events of `target_youth`; every other entry belongs to one of
    ~entries/20 other youths, ~5% of them access-log rows.
    """

    def __init__(self, entries: int, youth_events: int, seed: int = 7):
        if not 0 < youth_events <= entries:
            raise ValueError("--youth-events must be between 1 and --entries")
        self.rng = random.Random(seed)
        self.entries = entries
        self.target_youth = _uuid(self.rng)
        self.youths = [_uuid(self.rng) for _ in range(max(1, entries // 20))]
        self.operators = [(_uuid(self.rng), self.rng.choice(AGENCIES), self.rng.choice(ROLES)) for _ in range(300)]
        self.target_positions = {self.rng.randrange(i * entries // youth_events, (i + 1) * entries // youth_events) + 1
                                 for i in range(youth_events)}
        self.next_position = 1
        self.event_seq = 0
        self.access_seq = 0
        self.access_entries = 0

    def batch(self, size: int) -> list[log.Item]:
        items = []
        for _ in range(size):
            position = self.next_position
            self.next_position += 1
            at = START + STEP * position + timedelta(milliseconds=self.rng.randrange(60_000))
            if position in self.target_positions:
                items.append(self.event(self.target_youth, at))
            elif self.rng.random() < ACCESS_SHARE:
                items.append(self.access(self.rng.choice(self.youths), at))
            else:
                items.append(self.event(self.rng.choice(self.youths), at))
        return items

    def event(self, youth_id: str, recorded_at: datetime) -> log.Item:
        rng = self.rng
        self.event_seq += 1
        event_id = _uuid(rng)
        operator, agency, role = rng.choice(self.operators)
        occurred = recorded_at - timedelta(minutes=rng.randrange(5, 600))
        payload: dict[str, Any] = {
            "specversion": "1.0",
            "id": event_id,
            "source": "urn:kit:service:intake",
            "type": CONTACT_TYPE,
            "subject": youth_id,
            "time": _z(recorded_at - timedelta(milliseconds=rng.randrange(5, 400))),
            "datacontenttype": "application/json",
            "dataschema": f"https://kit-platform.eu/contracts/schemas/{CONTACT_TYPE}.json",
            "kitagency": agency,
            "kitcorrelationid": _uuid(rng),
            "kitcausationid": _uuid(rng),
            "kitactor": operator,
            "kitrole": role,
            "kitrecordedtime": _z(recorded_at),
            "kitclassification": "pseudonymous",
            "kitseq": self.event_seq,
            "data": {
                "youth_id": youth_id,
                "contact_id": _uuid(rng),
                "agency": agency,
                "contact_type": rng.choice(CONTACT_TYPES),
                "channel": rng.choice(CHANNELS),
                "outcome": rng.choice(OUTCOMES),
                "occurred_at": _z(occurred.replace(microsecond=0)),
                "related_person_ids": [],
            },
        }
        return log.Item(kind="event", source=f"event:{event_id}", youth_id=youth_id, recorded_at=recorded_at,
                        payload=payload)

    def access(self, youth_id: str, at: datetime) -> log.Item:
        rng = self.rng
        self.access_seq += 1
        self.access_entries += 1
        operator, agency, role = rng.choice(self.operators)
        what = rng.choice(READS)
        youth = None if what == "youth list" else youth_id
        return log.Item(kind="access", source=f"access:{self.access_seq}", youth_id=youth, recorded_at=at,
                        payload={"operator_id": operator, "agency": agency, "role": role,
                                 "purpose": "case_management", "what": what, "youth_id": youth,
                                 "at": at.isoformat()})


class RssSampler(threading.Thread):
    """Peak resident memory of some processes and their descendants, summed (each pid once)."""

    def __init__(self, pids: list[int], interval: float = 0.1):
        super().__init__(daemon=True)
        self.roots = [psutil.Process(p) for p in pids]
        self.interval = interval
        self.peak = 0
        self.peaks: dict[int, int] = {p: 0 for p in pids}
        self.done = threading.Event()

    def sample(self) -> int:
        seen: set[int] = set()
        total = 0
        for root in self.roots:
            subtotal = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    if p.pid in seen:
                        continue
                    seen.add(p.pid)
                    try:
                        subtotal += p.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass
            except psutil.NoSuchProcess:
                pass
            self.peaks[root.pid] = max(self.peaks[root.pid], subtotal)
            total += subtotal
        self.peak = max(self.peak, total)
        return total

    def run(self) -> None:
        while not self.done.is_set():
            self.sample()
            self.done.wait(self.interval)

    def stop(self) -> None:
        self.done.set()
        self.join()
        self.sample()


def checkpoint_interval(entries: int) -> int:
    """Every 10,000 entries; for a small log, every third of it (in whole batches)."""
    return max(BATCH, min(CHECKPOINT_EVERY, entries // 3) // BATCH * BATCH)


def build(url: str, entries: Entries, private_key: str, every: int) -> dict[str, Any]:
    appended = checkpoints = 0
    append_s = checkpoint_s = 0.0
    entry_bytes = 0
    with psycopg.connect(url) as conn:
        with conn.transaction():
            log.create_tables(conn)
        while appended < entries.entries:
            items = entries.batch(min(BATCH, entries.entries - appended))
            started = time.perf_counter()
            with conn.transaction():
                n = log.append(conn, items)
            append_s += time.perf_counter() - started
            if n != len(items):
                raise RuntimeError(f"appended {n} of {len(items)} entries")
            appended += n
            if appended % every == 0 or appended == entries.entries:
                started = time.perf_counter()
                if make_checkpoint(url, private_key) is not None:
                    checkpoints += 1
                checkpoint_s += time.perf_counter() - started
        # What a live database looks like after autovacuum: statistics and visibility map set.
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE audit.log")
        entry_bytes = conn.execute("SELECT avg(length(entry)) FROM audit.log").fetchone()[0]
    return {"appended": appended, "checkpoints": checkpoints, "append_s": append_s, "checkpoint_s": checkpoint_s,
            "avg_entry_bytes": round(float(entry_bytes))}


def baseline_hash(conn: psycopg.Connection) -> tuple[int, float]:
    """The same rows, read as log.rows reads them, each entry hashed once: (rows, seconds)."""
    sha256 = hashlib.sha256
    n = 0
    started = time.perf_counter()
    with conn.cursor(name=f"bench_baseline_{uuid.uuid4().hex[:8]}") as cur:
        cur.itersize = PAGE
        cur.execute("SELECT seq, entry, leaf_hash FROM audit.log ORDER BY seq")
        for _seq, entry, _leaf in cur:
            sha256(entry).digest()
            n += 1
    elapsed = time.perf_counter() - started
    conn.rollback()
    return n, elapsed


def verify(conn: psycopg.Connection, public_key: str) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    report = verify_log(conn, public_key)
    elapsed = time.perf_counter() - started
    conn.rollback()
    if not report.ok:
        raise RuntimeError(f"verification of the benchmark log failed: {report.to_json()}")
    return report.to_json(), elapsed


def replay_times(conn: psycopg.Connection, youth_id: str, expected: int) -> list[float]:
    times = []
    for run in range(REPLAY_RUNS + 1):  # the first one warms up
        started = time.perf_counter()
        steps = replay.path(conn, youth_id, key_exists=lambda _: True)
        elapsed = time.perf_counter() - started
        conn.rollback()
        if len(steps) != expected:
            raise RuntimeError(f"replay of the benchmark youth gave {len(steps)} steps, expected {expected}")
        if run:
            times.append(elapsed * 1000)
    return times


def run_audit_bench(entries: int, youth_events: int) -> dict[str, Any]:
    content = Entries(entries, youth_events)
    every = checkpoint_interval(entries)
    private_key, public_key = generate_signing_key()
    with tempfile.TemporaryDirectory(prefix="kit-bench-audit-") as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "postgres").start()
        sampler = RssSampler([os.getpid(), postgres.server.get_pid()])
        sampler.start()
        try:
            url = postgres.url
            built = build(url, content, private_key, every)
            result: dict[str, Any] = {
                "entries": built["appended"],
                "access_entries": content.access_entries,
                "other_youths": len(content.youths),
                "avg_entry_bytes": built["avg_entry_bytes"],
                "checkpoints": built["checkpoints"],
                "checkpoint_every": every,
                "build_entries_per_s": round(built["appended"] / built["append_s"]),
                "checkpoint_sign_s_total": round(built["checkpoint_s"], 2),
            }
            with psycopg.connect(url) as conn:
                baseline_hash(conn)  # warm-up read: both measurements see a warm cache
                baseline_rates, verify_rates, report = [], [], {}
                for _ in range(2):  # interleaved, so neither gets a systematically warmer cache
                    n, elapsed = baseline_hash(conn)
                    if n != built["appended"]:
                        raise RuntimeError(f"the baseline read {n} rows of {built['appended']}")
                    baseline_rates.append(n / elapsed)
                    report, elapsed = verify(conn, public_key)
                    verify_rates.append(report["entries"] / elapsed)
                if report["entries"] != built["appended"] or report["checkpoints"] != built["checkpoints"]:
                    raise RuntimeError(f"verification did not cover the whole log: {report}")
                result["verify_ok"] = report["ok"]
                result["verify_report"] = report
                result["verify_entries_per_s"] = round(max(verify_rates))
                result["verify_runs_entries_per_s"] = [round(r) for r in verify_rates]
                result["baseline_hash_entries_per_s"] = round(max(baseline_rates))
                result["baseline_hash_runs_entries_per_s"] = [round(r) for r in baseline_rates]
                result["verify_vs_baseline"] = round(max(verify_rates) / max(baseline_rates), 3)
                times = replay_times(conn, content.target_youth, youth_events)
            result["youth_events"] = youth_events
            result["replay_youth_ms"] = round(statistics.median(times), 2)
            result["replay_youth_p95_ms"] = round(statistics.quantiles(times, n=20, method="inclusive")[18], 2)
            result["replay_runs"] = len(times)
            sampler.stop()
            result["peak_rss_mb"] = round(sampler.peak / 2**20, 1)
            result["peak_rss_bench_mb"] = round(sampler.peaks[os.getpid()] / 2**20, 1)
            result["peak_rss_postgres_mb"] = round(sampler.peaks[postgres.server.get_pid()] / 2**20, 1)
            result["peak_rss_scope"] = "bench process + postgres (postmaster and all backends, RSS summed)"
            result["cpu_count"] = os.cpu_count()
            return result
        finally:
            sampler.done.set()
            postgres.stop()
