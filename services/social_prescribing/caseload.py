"""Link workers' caseloads, counted from the service's cases (`cases_view.py`, kept from its own
log): which youths each link worker follows and whether they are active (accepted, and not every
prescription since ended). A link worker holds about 40 active youths at a time; accepting a
referral for one who already has that many is accepted with a notice, so that the agency sees the
load as it assigns (`KIT_LINK_WORKER_CASELOAD`). No cases yet (the service has not made its
tables): no load."""

from __future__ import annotations

import psycopg

from services.social_prescribing.cases_view import TABLE

DEFAULT_THRESHOLD = 40


def threshold(env) -> int:
    """Active youths per link worker from which accepting another comes with a notice."""
    value = env.get("KIT_LINK_WORKER_CASELOAD") or str(DEFAULT_THRESHOLD)
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"KIT_LINK_WORKER_CASELOAD must be a whole number of youths, 1 or more, not {value!r}")
    return int(value)


def active_count(conn: psycopg.Connection, agency: str, link_worker: str) -> int:
    return _rows(conn, f"SELECT count(*) FROM {TABLE} WHERE to_agency = %s AND link_worker = %s AND active",
                 (agency, link_worker))[0][0]


def by_link_worker(conn: psycopg.Connection, agency: str) -> list[tuple[str, int]]:
    """The agency's link workers with how many active youths each follows, busiest first."""
    return [(lw, n) for lw, n in _rows(
        conn, f"SELECT link_worker, count(*) FILTER (WHERE active) FROM {TABLE} WHERE to_agency = %s"
              " AND link_worker IS NOT NULL GROUP BY link_worker ORDER BY 2 DESC, 1", (agency,))]


def _rows(conn: psycopg.Connection, statement: str, args: tuple) -> list[tuple]:
    try:
        with conn.transaction():  # a savepoint: a missing table leaves the caller's transaction usable
            return conn.execute(statement, args).fetchall()
    except psycopg.errors.UndefinedTable:
        return [(0,)] if statement.startswith("SELECT count(*)") else []
