"""The platform's own work on intake, on a schedule: a youth not reached for the configured number
of days gets a ContactLost event (the key worker's alert); a closed case past its retention period
gets its erasure scheduled, and is erased on that day unless an agency admin stopped it.

Candidates come from intake's own watch list (a view of its own log, in its own schema); each is
decided again on the youth's history through the runtime, so a stale row can delay an alert,
never invent one. Each command is keyed by what makes it unique (the youth and the day), so two
replicas or two scans record it once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timezone

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


class Watchlist:
    """What the scans need of each youth's case, from the case as its history leaves it."""

    name = "watchlist"
    topics = (YouthCase.Started.TOPIC, YouthCase.Recorded.TOPIC)

    def __init__(self, store: Store):
        self.store = store

    def create_tables(self, conn: psycopg.Connection) -> None:
        conn.execute(WATCH_DDL)

    def apply(self, conn: psycopg.Connection, events: Sequence[object]) -> None:
        touched: dict = {}  # youth -> the newest version of the page
        for e in events:
            if isinstance(e, (YouthCase.Started, YouthCase.Recorded)):
                touched[e.originator_id] = max(touched.get(e.originator_id, 0), e.originator_version)
        rows = []
        for youth_id, version in touched.items():
            case = self.store.at_least(youth_id, version).state
            rows.append((youth_id, case.contact_clock, case.lost_after_days, case.lost_contact,
                         not (case.closed or case.merged_into or case.erased), case.closed, case.erased,
                         case.exited_on, case.retention_stopped))
        if rows:
            with conn.cursor() as cur:
                cur.executemany(UPSERT, rows)


def candidates(db_url: str, query: str, **args) -> list[str]:
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute(query, args)]


def scan(runtime: Runtime, db_url: str, lost_contact_days: int, now: datetime) -> tuple[int, int]:
    """One pass: lost-contact alerts and retention steps (erasures scheduled or run) that came due;
    how many were recorded."""
    day = now.date().isoformat()
    lost = candidates(db_url, LOST_CONTACT, now=now, days=lost_contact_days)
    flagged = runtime.submit([(f"lost-contact:{y}:{day}", FlagLostContact(youth_id=y)) for y in lost], now, ACTOR)
    closed = candidates(db_url, RETENTION)
    erased = runtime.submit([(f"retention:{y}:{day}", ApplyRetention(youth_id=y)) for y in closed], now, ACTOR)
    return sum(1 for _, new in flagged if new), sum(1 for _, new in erased if new)


async def run_schedule(runtime: Runtime, db_url: str, lost_contact_days: int, interval: float,
                       stop: asyncio.Event) -> None:
    """A scan at start, then every `interval` seconds."""
    while not stop.is_set():
        try:
            flagged, erased = await asyncio.to_thread(scan, runtime, db_url, lost_contact_days,
                                                      datetime.now(timezone.utc))
            if flagged or erased:
                log.info("scheduled: %d lost-contact alerts, %d retention erasures", flagged, erased)
        except psycopg.errors.UndefinedTable:
            pass  # the watch list is being created
        except Exception:
            log.exception("scheduled scan failed; trying again at the next interval")
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            pass
