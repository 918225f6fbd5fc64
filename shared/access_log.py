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


def query(conn: psycopg.Connection, *, youth_id: str | None = None, operator: str | None = None,
          since: datetime | None = None, until: datetime | None = None, limit: int = 10000) -> list[dict[str, Any]]:
    """`operator` matches the operator's id or username."""
    rows = conn.cursor(row_factory=dict_row).execute(
        "SELECT a.id, a.at, a.operator_id, o.username, a.agency, a.role, a.purpose, a.youth_id, a.what"
        " FROM api.access_log a LEFT JOIN api.operators o ON o.id = a.operator_id"
        " WHERE (%(youth)s::uuid IS NULL OR a.youth_id = %(youth)s::uuid)"
        " AND (%(operator)s::text IS NULL OR a.operator_id::text = %(operator)s OR o.username = %(operator)s)"
        " AND (%(since)s::timestamptz IS NULL OR a.at >= %(since)s)"
        " AND (%(until)s::timestamptz IS NULL OR a.at < %(until)s)"
        " ORDER BY a.id LIMIT %(limit)s",
        {"youth": youth_id, "operator": operator, "since": since, "until": until, "limit": limit}).fetchall()
    return [{k: (v.isoformat() if isinstance(v, datetime) else str(v) if v is not None and k.endswith("_id") else v)
             for k, v in row.items()} for row in rows]


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
