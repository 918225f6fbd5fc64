"""Link workers' caseloads, kept from the service's own log: which youths each link worker follows
and whether they are active (accepted, and not every prescription ended). A link worker holds about
40 active youths at a time; accepting a referral for one who already has that many is accepted
with a notice, so that the agency sees the load as it assigns (`KIT_LINK_WORKER_CASELOAD`)."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from kit.store import Store
from services.social_prescribing.aggregates import YouthCase
from services.social_prescribing.case import Case
from services.social_prescribing.directory import SCHEMA

DEFAULT_THRESHOLD = 40

DDL = f"""
CREATE TABLE IF NOT EXISTS {SCHEMA}.caseload (
    youth_id uuid PRIMARY KEY,
    agency text NOT NULL,
    link_worker text NOT NULL,
    active boolean NOT NULL
);
CREATE INDEX IF NOT EXISTS caseload_link_worker ON {SCHEMA}.caseload (agency, link_worker) WHERE active;
"""


def threshold(env) -> int:
    """Active youths per link worker from which accepting another comes with a notice."""
    value = env.get("KIT_LINK_WORKER_CASELOAD") or str(DEFAULT_THRESHOLD)
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"KIT_LINK_WORKER_CASELOAD must be a whole number of youths, 1 or more, not {value!r}")
    return int(value)


def is_active(case: Case) -> bool:
    """Accepted, with no prescription yet or one still running."""
    return case.active()


class CaseloadView:
    name = "link_worker_caseload"
    topics = (YouthCase.Started.TOPIC, YouthCase.Recorded.TOPIC)

    def __init__(self, store: Store):
        self.store = store

    def create_tables(self, conn: psycopg.Connection) -> None:
        conn.execute(DDL)

    def apply(self, conn: psycopg.Connection, events: Sequence[object]) -> None:
        touched: dict = {}
        for e in events:
            if isinstance(e, (YouthCase.Started, YouthCase.Recorded)):
                touched[e.originator_id] = max(touched.get(e.originator_id, 0), e.originator_version)
        for youth_id, version in touched.items():
            case = self.store.at_least(youth_id, version).state
            referral = case.referral
            if referral is None or referral.link_worker is None:
                conn.execute(f"DELETE FROM {SCHEMA}.caseload WHERE youth_id = %s", (youth_id,))
                continue
            conn.execute(f"INSERT INTO {SCHEMA}.caseload VALUES (%s, %s, %s, %s) ON CONFLICT (youth_id) DO UPDATE"
                         " SET agency = EXCLUDED.agency, link_worker = EXCLUDED.link_worker, active = EXCLUDED.active",
                         (youth_id, referral.to_agency, referral.link_worker, is_active(case)))


def active_count(conn: psycopg.Connection, agency: str, link_worker: str) -> int:
    try:
        return conn.execute(f"SELECT count(*) FROM {SCHEMA}.caseload WHERE agency = %s AND link_worker = %s AND active",
                            (agency, link_worker)).fetchone()[0]
    except psycopg.errors.UndefinedTable:
        return 0


def by_link_worker(conn: psycopg.Connection, agency: str) -> list[tuple[str, int]]:
    """The agency's link workers with how many active youths each follows, busiest first."""
    return [(lw, n) for lw, n in conn.execute(
        f"SELECT link_worker, count(*) FILTER (WHERE active) FROM {SCHEMA}.caseload WHERE agency = %s"
        " GROUP BY link_worker ORDER BY 2 DESC, 1", (agency,))]
