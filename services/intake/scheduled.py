"""The platform's own work on intake, on a schedule: a youth not reached for the configured number
of days gets a ContactLost event (the key worker's alert); a closed case past its retention period
gets its erasure scheduled, and is erased on that day unless an agency admin stopped it.

Candidates come from intake's own watch list (a view of its own log, in its own schema); each is
decided again on the youth's history through the runtime, so a stale row can delay an alert,
never invent one. Each command is keyed by what makes it unique (the youth and the day), so two
replicas or two scans record it once.

When: a scan right after start (again every few seconds until the watch list exists), then every
KIT_ALERT_INTERVAL seconds. Between scans, a youth whose history arrives already past its
threshold (contacts recorded late, a partner's backlog, the demo) is flagged within seconds: the
watch list notes it as it writes the row, and the scheduler flags what was noted every second.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone

import psycopg

from events.intake import ApplyRetention, FlagLostContact
from kit.runtime import Runtime
from kit.store import Store
from services.intake.aggregates import YouthCase
from services.intake.store import SCHEMA

log = logging.getLogger("kit.intake.scheduled")
ACTOR = "kit-scheduler"

WATCH_DDL = f"""
CREATE TABLE IF NOT EXISTS {SCHEMA}.watch (
    youth_id uuid PRIMARY KEY,
    contact_clock timestamptz NOT NULL,  -- last successful contact, else registration
    lost_after_days int,                 -- the youth's own threshold, else the policy's
    lost_contact boolean NOT NULL,
    open boolean NOT NULL,               -- neither closed, merged nor erased
    closed boolean NOT NULL,
    erased boolean NOT NULL,
    exited_on date
);
ALTER TABLE {SCHEMA}.watch ADD COLUMN IF NOT EXISTS retention_stopped boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS watch_open ON {SCHEMA}.watch (contact_clock) WHERE open AND NOT lost_contact;
CREATE INDEX IF NOT EXISTS watch_closed ON {SCHEMA}.watch (exited_on) WHERE closed AND NOT erased;
"""

UPSERT = f"""
INSERT INTO {SCHEMA}.watch (youth_id, contact_clock, lost_after_days, lost_contact, open, closed, erased, exited_on,
                            retention_stopped) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (youth_id) DO UPDATE SET contact_clock = EXCLUDED.contact_clock,
  lost_after_days = EXCLUDED.lost_after_days, lost_contact = EXCLUDED.lost_contact, open = EXCLUDED.open,
  closed = EXCLUDED.closed, erased = EXCLUDED.erased, exited_on = EXCLUDED.exited_on,
  retention_stopped = EXCLUDED.retention_stopped
"""

LOST_CONTACT = f"""
SELECT youth_id::text FROM {SCHEMA}.watch
 WHERE open AND NOT lost_contact
   AND contact_clock <= %(now)s - make_interval(days => coalesce(lost_after_days, %(days)s))
 ORDER BY contact_clock LIMIT 1000
"""

RETENTION = (f"SELECT youth_id::text FROM {SCHEMA}.watch WHERE closed AND NOT erased AND NOT retention_stopped"
             " ORDER BY exited_on LIMIT 1000")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Watchlist:
    """What the scans need of each youth's case, from the case as its history leaves it.

    Given `lost_contact_days` (the policy's threshold), it also notes the youths whose row it
    writes already past their threshold, for the scheduler to flag now (`take_due`)."""

    name = "watchlist"
    topics = (YouthCase.Started.TOPIC, YouthCase.Recorded.TOPIC)

    def __init__(self, store: Store, lost_contact_days: int | None = None, clock: Callable[[], datetime] = utc_now):
        self.store = store
        self.lost_contact_days = lost_contact_days
        self.clock = clock
        self._due: set[str] = set()
        self._lock = threading.Lock()  # apply() runs in a worker thread, take_due() on the event loop

    def take_due(self) -> list[str]:
        """The youths noted as already due since the last call."""
        with self._lock:
            due, self._due = sorted(self._due), set()
        return due

    def create_tables(self, conn: psycopg.Connection) -> None:
        conn.execute(WATCH_DDL)

    def apply(self, conn: psycopg.Connection, events: Sequence[object]) -> None:
        touched: dict = {}  # youth -> the newest version of the page
        for e in events:
            if isinstance(e, (YouthCase.Started, YouthCase.Recorded)):
                touched[e.originator_id] = max(touched.get(e.originator_id, 0), e.originator_version)
        rows, due = [], []
        now = self.clock()
        for youth_id, version in touched.items():
            case = self.store.at_least(youth_id, version).state
            is_open = not (case.closed or case.merged_into or case.erased)
            rows.append((youth_id, case.contact_clock, case.lost_after_days, case.lost_contact, is_open, case.closed,
                         case.erased, case.exited_on, case.retention_stopped))
            if (self.lost_contact_days is not None and is_open and not case.lost_contact
                    and case.contact_clock <= now - timedelta(days=case.lost_after_days or self.lost_contact_days)):
                due.append(str(youth_id))
        if rows:
            with conn.cursor() as cur:
                cur.executemany(UPSERT, rows)
        if due:  # (a page applied twice, or rolled back, only asks again: the decision checks the history)
            with self._lock:
                self._due.update(due)


def candidates(db_url: str, query: str, **args) -> list[str]:
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute(query, args)]


def flag_lost_contact(runtime: Runtime, youth_ids: Sequence[str], now: datetime) -> int:
    """The lost-contact command for these youths (recorded where the history says it is due, once a
    day per youth whoever asks); how many alerts were recorded."""
    day = now.date().isoformat()
    flagged = runtime.submit([(f"lost-contact:{y}:{day}", FlagLostContact(youth_id=y)) for y in youth_ids], now, ACTOR)
    return sum(1 for _, new in flagged if new)


def scan(runtime: Runtime, db_url: str, lost_contact_days: int, now: datetime) -> tuple[int, int]:
    """One pass: lost-contact alerts and retention steps (erasures scheduled or run) that came due;
    how many were recorded."""
    day = now.date().isoformat()
    flagged = flag_lost_contact(runtime, candidates(db_url, LOST_CONTACT, now=now, days=lost_contact_days), now)
    closed = candidates(db_url, RETENTION)
    erased = runtime.submit([(f"retention:{y}:{day}", ApplyRetention(youth_id=y)) for y in closed], now, ACTOR)
    return flagged, sum(1 for _, new in erased if new)


async def run_schedule(runtime: Runtime, db_url: str, lost_contact_days: int, interval: float,
                       stop: asyncio.Event, *, watchlist: Watchlist | None = None, retry: float = 2.0,
                       tick: float = 1.0, clock: Callable[[], datetime] = utc_now) -> None:
    """A scan right after start, again every `retry` seconds while the watch list is not there yet,
    then every `interval` seconds; every `tick` seconds meanwhile, the youths the `watchlist`
    noted as already due are flagged."""
    loop = asyncio.get_running_loop()
    next_scan = loop.time()
    while not stop.is_set():
        if loop.time() >= next_scan:
            next_scan = loop.time() + (interval if await _scan_once(runtime, db_url, lost_contact_days, clock())
                                       else min(retry, interval))
        elif watchlist is not None and (due := watchlist.take_due()):
            try:
                flagged = await asyncio.to_thread(flag_lost_contact, runtime, due, clock())
                if flagged:
                    log.info("%d lost-contact alerts (histories that arrived already due)", flagged)
            except Exception:  # the next scan finds them
                log.exception("flagging youths already due failed; the next scan looks again")
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, min(tick, next_scan - loop.time())))
        except TimeoutError:
            pass


async def _scan_once(runtime: Runtime, db_url: str, lost_contact_days: int, now: datetime) -> bool:
    """One scan; False when it could not look yet (the watch list is still being created)."""
    try:
        flagged, erased = await asyncio.to_thread(scan, runtime, db_url, lost_contact_days, now)
    except psycopg.errors.UndefinedTable:
        return False
    except Exception:
        log.exception("scheduled scan failed; trying again at the next interval")
        return True
    if flagged or erased:
        log.info("scheduled: %d lost-contact alerts, %d retention erasures", flagged, erased)
    return True
