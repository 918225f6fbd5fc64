"""The agency's social prescribing cases, kept from the service's own log: per youth, the referral
(from whom, to whom, its status, the link worker), how their prescriptions stand (placed and
running, waiting, ended) and whether the youth is active for their link worker (what the caseloads
count, `caseload.py`). Pseudonymous: no youth's words, no wellbeing; the link workers' list reads it
under the consent rule at the time of the request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from kit.store import Store
from projections.access import VISIBLE_ROW_SQL
from services.social_prescribing.aggregates import YouthCase
from services.social_prescribing.directory import SCHEMA

TABLE = f"{SCHEMA}.cases"
DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    youth_id uuid PRIMARY KEY,
    referral_id text NOT NULL,
    from_agency text NOT NULL,
    to_agency text NOT NULL,
    status text NOT NULL,            -- received | accepted | declined
    link_worker text,
    received_on date,
    running integer NOT NULL,        -- prescriptions with a place, not ended
    waiting integer NOT NULL,        -- prescriptions on a waitlist
    ended integer NOT NULL,
    updated_at timestamptz NOT NULL,
    active boolean NOT NULL          -- followed now (Case.active): what a link worker's caseload counts
);
CREATE INDEX IF NOT EXISTS cases_agency ON {TABLE} (to_agency, status, updated_at DESC);
CREATE INDEX IF NOT EXISTS cases_link_worker ON {TABLE} (to_agency, link_worker) WHERE active;
"""


class CasesView:
    name = "cases"
    topics = (YouthCase.Started.TOPIC, YouthCase.Recorded.TOPIC)

    def __init__(self, store: Store):
        self.store = store

    def create_tables(self, conn: psycopg.Connection) -> None:
        conn.execute(DDL)

    def apply(self, conn: psycopg.Connection, events: Sequence[Any]) -> None:
        touched: dict = {}
        for e in events:
            touched[e.originator_id] = max(touched.get(e.originator_id, (0, e.timestamp)), (e.originator_version,
                                                                                           e.timestamp))
        for youth_id, (version, at) in touched.items():
            referral = (case := self.store.at_least(youth_id, version).state).referral
            if referral is None:
                continue
            prescriptions = case.prescriptions.values()
            conn.execute(
                f"INSERT INTO {TABLE} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (youth_id) DO UPDATE"
                " SET referral_id = EXCLUDED.referral_id, from_agency = EXCLUDED.from_agency,"
                " to_agency = EXCLUDED.to_agency, status = EXCLUDED.status, link_worker = EXCLUDED.link_worker,"
                " received_on = EXCLUDED.received_on, running = EXCLUDED.running, waiting = EXCLUDED.waiting,"
                " ended = EXCLUDED.ended, updated_at = EXCLUDED.updated_at, active = EXCLUDED.active",
                (youth_id, referral.referral_id, referral.from_agency, referral.to_agency, referral.status,
                 referral.link_worker, referral.received_on,
                 sum(1 for p in prescriptions if p.placed and not p.ended),
                 sum(1 for p in prescriptions if not p.placed and not p.ended),
                 sum(1 for p in prescriptions if p.ended), at, case.active()))


CASES_SQL = f"""
SELECT s.youth_id::text, s.referral_id, s.from_agency, s.to_agency, s.status, s.link_worker, s.received_on, s.running,
       s.waiting, s.ended, s.updated_at, y.partner_case_ref, y.birth_year, count(*) OVER () AS total
  FROM {TABLE} s JOIN views.youths y ON y.youth_id = s.youth_id
 WHERE s.{{side}}_agency = %(agency)s AND s.status = ANY(%(statuses)s)
   AND (%(link_worker)s::text IS NULL OR s.link_worker = %(link_worker)s)
   AND {VISIBLE_ROW_SQL}
 ORDER BY s.updated_at DESC, s.youth_id LIMIT %(limit)s OFFSET %(offset)s
"""


def cases(conn: psycopg.Connection, visibility: dict[str, Any], *, statuses: Sequence[str], side: str = "to",
          link_worker: str | None, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The cases referred to the agency (`side` "to") or by it ("from") in these statuses (one link
    worker's, or all), newest change first, for youths the agency may see now (`visibility`: the
    consent rule's arguments)."""
    if side not in ("to", "from"):
        raise ValueError(side)
    try:
        with conn.transaction():  # a savepoint: a missing table leaves the caller's transaction usable
            rows = conn.cursor(row_factory=dict_row).execute(CASES_SQL.format(side=side), visibility | {
                "statuses": list(statuses), "link_worker": link_worker, "limit": limit, "offset": offset}).fetchall()
    except psycopg.errors.UndefinedTable:  # the service has not started yet: no case
        return [], 0
    total = rows[0]["total"] if rows else 0
    return [{k: v for k, v in r.items() if k != "total"} for r in rows], total
