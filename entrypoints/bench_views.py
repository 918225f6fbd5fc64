"""`kit bench views`: rebuilding the read models, and reading them through the HTTP API under load.

Everything runs on the embedded default (fresh nats-server and PostgreSQL in a temporary directory):
- the stream: N integration events published straight to KIT_EVENTS_INTAKE (`publish_async`,
  with the relay's headers), as the intake relay would have: ~N/20 youths across the agencies of
  the intake policy, each with a realistic path (outreach before registration for some, then
  registration, identity, consents, assessment, case opened, Project of Life, many contacts,
  referrals with their status changes, reviews, lost contact, closure), interleaved in time;
  deterministic ids, kitseq increasing with gaps (receipts), every payload built by its model in
  `events.intake`. Their JSON is also stored in `bench.events(seq, body)`;
- rebuild_events_per_s: `kit projections rebuild` (every declared projection, from the
  stream, one transaction per page) in its own process, started on a quiet server;
- baseline_copy_events_per_s: the raw floor under it, in the same run: the same N events read
  from PostgreSQL (a server-side cursor, pages of 5000, body as text) and written with COPY into a
  scratch table; measured twice (the first read warms the cache), the better run counts;
- caseload / timeline latencies: the HTTP API (`create_app`, as `kit up` serves it: KIT_API_WORKERS
  uvicorn processes sharing the port, by default one per core up to 4, each with a pool of 10
  connections) in subprocesses on a free port, against the rebuilt views,
  after VACUUM ANALYZE (what autovacuum leaves after a rebuild); C concurrent clients (threads,
  keep-alive connections), each logged in as a key worker of one of the three busiest agencies,
  request the caseload (first page, limit 50) for `seconds`, then timelines of random youths their
  agency may see (by the API's own rule) for `seconds`;
- the web app's pages, each for `seconds`, as a browser asks (session cookie): the landing page "La
  mia giornata" (`landing_*`: the key worker's own youths by urgency; each bench operator is named
  as the stream's first key worker of its agency), the caseload searched by part of a case
  reference (`caseload_search_*`) and a random visible youth's page (`youth_page_*`: record,
  timeline, notes, in one HTML page);
- each load run's `cpu_ms_per_request`: the CPU milliseconds the API processes, PostgreSQL (with
  its backends) and this process's client threads spent per request. The VM's speed changes from
  run to run; these say where a request's time goes;
- sign_in_flood: 50 token requests at once (each hashes a password: argon2id, ~64 MiB) while
  /health is asked one request after another: its latency idle and during the flood, and the
  API processes' memory before and at its peak (sign-ins wait their turn, one hash at a time per
  process: shared/sign_in.py);
- peak_rss_mb: this process and its children (the API server, nats-server) and PostgreSQL
  (postmaster and every backend), summed, at its peak.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import psycopg

from events import intake as ev
from entrypoints.bench_audit import RssSampler
from kit.config import load_settings
from kit.keys import master_keys
from shared import search_tokens
from kit.vault import VaultKeys, encrypt_for
from kit.embedded import EmbeddedNats, EmbeddedPostgres, free_port, wait_for_port
from kit.nats_auth import connect
from kit.streams import ensure_streams, events_stream
from projections.rebuild import PAGE as REBUILD_PAGE
from entrypoints.catalogue import platform
from kit.relay import NOTIFICATION_HEADER
from kit.translation import translator
from services.intake.aggregates import EngagementHistory, YouthCase
from shared.agencies import Register, load_register

SERVICE = "intake"
EVENTS_PER_YOUTH = 20
BATCH = 5000
BASELINE_PAGE = 5000
CASELOAD_LIMIT = 50
BUSY_AGENCIES = 3
OPERATOR_PASSWORD = "bench-views-password"
DAY = 86400.0
PERIOD_DAYS = 365
NAMESPACE = uuid.UUID("3f0c9a8e-5b7d-4e21-a6c4-9d2b7e1f0a53")

# How much of the caseload each agency of the policy carries (others: 5).
AGENCY_WEIGHTS = {"comune-milano-m7": 30, "afol-milano": 16, "ufficio-giovani-ti": 14, "cfp-torino": 12,
                  "ngo-lugano": 12, "employment-service": 8, "other-agency": 8}
ROLES = ("key_worker", "key_worker", "operator", "link_worker", "employment_specialist")
CONTACT_TYPES = ("meeting", "phone_call", "message", "home_visit", "family_meeting", "group_activity")
CONTACT_CHANNELS = {"meeting": "in_person", "phone_call": "phone", "message": "messaging", "home_visit": "in_person",
                    "family_meeting": "in_person", "group_activity": "in_person"}
GOALS = (("Find an apprenticeship", "employment"), ("Finish lower secondary school", "education"),
         ("Vocational course in catering", "training"), ("Regular sports activity", "wellbeing"),
         ("Stable housing", "housing"), ("Join a volunteering group", "social"), ("Get a driving licence", "other"))
SERVICES = ("social_prescribing", "ips_placement", "training", "partner_service")
TERRITORIES = {"IT": ev.Territory(country="IT", municipality="Milano", district="Municipio 7"),
               "CH": ev.Territory(country="CH", municipality="Lugano", canton="CH-TI")}


GIVEN_NAMES = ("Giulia", "Marco", "Sara", "Luca", "Aisha", "Matteo", "Chiara", "Omar", "Elena", "Nicolò")


def youth_key(youth_id: str) -> bytes:
    """The youth's data key in the benchmark (derived, so the stream needs no key store)."""
    return hashlib.sha256(b"kit-bench-views/" + youth_id.encode()).digest()


def store_youth_keys(url: str, youth_ids: list[str]) -> None:
    """Each youth's key in the vault's key table, wrapped by the master keys the API loads."""
    keys = VaultKeys(url, master_keys(load_settings().data_dir), schema="intake")
    keys.create_table()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        search_tokens.create_table(conn)  # the intake service's search index, as it leaves it at start (empty here)
        cur.executemany("INSERT INTO intake.youth_keys (youth_id, wrapped) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                        [(y, keys.keyring.wrap(youth_key(y))) for y in youth_ids])


def _ciphertext(rng: random.Random, size: int) -> str:
    return "v1." + base64.urlsafe_b64encode(rng.randbytes(size)).decode()


# ---------------------------------------------------------------- the youths and their paths

@dataclass(slots=True)
class Youth:
    index: int
    youth_id: str
    agency: str
    country: str
    region: str
    partner: str | None  # the agency the youth consents to share with (and is referred to)
    engagement_id: str | None
    key_worker: str
    transfer_lead: bool
    first_contact: float | None = None  # seconds after START: the first outreach contact
    lead_moved: bool = False
    versions: dict[str, int] = field(default_factory=dict)  # originator -> last version handed out

    def id(self, label: str) -> str:
        return str(uuid.uuid5(NAMESPACE, f"{self.youth_id}/{label}"))


@dataclass(slots=True)
class Step:
    at: float  # seconds after START
    youth: int
    kind: str
    arg: Any = None


class Stream:
    """The benchmark's integration log (deterministic for a seed), in time order."""

    def __init__(self, events: int, policy: Register, seed: int = 11, end: datetime | None = None):
        self.rng = random.Random(seed)
        self.events = events
        end = (end or datetime.now(timezone.utc)).replace(hour=0, minute=0, second=0, microsecond=0)
        self.start = end - timedelta(days=PERIOD_DAYS)
        self.agencies = sorted(policy.agencies.values(), key=lambda a: a.code)
        self.weights = [AGENCY_WEIGHTS.get(a.code, 5) for a in self.agencies]
        self.operators = {a.code: [(str(uuid.UUID(int=self.rng.getrandbits(128), version=4)), self.rng.choice(ROLES))
                                   for _ in range(6)] for a in self.agencies}
        self.youths: list[Youth] = []
        steps: list[Step] = []
        while len(steps) < events:
            steps.extend(self._path(self._youth()))
        steps.sort(key=lambda s: (s.at, s.youth))
        self.steps = steps[:events]  # the cases started last are still under way
        self.counts: dict[str, int] = {}
        for s in self.steps:
            self.counts[s.kind] = self.counts.get(s.kind, 0) + 1

    def _youth(self) -> Youth:
        rng = self.rng
        agency = rng.choices(self.agencies, self.weights)[0]
        peers = [a for a in self.agencies if a.country == agency.country and a.code != agency.code]
        partner = rng.choices(peers, [AGENCY_WEIGHTS.get(a.code, 5) for a in peers])[0].code \
            if peers and rng.random() < 0.6 else None
        youth = Youth(index=len(self.youths), youth_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                      agency=agency.code, country=agency.country, region=agency.region, partner=partner,
                      engagement_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)) if rng.random() < 0.12 else None,
                      key_worker=f"kw-{agency.code}-{rng.randrange(8)}", transfer_lead=rng.random() < 0.1)
        self.youths.append(youth)
        return youth

    def _path(self, y: Youth) -> list[Step]:
        rng = self.rng
        t = rng.uniform(0, (PERIOD_DAYS - 30) * DAY)
        steps: list[Step] = []

        def add(kind: str, after_days: float = 0.0, arg: Any = None) -> None:
            nonlocal t
            t += after_days * DAY + rng.uniform(0.5, 90.0)  # seconds apart within one command's events
            steps.append(Step(t, y.index, kind, arg))

        if y.engagement_id:
            for _ in range(rng.randint(1, 3)):
                add("outreach", rng.uniform(1, 10))
            y.first_contact = steps[0].at
        add("registered", rng.uniform(0, 3))
        if rng.random() < 0.9:
            add("identity")
        add("consent_case_management")
        if y.engagement_id:
            add("engagement_linked")
        if y.partner:
            add("consent_sharing")
        add("assessed", rng.uniform(1, 10))
        add("vulnerabilities")
        add("case_opened")
        if rng.random() < 0.5:
            add("cadence")
        add("project", rng.uniform(5, 20), 1)
        contacts = rng.randint(6, 16)
        referral_at = rng.randrange(1, contacts) if y.partner and rng.random() < 0.8 else None
        partner_active = False
        for i in range(contacts):
            if i == referral_at:
                add("referral", rng.uniform(1, 5))
                add("referral_status", rng.uniform(1, 7), ("requested", "accepted"))
                if y.transfer_lead:
                    add("lead_transferred")
                add("referral_status", rng.uniform(1, 10), ("accepted", "in-progress"))
                partner_active = True
            by = y.partner if partner_active and rng.random() < 0.3 else None
            add("contact", rng.uniform(3, 20), by)
            if i == contacts // 2 and rng.random() < 0.35:
                add("review", rng.uniform(0, 5))
        if partner_active and rng.random() < 0.6:
            add("referral_status", rng.uniform(5, 30), ("in-progress", rng.choice(("completed", "completed", "failed"))))
        ending = rng.random()
        if ending < 0.1:
            add("contact_lost", rng.uniform(31, 45))
        elif ending < 0.22:
            add("case_closed", rng.uniform(5, 30))
        return steps

    # -------------------------------------------------------------- materialisation

    def messages(self) -> Iterator[tuple[int, str, bytes, dict[str, str]]]:
        """(stream sequence, subject, payload, headers), in stream order, as intake's relay would
        publish them (its own translation of the stored events); once only (it moves the youths'
        aggregate versions on)."""
        intake = platform().service(SERVICE)
        translate = translator(SERVICE, intake.source, {m.type_name: m for m in intake.messages})
        kitseq = 0
        last_contact: dict[int, datetime] = {}
        for seq, step in enumerate(self.steps, start=1):
            kitseq += 1 + (self.rng.random() < 0.4) + (self.rng.random() < 0.1)  # receipts and claims in between
            y = self.youths[step.youth]
            at = self.start + timedelta(seconds=step.at)
            data, agency, originator = self._data(y, step, at, last_contact)
            if step.kind == "contact" and data.outcome == "reached":
                last_contact[y.index] = data.occurred_at
            version = y.versions.get(originator, 0) + 1
            y.versions[originator] = version
            actor, role = (None, None) if step.kind in ("registered", "identity", "consent_case_management",
                                                         "outreach") and y.index % 2 else \
                self.rng.choice(self.operators[agency])
            correlation = str(uuid.uuid5(NAMESPACE, f"{originator}/{step.kind}/{version}"))
            history = EngagementHistory if step.kind in ("outreach", "engagement_linked") else YouthCase
            stored = history.Recorded(originator_id=uuid.UUID(originator), originator_version=version, timestamp=at,
                                      type_name=data.type_name, data=data.model_dump(mode="json"),
                                      meta={"agency": agency, "actor": actor, "role": role,
                                            "correlation_id": correlation, "causation_id": correlation})
            [out] = translate(stored, kitseq)
            yield seq, out.subject, out.payload, {"Nats-Msg-Id": out.msg_id, NOTIFICATION_HEADER: str(kitseq)}

    def _data(self, y: Youth, step: Step, at: datetime, last_contact: dict[int, datetime]
              ) -> tuple[ev.Event, str, str]:
        """The event's payload (built, so validated, by its model), its agency and its originator."""
        rng, kind, yid = self.rng, step.kind, y.youth_id
        lead = y.partner if y.lead_moved else y.agency
        if kind == "outreach":
            return ev.OutreachContactRecorded(
                engagement_id=y.engagement_id, agency=y.agency, handle_ciphertext=_ciphertext(rng, 48),
                place_type=rng.choice(("street", "youth_centre", "school", "online")),
                territory=TERRITORIES[y.country], channel=rng.choice(("in_person", "messaging", "social_media")),
                outcome=rng.choice(("first_contact", "conversation", "hooked")),
                occurred_at=at - timedelta(minutes=rng.randrange(10, 600))), y.agency, y.engagement_id
        if kind == "engagement_linked":
            return ev.EngagementLinked(engagement_id=y.engagement_id, youth_id=yid), y.agency, y.engagement_id
        if kind == "registered":
            first = self.start + timedelta(seconds=y.first_contact) if y.first_contact is not None else None
            return ev.YouthRegistered(
                youth_id=yid, registering_agency=y.agency, partner_case_ref=f"{y.agency[:8]}-{2025 + y.index % 2}-{y.index:06d}",
                birth_year=rng.randint(1996, 2010), country=y.country, region=y.region,
                engagement_id=y.engagement_id if first else None, first_contact_at=first), y.agency, yid
        if kind == "identity":
            # a real ciphertext under the youth's key (stored in the vault before the API starts): lists
            # that show names open it as they would in production
            identity = json.dumps({"given_names": rng.choice(GIVEN_NAMES), "family_name": f"Rossi{y.index}"})
            return (ev.IdentityRecorded(youth_id=yid, person_id=yid,
                                        ciphertext=encrypt_for(youth_key(yid), yid, identity.encode())), y.agency, yid)
        if kind in ("consent_case_management", "consent_sharing"):
            sharing = kind == "consent_sharing"
            terms = ev.ConsentTerms(
                consent_id=y.id(kind), purpose="sharing" if sharing else "case_management",
                recipient=y.partner if sharing else None, legal_basis="consent",
                given_by="guardian" if rng.random() < 0.15 else "youth", notice_version="2026-1",
                given_at=at - timedelta(minutes=rng.randrange(1, 120)),
                expires_at=at + timedelta(days=3 * 365) if sharing else None)
            return ev.ConsentRecorded(youth_id=yid, consent=terms, recorded_by=y.agency), y.agency, yid
        if kind == "assessed":
            return ev.YouthAssessed(
                youth_id=yid, neet_status=rng.choice(("neet", "neet", "neet", "in_training", "in_education")),
                neet_since=(at - timedelta(days=rng.randrange(30, 900))).date() if rng.random() < 0.7 else None,
                education_level=rng.choice(("primary", "lower_secondary", "lower_secondary", "upper_secondary")),
                family_context=rng.choice(("with_parents", "single_parent", "alone", "care_leaver", "with_partner")),
                aspirations=rng.sample(["work", "study", "training", "volunteering", "undecided"], rng.randint(1, 3)),
            ), y.agency, yid
        if kind == "vulnerabilities":
            return ev.VulnerabilitiesAssessed(youth_id=yid, vulnerabilities=ev.Vulnerabilities(
                socio_economic=rng.random() < 0.5, disability=rng.random() < 0.1, psycho_social=rng.random() < 0.3,
                migration_background=rng.random() < 0.3)), y.agency, yid
        if kind == "case_opened":
            return ev.CaseOpened(youth_id=yid, lead_agency=y.agency, key_worker=y.key_worker), y.agency, yid
        if kind == "cadence":
            every = rng.choice((7, 14, 21))
            return ev.ContactCadenceSet(youth_id=yid, every_days=every, lost_after_days=30), y.agency, yid
        if kind == "project":
            goals = [ev.Goal(goal_id=y.id(f"goal-{i}"), description=d, category=c, lifecycle_status="active",
                             achievement_status="in-progress",
                             milestones=[ev.Milestone(milestone_id=y.id(f"goal-{i}-m"), description="First step agreed",
                                                      due=(at + timedelta(days=30)).date())])
                     for i, (d, c) in enumerate(rng.sample(GOALS, rng.randint(1, 3)))]
            return ev.ProjectOfLifeAgreed(youth_id=yid, version=step.arg, goals=goals,
                                          next_review_due=(at + timedelta(days=90)).date(), agreed_by_youth=True,
                                          agreed_by_guardian=rng.random() < 0.15), y.agency, yid
        if kind == "contact":
            contact_type = rng.choice(CONTACT_TYPES)
            return ev.ContactLogged(
                youth_id=yid, contact_id=y.id(f"contact-{y.versions.get(yid, 0)}"), agency=step.arg or lead,
                contact_type=contact_type, channel=CONTACT_CHANNELS[contact_type] if rng.random() < 0.8 else "phone",
                outcome=rng.choices(("reached", "not_reached", "rescheduled"), (8, 1, 1))[0],
                occurred_at=(at - timedelta(minutes=rng.randrange(5, 600))).replace(microsecond=0),
                related_person_ids=[]), step.arg or lead, yid
        if kind == "referral":
            return ev.ReferralRequested(
                youth_id=yid, referral_id=y.id("referral"), from_agency=lead, to_agency=y.partner,
                service=rng.choice(SERVICES), reason="Wants to work; job search support",
                transfer_lead=y.transfer_lead, basis=f"consent:{y.id('consent_sharing')}"), lead, yid
        if kind == "referral_status":
            previous, status = step.arg
            return ev.ReferralStatusChanged(
                youth_id=yid, referral_id=y.id("referral"), from_agency=y.agency, to_agency=y.partner,
                previous_status=previous, status=status, note="First meeting held" if status == "in-progress" else None,
                by_agency=y.partner), y.partner, yid
        if kind == "lead_transferred":
            y.lead_moved = True
            return ev.LeadTransferred(youth_id=yid, from_agency=y.agency, to_agency=y.partner,
                                      referral_id=y.id("referral")), y.partner, yid
        if kind == "review":
            return ev.ProjectReviewRecorded(youth_id=yid, project_version=1, held_on=at.date(),
                                            outcome=rng.choice(("on_track", "on_track", "needs_revision")),
                                            next_review_due=(at + timedelta(days=90)).date()), lead, yid
        if kind == "contact_lost":
            since = last_contact.get(y.index) or at - timedelta(days=31)
            return ev.ContactLost(youth_id=yid, last_contact_at=since, days_without_contact=(at - since).days,
                                  lead_agency=lead, key_worker=y.key_worker), lead, yid
        if kind == "case_closed":
            exited = at.date()
            return ev.CaseClosed(youth_id=yid, destination=rng.choice(("employment", "education", "training", "moved")),
                                 exited_on=exited, follow_ups=[
                                     ev.FollowUp(checkpoint_months=m, due_on=exited + timedelta(days=30 * m))
                                     for m in (6, 12, 18)]), lead, yid
        raise ValueError(kind)


# ---------------------------------------------------------------- building the stream

async def publish(nats_url: str, db_url: str, stream: Stream) -> dict[str, Any]:
    """Publish the stream to KIT_EVENTS_INTAKE and store the same JSON in bench.events."""
    nc = await connect(nats_url, name="kit-bench-views")
    js = nc.jetstream(publish_async_max_pending=2000)
    await ensure_streams(js, platform())
    name = events_stream(SERVICE)
    if (await js.stream_info(name)).state.messages:
        raise RuntimeError(f"{name} is not empty")
    payload_bytes = 0
    started = time.perf_counter()
    with psycopg.connect(db_url) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
        conn.execute("CREATE TABLE bench.events (seq bigint PRIMARY KEY, body jsonb NOT NULL)")
        messages = stream.messages()
        while True:
            batch = [m for _, m in zip(range(BATCH), messages)]
            if not batch:
                break
            futures = [await js.publish_async(subject, payload, stream=name, headers=headers, wait_stall=10)
                       for _, subject, payload, headers in batch]
            with conn.cursor().copy("COPY bench.events (seq, body) FROM STDIN") as copy:
                for seq, _, payload, _ in batch:
                    copy.write_row((seq, payload.decode()))
                    payload_bytes += len(payload)
            acks = await asyncio.gather(*futures, return_exceptions=True)
            failed = [a for a in acks if isinstance(a, BaseException)]
            if failed:
                raise RuntimeError(f"{len(failed)} publishes failed, first: {failed[0]!r}")
            for (seq, *_), ack in zip(batch, acks):
                if ack.seq != seq or ack.duplicate:
                    raise RuntimeError(f"event {seq} became stream sequence {ack.seq} (duplicate: {ack.duplicate})")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE bench.events")
    elapsed = time.perf_counter() - started
    state = (await js.stream_info(name)).state
    await nc.close()
    if state.messages != stream.events or state.last_seq != stream.events:
        raise RuntimeError(f"{name} holds {state.messages} messages, expected {stream.events}")
    return {"seconds": elapsed, "avg_event_bytes": round(payload_bytes / max(1, stream.events))}


def rebuild_as_operators_do(db_url: str, nats_url: str, page: int) -> dict[str, Any]:
    """`kit projections rebuild` in its own process, as an operator runs it (not inside this one,
    whose heap of generated events would make Python's garbage collector slow the rebuild down)."""
    env = dict(os.environ, KIT_DATABASE_URL=db_url, KIT_NATS_URL=nats_url)
    done = subprocess.run([sys.executable, "-m", "entrypoints.cli", "projections", "rebuild", "--page", str(page)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"kit projections rebuild failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def baseline_copy(url: str) -> tuple[int, float]:
    """The stored events read back (server-side cursor) and written with COPY into a scratch table."""
    with psycopg.connect(url) as reader, psycopg.connect(url) as writer:
        writer.execute("CREATE TABLE IF NOT EXISTS bench.events_copy (seq bigint, body jsonb)")
        writer.execute("TRUNCATE bench.events_copy")
        writer.commit()
        n = 0
        started = time.perf_counter()
        with reader.cursor(name=f"bench_views_{uuid.uuid4().hex[:8]}") as cur, \
                writer.cursor().copy("COPY bench.events_copy (seq, body) FROM STDIN") as copy:
            cur.itersize = BASELINE_PAGE
            cur.execute("SELECT seq, body::text FROM bench.events ORDER BY seq")
            for row in cur:
                copy.write_row(row)
                n += 1
        writer.commit()
        elapsed = time.perf_counter() - started
        reader.rollback()
    return n, elapsed


# ---------------------------------------------------------------- the API under load

def serve(url: str, port: int, secret: str) -> None:
    """One HTTP API process as `kit up` runs it (services/api/wiring.py: uvicorn with uvloop and
    httptools on the shared port, its pool of connections), without the command gateway."""
    import uvicorn

    from kit.config import load_settings
    from services.api.app import create_app
    from services.api.wiring import http_pool, http_state, listening_socket

    pool = http_pool(url)
    settings = replace(load_settings(), database_url=url, jwt_secret=secret)
    app = create_app(http_state(settings, platform(), pool, commands=False))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[listening_socket("127.0.0.1", port)])


def start_api(url: str, port: int, secret: str, log_path: Path, workers: int) -> list[subprocess.Popen]:
    """`workers` API processes on one port, as `kit up` starts KIT_API_WORKERS of them."""
    env = dict(os.environ, KIT_BENCH_SECRET=secret)
    log = open(log_path, "ab")
    processes = [subprocess.Popen([sys.executable, "-m", "entrypoints.bench_views", "serve", url, str(port)], env=env,
                                  stdout=log, stderr=subprocess.STDOUT) for _ in range(workers)]
    try:
        wait_for_port(port, timeout=60)
        time.sleep(1.0)  # the others bind a moment later; connections go to whichever listens
        if any(p.poll() is not None for p in processes):
            raise RuntimeError("an API process exited")
    except RuntimeError:
        for process in processes:
            process.kill()
        raise RuntimeError(f"the API did not start: {log_path.read_text()[-2000:]}") from None
    return processes


def login(port: int, username: str, password: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/api/v1/token", urllib.parse.urlencode({"username": username, "password": password}),
                     {"Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"login of {username} failed: {response.status} {body[:200]!r}")
        return json.loads(body)["access_token"]
    finally:
        conn.close()


def sign_in_flood(port: int, username: str, password: str, api: list[subprocess.Popen],
                  requests: int = 50) -> dict[str, Any]:
    """`requests` token requests at once (each hashes a password: ~64 MiB and tens of ms of CPU),
    and meanwhile /health asked one after another: how long it answers, and the API's memory."""
    import psutil

    def health_ms() -> float:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            started = time.perf_counter()
            conn.request("GET", "/health")
            conn.getresponse().read()
            return (time.perf_counter() - started) * 1000
        finally:
            conn.close()

    def rss() -> float:
        return sum(psutil.Process(p.pid).memory_info().rss for p in api if p.poll() is None) / 2**20

    idle = sorted(health_ms() for _ in range(50))
    before, peak, statuses, during = rss(), 0.0, [], []

    def token() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            conn.request("POST", "/api/v1/token", urllib.parse.urlencode({"username": username, "password": password}),
                         {"Content-Type": "application/x-www-form-urlencoded"})
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        finally:
            conn.close()

    threads = [threading.Thread(target=token) for _ in range(requests)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        during.append(health_ms())
        peak = max(peak, rss())
    elapsed = time.perf_counter() - started
    during.sort()
    return {"token_requests": requests, "tokens_issued": statuses.count(200), "busy_503": statuses.count(503),
            "seconds": round(elapsed, 2), "health_idle_p50_ms": round(statistics.median(idle), 1),
            "health_during_p50_ms": round(statistics.median(during), 1) if during else None,
            "health_during_max_ms": round(during[-1], 1) if during else None,
            "api_rss_before_mb": round(before, 1), "api_rss_peak_mb": round(max(peak, before), 1)}


@dataclass
class Client:
    token: str
    paths: list[str]
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    bytes_read: int = 0
    cookie: bool = False  # as the web app's pages are read: the session cookie instead of the bearer header


def run_clients(port: int, clients: list[Client], seconds: float, warmup: int = 3) -> dict[str, Any]:
    """Every client in its own thread on its own keep-alive connection, for `seconds` after a warm-up."""
    barrier = threading.Barrier(len(clients) + 1)
    deadline = [0.0]

    def work(index: int, client: Client) -> None:
        rng = random.Random(index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Cookie": f"kit_session={client.token}"} if client.cookie else {"Authorization": f"Bearer {client.token}"}

        def one(record: bool) -> None:
            nonlocal conn
            path = rng.choice(client.paths)
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                ok = response.status == 200
                detail = f"{response.status} {path} {body[:200]!r}"
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                ok, body, detail = False, b"", f"{type(e).__name__}: {e} ({path})"
            elapsed = time.perf_counter() - started
            if record:
                client.latencies.append(elapsed * 1000)
                client.bytes_read += len(body)
                if not ok:
                    client.errors += 1
                    client.first_error = client.first_error or detail
            elif not ok:
                client.errors += 1
                client.first_error = client.first_error or f"warm-up: {detail}"

        try:
            for _ in range(warmup):
                one(False)
            barrier.wait()
            while time.perf_counter() < deadline[0]:
                one(True)
        finally:
            conn.close()

    threads = [threading.Thread(target=work, args=(i, c), daemon=True) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    deadline[0] = float("inf")
    barrier.wait(timeout=300)
    started = time.perf_counter()
    deadline[0] = started + seconds
    for t in threads:
        t.join(seconds + 120)
    elapsed = time.perf_counter() - started
    latencies = sorted(x for c in clients for x in c.latencies)
    requests = len(latencies)
    q = statistics.quantiles(latencies, n=100, method="inclusive") if requests > 1 else [latencies[0]] * 99
    errors = sum(c.errors for c in clients)
    return {"requests": requests, "errors": errors, "first_error": next((c.first_error for c in clients if c.first_error), None),
            "requests_per_s": round(requests / elapsed, 1), "p50_ms": round(q[49], 1), "p95_ms": round(q[94], 1),
            "p99_ms": round(q[98], 1), "max_ms": round(latencies[-1], 1), "seconds": round(elapsed, 1),
            "avg_response_bytes": round(sum(c.bytes_read for c in clients) / max(1, requests))}


def cpu_seconds(pids: dict[str, list[int]]) -> dict[str, float]:
    """User + system CPU seconds so far of each group of processes; PostgreSQL's with its backends
    (the postmaster's children), the others alone (this process's children are the API and NATS)."""
    import psutil

    def of(pid: int, children: bool) -> float:
        try:
            process = psutil.Process(pid)
            family = [process, *(process.children(recursive=True) if children else [])]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for member in family:
            try:
                times = member.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total
    return {group: sum(of(pid, group == "postgres") for pid in members) for group, members in pids.items()}


def with_cpu(pids: dict[str, list[int]], run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A load run's figures, with the CPU milliseconds each group spent per request: where the time
    of a request goes (the VM's speed changes from run to run; these figures move less than p95)."""
    before = cpu_seconds(pids)
    figures = run()
    after = cpu_seconds(pids)
    requests = max(1, figures["requests"])
    figures["cpu_ms_per_request"] = {group: round((after[group] - before[group]) * 1000 / requests, 2)
                                     for group in pids}
    return figures


def visible_youths(url: str, agency: str, policy: Register) -> list[str]:
    """The youths the agency may see now, by the API's own rule."""
    from projections.access import VISIBLE_SQL

    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT y.youth_id FROM views.youths y WHERE {VISIBLE_SQL} ORDER BY y.youth_id",
                            {"agency": agency, "category": f"category:{policy.category_of(agency)}",
                             "at": datetime.now(timezone.utc)}).fetchall()
    return [str(r[0]) for r in rows]


# ---------------------------------------------------------------- the run

def run_views_bench(events: int, clients: int, seconds: float, page: int = REBUILD_PAGE) -> dict[str, Any]:
    from shared import accounts

    if events < 100:
        raise ValueError("--events must be at least 100")
    if clients < 1 or seconds <= 0:
        raise ValueError("--clients and --seconds must be positive")
    policy = load_register()
    started = time.perf_counter()
    stream = Stream(events, policy)
    plan_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="kit-bench-views-") as tmp:
        nats_server = EmbeddedNats(Path(tmp) / "nats", free_port()).start()
        postgres = EmbeddedPostgres(Path(tmp) / "postgres").start()
        sampler = RssSampler([os.getpid(), postgres.server.get_pid()])
        sampler.start()
        api: list[subprocess.Popen] = []
        try:
            url = postgres.url
            published = asyncio.run(publish(nats_server.url, url, stream))
            registered = stream.counts.get("registered", 0)
            result: dict[str, Any] = {
                "events": events, "youths": registered, "agencies": len(policy.agencies),
                "event_mix": dict(sorted(stream.counts.items(), key=lambda kv: -kv[1])),
                "avg_event_bytes": published["avg_event_bytes"],
                "generate_publish_s": round(plan_s + published["seconds"], 1),
            }
            # the floor, twice (the first read warms the cache); the better run counts
            baseline_runs = []
            for _ in range(2):
                n, elapsed = baseline_copy(url)
                if n != events:
                    raise RuntimeError(f"the baseline copied {n} of {events} events")
                baseline_runs.append(n / elapsed)
            with psycopg.connect(url, autocommit=True) as conn:
                # the rebuild starts on a quiet server: the scratch copy gone and its dirty pages
                # written, not flushed or vacuumed by the server in the middle of the rebuild
                conn.execute("DROP TABLE bench.events_copy")
                conn.execute("CHECKPOINT")
            rebuilt = rebuild_as_operators_do(url, nats_server.url, page)
            if rebuilt["events"] != events or rebuilt.get("skipped"):
                raise RuntimeError(f"the rebuild read {rebuilt['events']} of {events} events and skipped"
                                   f" {rebuilt.get('skipped')}: every event of the benchmark must apply")
            with psycopg.connect(url, autocommit=True) as conn:
                youths = conn.execute("SELECT count(*) FROM views.youths").fetchone()[0]
                timeline_rows = conn.execute("SELECT count(*) FROM views.timeline").fetchone()[0]
                if youths != registered or timeline_rows != events:
                    raise RuntimeError(f"after the rebuild: {youths} youths (expected {registered}),"
                                       f" {timeline_rows} timeline rows (expected {events})")
                conn.execute("VACUUM ANALYZE")  # what autovacuum leaves after the rebuild's bulk writes
            result["rebuild_projections"] = [p.name for p in platform().projections]
            result["rebuild_page"] = page
            result["rebuild_seconds"] = rebuilt["seconds"]
            result["rebuild_events_per_s"] = round(rebuilt["events_per_s"])
            result["baseline_copy_events_per_s"] = round(max(baseline_runs))
            result["baseline_copy_runs_events_per_s"] = [round(r) for r in baseline_runs]
            result["rebuild_vs_baseline"] = round(rebuilt["events_per_s"] / max(baseline_runs), 3)

            # the API, against the rebuilt views
            seen = {code: len(visible_youths(url, code, policy)) for code in policy.agencies}
            busy = [code for code in sorted(seen, key=lambda code: -seen[code]) if seen[code]][:BUSY_AGENCIES]
            if not busy:
                raise RuntimeError("no agency may see any youth: nothing to read")
            with psycopg.connect(url) as conn:
                accounts.create_tables(conn)
                # named as the stream's first key worker of each agency: their landing page lists their youths
                users = [accounts.add_operator(conn, agency=agency, role="key_worker",
                                               username=f"kw-{agency}-0", password=OPERATOR_PASSWORD)
                         for agency in busy]
            store_youth_keys(url, [y.youth_id for y in stream.youths])
            port = free_port()
            secret = base64.urlsafe_b64encode(os.urandom(32)).decode()
            workers = load_settings().api_workers
            api = start_api(url, port, secret, Path(tmp) / "api.log", workers)
            result["api_workers"] = workers
            tokens = [login(port, a.username, OPERATOR_PASSWORD) for a in users]
            visible = {a.agency: visible_youths(url, a.agency, policy) for a in users}
            result["operators"] = [{"agency": a.agency, "role": a.role, "visible_youths": len(visible[a.agency])}
                                   for a in users]
            result["clients"] = clients
            # the load's own client threads run in this process: their CPU is "client"
            pids = {"api": [p.pid for p in api], "postgres": [postgres.server.get_pid()], "client": [os.getpid()]}
            caseload = with_cpu(pids, lambda: run_clients(port, [
                Client(tokens[i % len(tokens)], [f"/api/v1/youths?limit={CASELOAD_LIMIT}"]) for i in range(clients)],
                seconds))
            timeline = with_cpu(pids, lambda: run_clients(port, [
                Client(tokens[i % len(tokens)], [f"/api/v1/youths/{y}/timeline" for y in visible[users[i % len(tokens)].agency]])
                for i in range(clients)], seconds))
            # the web app's pages, as a browser asks for them (the session cookie): the landing page,
            # the caseload searched by part of a case reference, a youth's page
            pages = {
                "landing": lambda i, agency: ["/"],
                "caseload_search": lambda i, agency: [f"/youths?q={agency[:8]}-202{5 + n % 2}-00{n % 10}" for n in range(20)],
                "youth_page": lambda i, agency: [f"/youths/{y}" for y in visible[agency]],
            }
            web = {name: with_cpu(pids, lambda paths=paths: run_clients(port, [
                       Client(tokens[i % len(tokens)], paths(i, users[i % len(tokens)].agency), cookie=True)
                       for i in range(clients)], seconds))
                   for name, paths in pages.items()}
            measured = {"caseload": caseload, "timeline": timeline, **web}
            for name, figures in measured.items():
                for key in ("p50_ms", "p95_ms", "p99_ms", "requests", "errors", "requests_per_s", "cpu_ms_per_request"):
                    result[f"{name}_{key}"] = figures[key]
                result[name] = figures
            result["errors"] = sum(figures["errors"] for figures in measured.values())
            with psycopg.connect(url) as conn:
                result["access_log_rows"] = conn.execute("SELECT count(*) FROM api.access_log").fetchone()[0]
            result["sign_in_flood"] = sign_in_flood(port, users[0].username, OPERATOR_PASSWORD, api)
            sampler.stop()
            result["peak_rss_mb"] = round(sampler.peak / 2**20, 1)
            result["peak_rss_postgres_mb"] = round(sampler.peaks[postgres.server.get_pid()] / 2**20, 1)
            result["peak_rss_scope"] = ("bench process and its children (API server, nats-server)"
                                        " + postgres (postmaster and all backends), RSS summed")
            result["cpu_count"] = os.cpu_count()
            return result
        finally:
            sampler.done.set()
            for process in api:
                process.terminate()
            for process in api:
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
            nats_server.stop()
            postgres.stop()


def main(argv: list[str] | None = None) -> None:
    """`python -m entrypoints.bench_views serve URL PORT`: the benchmark's API server (secret in KIT_BENCH_SECRET)."""
    p = argparse.ArgumentParser(prog="python -m entrypoints.bench_views")
    p.add_argument("action", choices=["serve"])
    p.add_argument("url")
    p.add_argument("port", type=int)
    args = p.parse_args(argv)
    serve(args.url, args.port, os.environ["KIT_BENCH_SECRET"])


if __name__ == "__main__":
    main()
