"""Access-log queries for auditors: who read youth X, everything operator O read, in a period;
exportable as JSON or CSV. Every row is also an entry of the tamper-evident audit log."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

COLUMNS = ("id", "at", "operator_id", "username", "agency", "role", "purpose", "youth_id", "what")


# the rows matching an auditor's filters (each one optional)
MATCHING_SQL = """
  FROM api.access_log a LEFT JOIN api.operators o ON o.id = a.operator_id
 WHERE (%(youth)s::uuid IS NULL OR a.youth_id = %(youth)s::uuid)
   AND (%(operator)s::text IS NULL OR a.operator_id::text = %(operator)s OR o.username = %(operator)s)
   AND (%(agency)s::text IS NULL OR a.agency = %(agency)s)
   AND (%(purpose)s::text IS NULL OR a.purpose = %(purpose)s)
   AND (%(since)s::timestamptz IS NULL OR a.at >= %(since)s)
   AND (%(until)s::timestamptz IS NULL OR a.at < %(until)s)"""
SELECT_SQL = "SELECT a.id, a.at, a.operator_id, o.username, a.agency, a.role, a.purpose, a.youth_id, a.what"


def _filters(youth_id: str | None, operator: str | None, agency: str | None, purpose: str | None,
             since: datetime | None, until: datetime | None) -> dict[str, Any]:
    return {"youth": youth_id, "operator": operator, "agency": agency, "purpose": purpose, "since": since,
            "until": until}


def query(conn: psycopg.Connection, *, youth_id: str | None = None, operator: str | None = None,
          agency: str | None = None, purpose: str | None = None, since: datetime | None = None,
          until: datetime | None = None, limit: int = 10000) -> list[dict[str, Any]]:
    """The matching rows, oldest first, at most `limit`. `operator` matches the operator's id or
    username."""
    rows = conn.cursor(row_factory=dict_row).execute(
        f"{SELECT_SQL}{MATCHING_SQL} ORDER BY a.id LIMIT %(limit)s",
        _filters(youth_id, operator, agency, purpose, since, until) | {"limit": limit}).fetchall()
    return [_jsonable(row) for row in rows]


def page(conn: psycopg.Connection, *, offset: int, limit: int, youth_id: str | None = None,
         operator: str | None = None, agency: str | None = None, purpose: str | None = None,
         since: datetime | None = None, until: datetime | None = None) -> tuple[list[dict[str, Any]], int]:
    """A page of the matching rows, newest first, and how many match (however many there are)."""
    rows = conn.cursor(row_factory=dict_row).execute(
        f"{SELECT_SQL}, count(*) OVER () AS total{MATCHING_SQL} ORDER BY a.id DESC LIMIT %(limit)s OFFSET %(offset)s",
        _filters(youth_id, operator, agency, purpose, since, until) | {"limit": limit, "offset": offset}).fetchall()
    total = rows[0]["total"] if rows else 0
    return [_jsonable({k: v for k, v in row.items() if k != "total"}) for row in rows], total


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else str(v) if v is not None and k.endswith("_id") else v)
            for k, v in row.items()}


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
