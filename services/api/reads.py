"""What operators read about youths, with the authorization that goes with it: agency scope and
consent at the time of the request (fail-closed), role-based withholding of special-category data
and identity, and an access-log row for every read. The HTTP API and the web app both use this,
so the rules live in one place.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from shared.roles import may
from kit.vault import VaultKeys, decrypt_for
from projections.access import CASELOAD_ROW_SQL, CASELOAD_ROWS_SQL, VISIBLE_ROW_SQL, VISIBLE_SQL, may_access_youth
from shared import accounts
from shared.accounts import Operator
from kit.service import Platform
from kit.streams import events_stream
from shared.agencies import Register, today_in
from shared.pseudonyms import engagement_id
from shared.case_notes import notes_of
from shared.search_tokens import search_owners

STATUS_SQL = {
    "registered": "y.lead_agency IS NULL AND y.closed_on IS NULL",
    "active": "y.lead_agency IS NOT NULL AND y.closed_on IS NULL AND NOT y.lost_contact",
    "lost_contact": "y.lost_contact AND y.closed_on IS NULL",
    "closed": "y.closed_on IS NOT NULL",
}
REFERRAL_ANSWER_DAYS = 7
PROBE_AT_MOST = 500  # youths a search found that are checked one by one (more: against the whole caseload)
ID_START = re.compile(r"[0-9a-f]{4}[0-9a-f-]{0,32}")  # what a search by id looks like
# what a caseload row shows (no special-category data, nothing the list does not display)
CASELOAD_COLUMNS = ("youth_id", "registering_agency", "partner_case_ref", "birth_year", "country", "region",
                    "registered_at", "first_contact_at", "lead_agency", "key_worker", "neet_status", "project_version",
                    "next_review_due", "last_contact_at", "lost_contact", "closed_on", "destination",
                    "erasure_scheduled_for")
CASELOAD_SELECT = ", ".join(f"y.{column}" for column in CASELOAD_COLUMNS)


# one row per alert of the caller's agency, for youths it may see now
ALERTS_SQL = """
SELECT 'lost_contact' AS kind, y.youth_id, y.key_worker, y.partner_case_ref, y.last_contact_at AS since FROM views.youths y
 WHERE y.lost_contact AND y.closed_on IS NULL AND coalesce(y.lead_agency, y.registering_agency) = %(agency)s
   AND {visible}
UNION ALL
SELECT 'review_overdue', y.youth_id, y.key_worker, y.partner_case_ref, y.next_review_due::timestamptz FROM views.youths y
 WHERE y.next_review_due < %(today)s AND y.closed_on IS NULL AND y.lead_agency = %(agency)s AND {visible}
UNION ALL
SELECT 'follow_up_due', y.youth_id, y.key_worker, y.partner_case_ref, f.due_on::timestamptz
  FROM views.follow_ups f JOIN views.youths y USING (youth_id)
 WHERE f.recorded_on IS NULL AND f.due_on <= %(today)s AND coalesce(y.lead_agency, y.registering_agency) = %(agency)s
   AND {visible}
UNION ALL
SELECT 'contact_due', y.youth_id, y.key_worker, y.partner_case_ref, y.next_contact_due::timestamptz FROM views.youths y
 WHERE y.next_contact_due <= %(today)s AND NOT y.lost_contact AND y.closed_on IS NULL AND y.lead_agency = %(agency)s
   AND {visible}
UNION ALL
SELECT 'referral_unanswered', y.youth_id, y.key_worker, y.partner_case_ref, r.requested_at
  FROM views.referrals r JOIN views.youths y USING (youth_id)
 WHERE r.status = 'requested' AND r.to_agency = %(agency)s AND r.requested_at < now() - make_interval(days => %(answer_days)s)
   AND {visible}
UNION ALL
SELECT 'erasure_scheduled', y.youth_id, y.key_worker, y.partner_case_ref, y.erasure_scheduled_for::timestamptz
  FROM views.youths y
 WHERE y.erasure_scheduled_for IS NOT NULL
   AND y.youth_id IN (SELECT a.youth_id FROM views.youth_agencies a WHERE a.agency = %(agency)s)
ORDER BY since
"""
# (a scheduled erasure is shown to every agency in the youth's path, consent in force or not: its
# admin may stop it; the row names the pseudonym and the day only)


# "My day": the youths an operator follows (or the whole agency's), most urgent first: lost
# contact, an overdue review, a follow-up due, a contact due by the agreed cadence; then the rest
# of the open cases. A closed case shows while one of its follow-ups is due. One statement: a page
# of them with their sealed names, how many there are, and the referrals waiting, as JSON.
DAY_SQL = """
WITH followed AS (
  SELECT y.youth_id, y.partner_case_ref, y.key_worker, y.lead_agency, y.last_contact_at, y.next_review_due,
         y.next_contact_due, y.lost_contact, y.closed_on, y.registered_at,
         (SELECT min(f.due_on) FROM views.follow_ups f WHERE f.youth_id = y.youth_id AND f.recorded_on IS NULL)
           AS follow_up_due
    FROM views.youths y
   WHERE coalesce(y.lead_agency, y.registering_agency) = %(agency)s AND {mine} AND {visible}
), flagged AS (
  SELECT f.*,
         (f.closed_on IS NULL AND f.lost_contact) AS is_lost,
         (f.closed_on IS NULL AND f.next_review_due < %(today)s) AS is_review_overdue,
         (f.follow_up_due <= %(today)s) AS is_follow_up_due,
         (f.closed_on IS NULL AND NOT f.lost_contact AND f.next_contact_due <= %(today)s) AS is_contact_due
    FROM followed f WHERE f.closed_on IS NULL OR f.follow_up_due <= %(today)s
), ranked AS (
  SELECT *, CASE WHEN is_lost THEN 1 WHEN is_review_overdue THEN 2 WHEN is_follow_up_due THEN 3
                 WHEN is_contact_due THEN 4 ELSE 5 END AS urgency
    FROM flagged
), page AS (
  SELECT *, row_number() OVER (ORDER BY urgency, least(next_review_due, follow_up_due, next_contact_due) NULLS LAST,
                                        registered_at DESC, youth_id) AS position,
         count(*) OVER () AS total
    FROM ranked
   ORDER BY position LIMIT %(limit)s OFFSET %(offset)s
), waiting AS ({waiting})
SELECT json_build_object(
  'rows', coalesce((SELECT json_agg(p ORDER BY p.position) FROM (SELECT page.*, {sealed_name} AS sealed_name,
                                                                   {wrapped_key} AS wrapped_key FROM page) p), '[]'),
  'waiting', coalesce((SELECT json_agg(w ORDER BY w.updated_at DESC) FROM waiting w), '[]'))::text
"""
# the sealed name of a list's youth, for roles that may read identity (opened with the youth's key)
SEALED_NAME_SQL = "(SELECT v.ciphertext FROM views.vault v WHERE v.person_id = {youth} AND v.youth_id = {youth})"
# a youth's record in one statement: the row, and its agencies, consents, follow-ups and referrals
# as JSON lists (ids and times as text, as the API sends them)
RECORD_SQL = """
SELECT y.*,
  (SELECT coalesce(json_agg(DISTINCT a.agency ORDER BY a.agency), '[]') FROM views.youth_agencies a
    WHERE a.youth_id = y.youth_id) AS agencies,
  (SELECT coalesce(json_agg(c ORDER BY c.given_at), '[]') FROM (
     SELECT consent_id, purpose, recipient, legal_basis, given_by, notice_version, given_at, expires_at, withdrawn_at,
            invalidated_at, recorded_by FROM views.consents WHERE youth_id = y.youth_id) c) AS consents,
  (SELECT coalesce(json_agg(f ORDER BY f.checkpoint_months), '[]') FROM (
     SELECT checkpoint_months, due_on, recorded_on, situation FROM views.follow_ups WHERE youth_id = y.youth_id) f)
    AS follow_ups,
  (SELECT coalesce(json_agg(r ORDER BY r.requested_at), '[]') FROM (
     SELECT referral_id, from_agency, to_agency, service, status, transfer_lead, requested_at, updated_at
       FROM views.referrals WHERE youth_id = y.youth_id) r) AS referrals{more}
  FROM views.youths y WHERE y.youth_id = %(youth)s::uuid{visible}
"""
# what the youth's web page adds to the record in the same statement, when the youth is visible:
# the sealed identity and the youth's wrapped key (NULL for roles without identity), the path in
# the order it happened, and the usernames of who recorded each step or note
YOUTH_PAGE_MORE = """,
  {sealed_name} AS sealed_identity, {wrapped_key} AS wrapped_key,
  (SELECT coalesce(json_agg(t ORDER BY t.happened_at, t.stream_seq), '[]') FROM (
     SELECT event_id, at, happened_at, type, agency, actor, role, classification, data, stream_seq
       FROM views.timeline WHERE youth_id = y.youth_id) t) AS timeline,
  (SELECT coalesce(json_object_agg(o.id, o.username), '{{}}') FROM {operators} o WHERE o.id = ANY(ARRAY(
     SELECT actor::uuid FROM (SELECT t.actor FROM views.timeline t WHERE t.youth_id = y.youth_id
                              UNION SELECT n.actor FROM views.case_notes n WHERE n.youth_id = y.youth_id) a
      WHERE a.actor ~ '^[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}$'))) AS usernames"""
# an agency's referrals, received ({column} = to_agency) or sent, for youths it may still see
REFERRALS_SQL = """
SELECT r.*, y.partner_case_ref FROM views.referrals r JOIN views.youths y USING (youth_id)
 WHERE r.{column} = %(agency)s AND (%(status)s::text IS NULL OR r.status = %(status)s) AND {visible}
 ORDER BY r.updated_at DESC LIMIT 500
"""
LIKE_SPECIALS = str.maketrans({"%": "\\%", "_": "\\_", "\\": "\\\\"})


def contains(text: str) -> str:
    """A LIKE pattern for text anywhere (its own % and _ taken literally)."""
    return f"%{text.translate(LIKE_SPECIALS)}%"


# Read-your-writes: every view an operator reads after a service's command has applied its events
# (the receipt says up to which sequence of the service's events stream they lie).
APPLIED_SQL = """
SELECT count(*) = cardinality(%(projections)s::text[]) FROM views.positions
 WHERE stream = %(stream)s AND projection = ANY(%(projections)s) AND position >= %(seq)s
"""


class NotVisible(LookupError):
    """No such youth visible to the caller's agency (never says which)."""


@dataclass
class CaseReads:
    pool: ConnectionPool
    policy: Register
    vault_keys: VaultKeys | None = None
    pseudonym_key: bytes | None = None
    platform: Platform | None = None  # for read-your-writes: which views each service's commands feed

    def require_active(self, operator: Operator) -> Operator:
        """For what reads no youth (commands, settings): the account must still be as the token says
        (returned with its username)."""
        with self.pool.connection() as conn:
            return accounts.require_active(conn, operator)

    def visibility_args(self, operator: Operator) -> dict[str, Any]:
        return {"agency": operator.agency, "category": f"category:{self.policy.category_of(operator.agency)}",
                "at": datetime.now(timezone.utc)}

    def caseload(self, operator: Operator, *, limit: int = 50, offset: int = 0, q: str | None = None,
                 status: str | None = None, key_worker: str | None = None, region: str | None = None
                 ) -> tuple[list[dict[str, Any]], int]:
        """A page of the agency's caseload, newest registration first (rows as JSON values: ids
        and times as text), and how many there are."""
        with self.pool.connection() as conn, conn.transaction():
            page = json.loads(self._caseload_page(conn, operator, limit=limit, offset=offset, q=q, status=status,
                                                  key_worker=key_worker, region=region, names=True))
            accounts.log_access(conn, operator, purpose="case_management", what=self._list_read("youth list", operator))
        rows = page["items"]
        self._open_sealed_rows(rows)
        return rows, page["total"]

    def caseload_json(self, operator: Operator, *, limit: int = 50, offset: int = 0, q: str | None = None,
                      status: str | None = None, key_worker: str | None = None, region: str | None = None) -> str:
        """The same page as the API sends it, {"items", "total", "limit", "offset"}, written by
        PostgreSQL: the API's busiest read builds no Python object per row."""
        with self.pool.connection() as conn, conn.transaction():
            page = self._caseload_page(conn, operator, limit=limit, offset=offset, q=q, status=status,
                                       key_worker=key_worker, region=region)
            accounts.log_access(conn, operator, purpose="case_management", what="youth list")
        return page

    def _caseload_page(self, conn: psycopg.Connection, operator: Operator, *, limit: int, offset: int,
                       q: str | None, status: str | None, key_worker: str | None, region: str | None,
                       names: bool = False) -> str:
        """The page as JSON text; with `names`, each row has its `sealed_name` and `wrapped_key`
        (NULL for roles that may not read identity), opened by `_open_names`."""
        args = self.visibility_args(operator) | {"limit": limit, "offset": offset, "key_worker": key_worker or None,
                                                 "region": region or None, "q": q or None, "engagement": None}
        if q and self.pseudonym_key is not None:  # a nickname is found by its keyed pseudonym, never stored in clear
            args["engagement"] = engagement_id(self.pseudonym_key, operator.agency, q.strip())
        # the youths a search finds, each way looked up by its own index (a trigram index on the case
        # reference, the nickname's keyed pseudonym, the search tokens), not by scanning every youth
        found_ids = ["SELECT youth_id FROM views.youths WHERE partner_case_ref ILIKE %(q_anywhere)s",
                     "SELECT youth_id FROM views.youths WHERE engagement_id = %(engagement)s"]
        if q and ID_START.fullmatch(q.strip().lower()):  # the start of a pseudonymous id (the API's users search so)
            found_ids.append("SELECT youth_id FROM views.youths WHERE youth_id::text LIKE lower(%(q)s) || '%%'")
        if q:
            args["q_anywhere"] = contains(q.strip())
            if self.pseudonym_key is not None:  # names and nicknames through their keyed search tokens
                owners, token_args = search_owners(self.pseudonym_key, q,
                                                   identity_allowed=may(operator.role, "identity.read"))
                found_ids.append(owners)
                args |= token_args
        if key_worker:
            args["key_worker_anywhere"] = contains(key_worker.strip())
        filters = [f for f, wanted in (
            ("y.key_worker ILIKE %(key_worker_anywhere)s", key_worker), ("upper(y.region) = upper(%(region)s)", region),
            (STATUS_SQL.get(status or ""), status)) if wanted and f]
        narrowed = "".join(f" AND ({f})" for f in filters)
        if q:  # the youths found; a few are probed one by one for the caseload rule, many are joined
            # with the agency's whole caseload (PostgreSQL runs only the branch whose one-time test holds)
            args["probe_at_most"] = PROBE_AT_MOST
            matching = (
                f"WITH found AS MATERIALIZED ({' UNION '.join(found_ids)}),"
                " many AS (SELECT count(*) > %(probe_at_most)s AS many FROM found)"
                " SELECT y.youth_id, y.registered_at FROM views.youths y JOIN found USING (youth_id)"
                f" WHERE NOT (SELECT many FROM many) AND {CASELOAD_ROW_SQL}{narrowed}"
                " UNION ALL"
                f" SELECT y.youth_id, y.registered_at FROM ({CASELOAD_ROWS_SQL}) c JOIN found USING (youth_id)"
                f" JOIN views.youths y USING (youth_id) WHERE (SELECT many FROM many){narrowed}")
        elif filters:  # the caseload first, then each of its youths' rows by key for the filters
            matching = (f"SELECT y.youth_id, y.registered_at FROM (SELECT youth_id FROM ({CASELOAD_ROWS_SQL}) caseload"
                        f" OFFSET 0) c JOIN views.youths y ON y.youth_id = c.youth_id WHERE "
                        + " AND ".join(f"({f})" for f in filters))
        else:
            matching = CASELOAD_ROWS_SQL
        sealed = ", {sealed_name} AS sealed_name, {wrapped_key} AS wrapped_key".format(
            **self._sealed_names_sql(operator, "y.youth_id")) if names else ""
        # the set once, then its size and one page (each combination of filters is its own text, so
        # its own prepared statement: a search's plan is not re-made on every keystroke)
        return conn.execute(
            f"WITH matching AS MATERIALIZED ({matching}),"
            " page AS (SELECT youth_id, registered_at FROM matching ORDER BY registered_at DESC, youth_id"
            "          LIMIT %(limit)s OFFSET %(offset)s)"
            " SELECT json_build_object("
            "   'items', coalesce((SELECT json_agg(r ORDER BY r.registered_at DESC, r.youth_id) FROM"
            f"                      (SELECT {CASELOAD_SELECT}{sealed} FROM views.youths y JOIN page USING (youth_id)) r),"
            "                     '[]'),"
            "   'total', (SELECT count(*) FROM matching), 'limit', %(limit)s::int, 'offset', %(offset)s::int)::text",
            args).fetchone()[0]

    def record(self, operator: Operator, youth_id: str) -> dict[str, Any]:
        """The youth's record; vulnerabilities and identity only for roles that need them."""
        with self.pool.connection() as conn, conn.transaction():
            accounts.require_active(conn, operator)  # first: a disabled account learns nothing, not even "no such youth"
            self._require_visible(conn, operator, youth_id)
            record = self._record(conn, operator, youth_id)
            accounts.log_access(conn, operator, purpose="case_management", what=what_of(record), youth_id=youth_id)
        return record

    def timeline(self, operator: Operator, youth_id: str, order: str = "happened",
                 what="youth timeline") -> list[dict[str, Any]]:  # `what=` as written: the words test finds it
        """The path across agencies as far as consent allows, in the order things happened (or were
        recorded), each entry with who recorded it (`actor_name`: an operator's username);
        special-category entries withheld from roles without need to know. `what` names the read in
        the access log (a service's view folded from the path says which)."""
        with self.pool.connection() as conn, conn.transaction():
            # logged first, which checks the account too (a refused read rolls the row back)
            accounts.log_access(conn, operator, purpose="case_management", what=what, youth_id=youth_id)
            self._require_visible(conn, operator, youth_id)
            return self._timeline(conn, operator, youth_id, order)

    def youth_page(self, operator: Operator, youth_id: str) -> tuple[dict[str, Any], list[dict[str, Any]],
                                                                       list[dict[str, Any]]]:
        """(record, timeline, notes) as the youth's web page shows them: one statement for the
        record and the path under the visibility rule, one for the notes, one access-log row
        naming all three, in one transaction."""
        statement = "SELECT row_to_json(page)::text FROM ({}) page".format(RECORD_SQL.format(
            visible=f" AND {VISIBLE_ROW_SQL}", more=YOUTH_PAGE_MORE.format(
                operators=f"{accounts.SCHEMA}.operators", **self._sealed_names_sql(operator, "y.youth_id"))))
        with self.pool.connection() as conn, conn.transaction():
            found = conn.execute(statement, self.visibility_args(operator) | {"youth": youth_id}).fetchone()
            if found is None:
                accounts.require_active(conn, operator)  # a disabled account learns nothing, not even "no such youth"
                raise NotVisible(youth_id)
            record = json.loads(found[0])
            key = self.vault_keys.unwrap(record.pop("wrapped_key")) if self.vault_keys is not None else None
            names, timeline = record.pop("usernames"), record.pop("timeline")
            notes = [jsonable(dict(n)) for n in notes_of(conn, OneKeyFirst(youth_id, key, self.vault_keys), youth_id)
                     ] if self.vault_keys is not None else []
            self._withhold(operator, record, identity=self._open_identity(youth_id, record.pop("sealed_identity"), key))
            timeline = [shown(entry, self._may_read(operator, entry)) for entry in timeline]
            for entry in (*timeline, *notes):
                entry["actor_name"] = names.get(entry["actor"] or "")
            accounts.log_access(conn, operator, purpose="case_management", youth_id=youth_id,
                                what=f"{what_of(record)}, youth timeline, case notes")
        return record, timeline, notes

    def _open_identity(self, youth_id: str, sealed: str | None, key: bytes | None) -> dict[str, Any] | None:
        if sealed is None or self.vault_keys is None:
            return None
        if key is None:  # the key was destroyed: erased
            return {"erased": True}
        return json.loads(decrypt_for(key, youth_id, sealed))

    @staticmethod
    def _withhold(operator: Operator, record: dict[str, Any], identity: dict[str, Any] | None) -> None:
        """Vulnerabilities and identity only for roles that need them; `withheld` names what was left out."""
        withheld = []
        if not may(operator.role, "special_category.read"):
            record["vulnerabilities"] = None
            withheld.append("vulnerabilities")
        record["identity"] = identity if may(operator.role, "identity.read") else None
        if not may(operator.role, "identity.read"):
            withheld.append("identity")
        record["withheld"] = withheld

    def _record(self, conn: psycopg.Connection, operator: Operator, youth_id: str) -> dict[str, Any]:
        record = dict(conn.cursor(row_factory=dict_row).execute(RECORD_SQL.format(more="", visible=""),
                                                                {"youth": youth_id}).fetchone())
        identity = self._identity(conn, youth_id) if may(operator.role, "identity.read") else None
        self._withhold(operator, record, identity)
        return record

    def _timeline(self, conn: psycopg.Connection, operator: Operator, youth_id: str, order: str
                  ) -> list[dict[str, Any]]:
        rows = conn.cursor(row_factory=dict_row).execute(
            "SELECT event_id, at, happened_at, type, agency, actor, role, classification, data FROM views.timeline"
            f" WHERE youth_id = %s::uuid ORDER BY {'happened_at' if order == 'happened' else 'at'}, stream_seq",
            (youth_id,)).fetchall()
        usernames = accounts.usernames(conn, [r["actor"] for r in rows])
        return [shown(entry, self._may_read(operator, entry)) | {"actor_name": usernames.get(entry["actor"])}
                for entry in map(jsonable, rows)]

    def _may_read(self, operator: Operator, entry: dict[str, Any]) -> bool:
        """Whether the operator's role has the need to know a special-category step asks for (the
        permission its message names: a service's health data may ask for its own)."""
        model = self.platform.registry.get(entry["type"]) if self.platform is not None else None
        return may(operator.role, model.need_to_know if model is not None else "special_category.read")

    def alerts(self, operator: Operator) -> list[dict[str, Any]]:
        """The agency's alerts, oldest first."""
        return self.alerts_page(operator, limit=None)[0]

    def alerts_page(self, operator: Operator, *, limit: int | None, offset: int = 0
                    ) -> tuple[list[dict[str, Any]], int]:
        """A page of the agency's alerts, oldest first (None: all), and how many there are; names
        for the page's rows only."""
        args = self.visibility_args(operator) | {"today": today_in(self.policy, operator.agency),
                                                 "answer_days": REFERRAL_ANSWER_DAYS, "limit": limit, "offset": offset}
        statement = (f"SELECT a.*, count(*) OVER () AS total FROM ({ALERTS_SQL.format(visible=VISIBLE_SQL)}) a"
                     " ORDER BY a.since, a.kind, a.youth_id LIMIT %(limit)s OFFSET %(offset)s")
        with self.pool.connection() as conn, conn.transaction():
            rows = conn.cursor(row_factory=dict_row).execute(statement, args).fetchall()
            self.add_names(conn, operator, [r for r in rows if r["kind"] != "erasure_scheduled"])
            accounts.log_access(conn, operator, purpose="case_management", what=self._list_read("alerts", operator))
        total = rows[0]["total"] if rows else 0
        return [jsonable({k: v for k, v in r.items() if k != "total"}) for r in rows], total

    def day(self, operator: Operator, *, key_worker: str | None, limit: int = 50, offset: int = 0
            ) -> tuple[list[dict[str, Any]], int, list[dict[str, Any]]]:
        """The youths one key worker follows (None: the whole agency's), most urgent first, how many
        there are, and the referrals waiting for the agency's answer: one statement (rows as JSON
        values), one access-log row."""
        args = self.visibility_args(operator) | {"today": today_in(self.policy, operator.agency),
                                                 "key_worker": key_worker, "limit": limit, "offset": offset,
                                                 "status": "requested"}
        visible = VISIBLE_ROW_SQL if key_worker else VISIBLE_SQL  # one key worker's few youths: probed one by one
        mine = "y.key_worker = %(key_worker)s" if key_worker else "TRUE"  # in the text: a plan for each
        statement = DAY_SQL.format(visible=visible, mine=mine,
                                   waiting=REFERRALS_SQL.format(column="to_agency", visible=VISIBLE_ROW_SQL),
                                   **self._sealed_names_sql(operator, "page.youth_id"))
        with self.pool.connection() as conn, conn.transaction():
            found = json.loads(conn.execute(statement, args).fetchone()[0])
            accounts.log_access(conn, operator, purpose="case_management",
                                what=self._list_read("my day", operator) + ", referrals inbox")
        rows = found["rows"]
        self._open_sealed_rows(rows)
        return rows, rows[0]["total"] if rows else 0, found["waiting"]

    def add_names(self, conn: psycopg.Connection, operator: Operator, rows: list[dict[str, Any]]) -> None:
        """Sets `name` on each row ("Given Family" from the vault, or None), for roles that may read
        identity. The rows must come from a read under the visibility rule in the same transaction
        (`conn`), which logs it."""
        sealed = {}
        if rows and self._names_shown(operator):
            statement = "SELECT y.id::text, {sealed_name}, {wrapped_key} FROM unnest(%(ids)s::uuid[]) y(id)".format(
                **self._sealed_names_sql(operator, "y.id"))
            sealed = {youth: (name, key) for youth, name, key in conn.execute(
                statement, {"ids": list({str(r["youth_id"]) for r in rows})})}
        self._open_names(rows, sealed)

    def _names_shown(self, operator: Operator) -> bool:
        return self.vault_keys is not None and may(operator.role, "identity.read")

    def _sealed_names_sql(self, operator: Operator, youth: str) -> dict[str, str]:
        """The columns `sealed_name` and `wrapped_key` of a list's statement, for the youth id
        `youth` (NULL for roles that may not read identity)."""
        if not self._names_shown(operator):
            return {"sealed_name": "NULL", "wrapped_key": "NULL"}
        return {"sealed_name": SEALED_NAME_SQL.format(youth=youth), "wrapped_key": self.vault_keys.wrapped_key_sql(youth)}

    def _open_sealed_rows(self, rows: list[dict[str, Any]]) -> None:
        """`_open_names` for rows read with their `sealed_name` and `wrapped_key` (taken off them)."""
        self._open_names(rows, {row["youth_id"]: (row.pop("sealed_name"), row.pop("wrapped_key")) for row in rows})

    def _open_names(self, rows: list[dict[str, Any]], sealed: dict[str, tuple[str | None, Any]]) -> None:
        """Sets each row's `name` from its youth's sealed identity and wrapped key (youth id ->
        (ciphertext, key as bytes or as JSON's hex text)); None where there is none or it does not
        open (an erased key)."""
        names = {}
        for youth, (ciphertext, wrapped) in sealed.items():
            if not ciphertext or not wrapped:
                continue
            try:
                key = self.vault_keys.unwrap(wrapped)
                identity = json.loads(decrypt_for(key, youth, ciphertext))
            except ValueError:  # a ciphertext that does not open: the list shows the case reference
                identity = {}
            names[youth] = f"{identity.get('given_names', '')} {identity.get('family_name', '')}".strip() or None
        for row in rows:
            row["name"] = names.get(str(row["youth_id"]))

    @staticmethod
    def _list_read(what: str, operator: Operator) -> str:
        return what + (" with names" if may(operator.role, "identity.read") else "")

    def referrals(self, operator: Operator, direction: str = "inbox", status: str | None = None
                  ) -> list[dict[str, Any]]:
        """To the agency (inbox) or from it (sent: the closed-loop feedback), for youths it may still see."""
        column = "to_agency" if direction == "inbox" else "from_agency"
        args = self.visibility_args(operator) | {"status": status}
        with self.pool.connection() as conn, conn.transaction():
            rows = conn.cursor(row_factory=dict_row).execute(REFERRALS_SQL.format(
                column=column, visible=VISIBLE_ROW_SQL if status else VISIBLE_SQL),  # those waiting are few: probed
                args).fetchall()
            accounts.log_access(conn, operator, purpose="case_management", what=f"referrals {direction}")
        return [jsonable(r) for r in rows]

    def referrals_page(self, operator: Operator, direction: str = "inbox", *, limit: int, offset: int = 0
                       ) -> tuple[list[dict[str, Any]], int, int]:
        """A page of the referrals to the agency (inbox) or from it (sent), newest change first, for
        youths it may still see: the rows (named for identity roles), how many there are, and how
        many of them wait for an answer."""
        column = "to_agency" if direction == "inbox" else "from_agency"
        args = self.visibility_args(operator) | {"limit": limit, "offset": offset}
        statement = (
            "SELECT r.*, y.partner_case_ref, count(*) OVER () AS total,"
            " count(*) FILTER (WHERE r.status = 'requested') OVER () AS waiting"
            f" FROM views.referrals r JOIN views.youths y USING (youth_id) WHERE r.{column} = %(agency)s AND {VISIBLE_SQL}"
            " ORDER BY r.updated_at DESC, r.referral_id LIMIT %(limit)s OFFSET %(offset)s")
        with self.pool.connection() as conn, conn.transaction():
            rows = conn.cursor(row_factory=dict_row).execute(statement, args).fetchall()
            self.add_names(conn, operator, rows)
            accounts.log_access(conn, operator, purpose="case_management",
                                what=self._list_read(f"referrals {direction}", operator))
        total, waiting = (rows[0]["total"], rows[0]["waiting"]) if rows else (0, 0)
        return [jsonable({k: v for k, v in r.items() if k not in ("total", "waiting")}) for r in rows], total, waiting

    def waiting_count(self, operator: Operator) -> int:
        """How many referrals wait for the agency's answer, counted as its inbox shows them (youths it
        may see now): a count only, no youth-level data, no access-log row."""
        args = self.visibility_args(operator) | {"status": "requested"}
        with self.pool.connection() as conn:
            return conn.execute(f"SELECT count(*) FROM ({REFERRALS_SQL.format(column='to_agency', visible=VISIBLE_ROW_SQL)}) w",
                                args).fetchone()[0]

    def wait_for(self, service: str, events_seq: int | None, timeout: float = 5.0) -> bool:
        """Read-your-writes: wait until the views an operator reads after the service's commands
        have applied its events up to `events_seq` (not a fixed sleep: the check repeats with a
        short, growing pause and stops as soon as they have)."""
        projections = list(self.platform.read_your_writes(service)) if self.platform else []
        if not events_seq or not projections:
            return True
        args = {"projections": projections, "stream": events_stream(service), "seq": events_seq}
        deadline, pause = time.monotonic() + timeout, 0.002
        while True:
            with self.pool.connection() as conn:
                try:
                    applied = conn.execute(APPLIED_SQL, args).fetchone()[0]
                except psycopg.errors.UndefinedTable:
                    return False
            if applied:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def _require_visible(self, conn, operator: Operator, youth_id: str) -> None:
        """After the account was checked (the caller's first statement), so that a disabled
        account learns nothing, not even "no such youth"."""
        if not may_access_youth(conn, youth_id, agency=operator.agency,
                                agency_category=self.policy.category_of(operator.agency), at=datetime.now(timezone.utc)):
            raise NotVisible(youth_id)

    def _identity(self, conn, youth_id: str) -> dict[str, Any] | None:
        row = conn.execute("SELECT ciphertext FROM views.vault WHERE youth_id = %s::uuid AND person_id = youth_id",
                           (youth_id,)).fetchone()
        if row is None or self.vault_keys is None:
            return None
        key = self.vault_keys.get(youth_id)
        if key is None:
            return {"erased": True}
        return json.loads(decrypt_for(key, youth_id, row[0]))


def shown(entry: dict[str, Any], special_category: bool) -> dict[str, Any]:
    """A timeline entry as the reader's role may see it: special-category data withheld without
    need to know."""
    if special_category or entry["classification"] != "special-category":
        return entry
    return entry | {"data": {}, "withheld": True}


@dataclass(frozen=True)
class OneKeyFirst:
    """The youth's key, already read with the page, and the vault for any other owner (notes of a
    record merged into this one)."""
    youth_id: str
    key: bytes | None
    vault_keys: VaultKeys

    def get(self, owner: str) -> bytes | None:
        return self.key if owner == self.youth_id else self.vault_keys.get(owner)


def what_of(record: dict[str, Any]) -> str:
    """A record read as the access log names it: with identity, with special-category data."""
    return "youth record" + (" with identity" if record["identity"] else "") + (
        " with special-category data" if record["vulnerabilities"] is not None else "")


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else str(v) if k.endswith("_id") and v is not None else v)
            for k, v in row.items()}
