"""Youth directory: every youth's case summary, the agencies in the path, consents and overrides
(the basis of who may see what), referrals (both ends: closed-loop feedback) and the vault's
ciphertext (opened only by the API, per role, with the youth's key).

Rows carry pseudonyms only; identity stays ciphertext here.

A page of events is applied in memory: the rows it touches are read once, changed by the handlers
below in event order, and written back with one statement per table. A transaction-scoped lock
per projection keeps two writers (the live consumers of two streams, or a rebuild) from reading
the same rows before either has written them. Per-event statements made a rebuild ~20 times
slower than the raw copy of the same events.

The rows a process wrote stay in memory for its next pages (`RowCache`), as long as nobody else
wrote the directory in between: every page leaves a new random token in `directory_writer` with
its rows, and a process trusts its rows only while the token there is the one it left. Another
writer (a rebuild, another replica), a reset, or a page that did not commit leaves another (or
none), and the rows are read again.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from events import intake as ev
from shared.agencies import zone_of
from projections.integration_event import IntegrationEvent, UnreadableEvent, uuid_text


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, SQL type [constraints]); the first word is the type
    key: tuple[str, ...]
    indexes: tuple[str, ...] = ()
    # jsonb columns a page holds as their JSON text: read as text, written as text cast to jsonb,
    # so a row written again and again (a youth's, at each contact) is not serialized each time
    as_text: frozenset[str] = frozenset()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def ddl(self) -> str:
        columns = ", ".join(f"{name} {spec}" for name, spec in self.columns)
        indexes = "".join(f"\nCREATE INDEX IF NOT EXISTS {index};" for index in self.indexes)
        return f"CREATE TABLE IF NOT EXISTS views.{self.name} ({columns}, PRIMARY KEY ({', '.join(self.key)}));{indexes}"

    def add_missing_columns(self, conn: psycopg.Connection) -> None:
        """Columns a newer version has, added to a table an older one created (empty until a rebuild)."""
        present = {r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns"
                                              " WHERE table_schema = 'views' AND table_name = %s", (self.name,))}
        for name, spec in self.columns:
            if name not in present:
                conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                    sql.Identifier("views", self.name), sql.Identifier(name), sql.SQL(spec.split()[0])))

    def key_of(self, row: dict[str, Any]) -> tuple:
        return tuple(row[k] for k in self.key)


YOUTHS = Table("youths", (
    ("youth_id", "uuid"), ("registering_agency", "text NOT NULL"), ("partner_case_ref", "text NOT NULL"),
    ("birth_year", "int NOT NULL"), ("country", "text NOT NULL"), ("region", "text NOT NULL"),
    ("registered_at", "timestamptz NOT NULL"), ("first_contact_at", "timestamptz"), ("engagement_id", "uuid"),
    ("lead_agency", "text"), ("key_worker", "text"), ("neet_status", "text"), ("education_level", "text"),
    ("vulnerabilities", "jsonb"), ("project_version", "int NOT NULL DEFAULT 0"), ("next_review_due", "date"),
    ("last_contact_at", "timestamptz"), ("lost_after_days", "int"), ("lost_contact", "boolean NOT NULL DEFAULT false"),
    ("closed_on", "date"), ("destination", "text"), ("merged_into", "uuid"), ("erased_at", "timestamptz"),
    ("restricted_at", "timestamptz"), ("source_seq", "bigint NOT NULL"), ("erasure_scheduled_for", "date"),
    # what comes next, for the operators' pages (see _cadence, _agreed and _goal_updated)
    ("contact_every_days", "int"), ("next_contact_due", "date"), ("goals", "jsonb"), ("project_agreed_on", "date")),
    key=("youth_id",),
    indexes=("youths_agency ON views.youths (registering_agency, registered_at)",
             "youths_newest ON views.youths (registered_at DESC, youth_id)",
             "youths_key_worker ON views.youths (key_worker)",  # "my day": one key worker's youths
             "youths_gone ON views.youths (youth_id)"
             " WHERE merged_into IS NOT NULL OR erased_at IS NOT NULL OR restricted_at IS NOT NULL"),
    as_text=frozenset({"goals"}))
def create_search_indexes(conn: psycopg.Connection) -> None:
    """What the caseload search looks up instead of scanning every youth: part of a case reference
    (a trigram index: `pg_trgm`, where the server has it and lets us create it) and the keyed
    nickname pseudonym. Without `pg_trgm` the search still works, by scanning."""
    conn.execute("CREATE INDEX IF NOT EXISTS youths_engagement ON views.youths (engagement_id)"
                 " WHERE engagement_id IS NOT NULL")
    try:
        with conn.transaction():  # a savepoint: a server without the extension leaves the rest as it was
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            conn.execute("CREATE INDEX IF NOT EXISTS youths_case_ref_trgm ON views.youths"
                         " USING gin (partner_case_ref gin_trgm_ops)")
    except psycopg.Error:
        pass


YOUTH_AGENCIES = Table("youth_agencies", (("youth_id", "uuid"), ("agency", "text"), ("role", "text")),
                       key=("youth_id", "agency", "role"),
                       indexes=("youth_agencies_agency ON views.youth_agencies (agency)",))
CONSENTS = Table("consents", (
    ("youth_id", "uuid"), ("consent_id", "uuid"), ("purpose", "text NOT NULL"), ("recipient", "text NOT NULL"),
    ("legal_basis", "text NOT NULL"), ("given_by", "text NOT NULL"), ("notice_version", "text NOT NULL"),
    ("given_at", "timestamptz NOT NULL"), ("expires_at", "timestamptz"), ("withdrawn_at", "timestamptz"),
    ("invalidated_at", "timestamptz"), ("recorded_by", "text NOT NULL"),
    ("registered_at", "timestamptz")),  # the youth's, copied: a caseload is ordered without reading every youth row
    key=("youth_id", "consent_id"),
    indexes=("consents_recipient ON views.consents (recipient, purpose)",))
OVERRIDES = Table("consent_overrides", (
    ("youth_id", "uuid NOT NULL"), ("agency", "text NOT NULL"), ("purpose", "text NOT NULL"),
    ("reason", "text NOT NULL"), ("at", "timestamptz NOT NULL"), ("expires_at", "timestamptz NOT NULL"),
    ("by_agency", "text NOT NULL"), ("by_role", "text NOT NULL"), ("source_seq", "bigint")), key=("source_seq",),
    indexes=("overrides_youth ON views.consent_overrides (youth_id, agency)",))
REFERRALS = Table("referrals", (
    ("referral_id", "uuid"), ("youth_id", "uuid NOT NULL"), ("from_agency", "text NOT NULL"),
    ("to_agency", "text NOT NULL"), ("service", "text NOT NULL"), ("transfer_lead", "boolean NOT NULL"),
    ("status", "text NOT NULL"), ("note", "text"), ("requested_at", "timestamptz NOT NULL"),
    ("updated_at", "timestamptz NOT NULL")), key=("referral_id",),
    indexes=("referrals_youth ON views.referrals (youth_id)", "referrals_to ON views.referrals (to_agency, status)",
             "referrals_from ON views.referrals (from_agency, status)"))
FOLLOW_UPS = Table("follow_ups", (
    ("youth_id", "uuid"), ("checkpoint_months", "int"), ("due_on", "date NOT NULL"), ("recorded_on", "date"),
    ("situation", "text")), key=("youth_id", "checkpoint_months"),
    indexes=("follow_ups_due ON views.follow_ups (due_on) WHERE recorded_on IS NULL",))
VAULT = Table("vault", (("youth_id", "uuid"), ("person_id", "uuid"), ("ciphertext", "text NOT NULL"),
                        ("recorded_at", "timestamptz NOT NULL")), key=("youth_id", "person_id"))

TABLES = (YOUTHS, YOUTH_AGENCIES, CONSENTS, OVERRIDES, REFERRALS, FOLLOW_UPS, VAULT)
LOADED = (YOUTHS, CONSENTS, REFERRALS, FOLLOW_UPS)  # read, changed and written back; the others only added to
WRITER_DDL = ("CREATE TABLE IF NOT EXISTS views.directory_writer"
              " (one boolean PRIMARY KEY DEFAULT true CHECK (one), token uuid NOT NULL)")
CACHED_ROWS = 200_000  # rows kept in memory between pages (a region's active youths); beyond it they are read again
YOUTH_DEFAULTS = {name: None for name in YOUTHS.names} | {"project_version": 0, "lost_contact": False}
WRITE_LOCK = int.from_bytes(hashlib.sha256(b"kit.views.youth_directory").digest()[:8], "big", signed=True)


def _id(value: Any) -> str:
    """A uuid in its canonical text form (the form rows read back from PostgreSQL carry)."""
    text = uuid_text(value)
    if text is None:
        raise UnreadableEvent("an id in data is not a uuid")
    return text


def _at(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _day(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _local_day(at: datetime, row: dict[str, Any]) -> date:
    """The calendar day of an instant where the youth lives (23:30 UTC is already tomorrow in Rome)."""
    return at.astimezone(zone_of(row["country"])).date()


class RowCache:
    """The loaded tables' rows as this process last left them, per table: the rows, and the youths
    whose rows are all there. Valid only while `directory_writer` holds `token` (the token of this
    process's last page; None: no page yet, or one under way or failed)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[tuple, dict[str, Any]]] = {t.name: {} for t in LOADED}
        self.youths: dict[str, set[str]] = {t.name: set() for t in LOADED}
        self.token: str | None = None

    def clear(self) -> None:
        for table in LOADED:
            self.rows[table.name].clear()
            self.youths[table.name].clear()

    def size(self) -> int:
        return sum(map(len, self.rows.values()))


@dataclass
class Page:
    """The directory's rows one page of events touches, changed in memory (in the cache's rows:
    the cache is not trusted again until the page is written), written once."""

    cache: RowCache = field(default_factory=RowCache)
    changed: dict[str, set[tuple]] = field(default_factory=lambda: {t.name: set() for t in LOADED})
    agencies: set[tuple[str, str, str]] = field(default_factory=set)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    vault: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    vault_erased: set[str] = field(default_factory=set)

    @property
    def rows(self) -> dict[str, dict[tuple, dict[str, Any]]]:
        return self.cache.rows

    def load(self, conn: psycopg.Connection, youth_ids: dict[str, set[str]]) -> None:
        """Read the rows of these youths that are not in the cache yet, per table."""
        for table in LOADED:
            known = self.cache.youths[table.name]
            ids = sorted(youth_ids.get(table.name, set()) - known)
            if not ids:
                continue
            uuid_columns = [name for name, spec in table.columns if spec.split()[0] == "uuid"]
            cursor = conn.execute(sql.SQL("SELECT {} FROM {} WHERE youth_id = ANY(%b::uuid[])").format(
                sql.SQL(", ").join(sql.SQL("{}::text" if name in table.as_text else "{}").format(sql.Identifier(name))
                                   for name in table.names), sql.Identifier("views", table.name)), (ids,))
            rows = self.rows[table.name]
            for values in cursor:
                row = dict(zip(table.names, values))
                for name in uuid_columns:
                    if row[name] is not None:
                        row[name] = str(row[name])
                rows[table.key_of(row)] = row
            known.update(ids)

    def get(self, table: Table, *key: Any) -> dict[str, Any] | None:
        return self.rows[table.name].get(key)

    def insert(self, table: Table, row: dict[str, Any]) -> None:
        """Like INSERT … ON CONFLICT DO NOTHING."""
        key = table.key_of(row)
        if key not in self.rows[table.name]:
            self.rows[table.name][key] = row
            self.changed[table.name].add(key)

    def update(self, table: Table, *key: Any, **columns: Any) -> None:
        """Like UPDATE … WHERE key: nothing happens to a row that is not there."""
        row = self.rows[table.name].get(key)
        if row is not None:
            row.update(columns)
            self.changed[table.name].add(key)

    def involve(self, youth_id: str, agency: str, role: str) -> None:
        self.agencies.add((youth_id, agency, role))

    def write(self, conn: psycopg.Connection) -> None:
        for table in LOADED:
            rows = self.rows[table.name]
            _insert(conn, table, [rows[key] for key in sorted(self.changed[table.name])], update=True)
        _insert(conn, YOUTH_AGENCIES, [dict(zip(YOUTH_AGENCIES.names, a)) for a in sorted(self.agencies)])
        _insert(conn, OVERRIDES, self.overrides)
        if self.vault_erased:
            conn.execute("DELETE FROM views.vault WHERE youth_id = ANY(%b::uuid[])", (sorted(self.vault_erased),))
        _insert(conn, VAULT, [self.vault[key] for key in sorted(self.vault)], update=True)


def _insert(conn: psycopg.Connection, table: Table, rows: Sequence[dict[str, Any]], update: bool = False) -> None:
    """One INSERT … SELECT FROM unnest(…) for all the rows (arrays in binary, %b: far cheaper to
    dump than text); on a key already there, update the other columns (`update`) or leave the row."""
    if not rows:
        return
    others = [name for name in table.names if name not in table.key]
    conflict = (sql.SQL("DO UPDATE SET {}").format(sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name)) for name in others))
        if update and others else sql.SQL("DO NOTHING"))
    statement = sql.SQL("INSERT INTO {} ({}) SELECT * FROM unnest({}) ON CONFLICT ({}) {}").format(
        sql.Identifier("views", table.name), sql.SQL(", ").join(map(sql.Identifier, table.names)),
        sql.SQL(", ").join(sql.SQL("%b::text[]::{}[]" if name in table.as_text else "%b::{}[]").format(
            sql.SQL(spec.split()[0])) for name, spec in table.columns),
        sql.SQL(", ").join(map(sql.Identifier, table.key)), conflict)
    columns = [[row[name] for row in rows] for name in table.names]
    for index, (name, spec) in enumerate(table.columns):
        if spec.startswith("jsonb") and name not in table.as_text:
            columns[index] = [None if value is None else Jsonb(value) for value in columns[index]]
    conn.execute(statement, columns)


# ---------------------------------------------------------------- the handlers: (page, data, event)

Handler = Callable[[Page, dict[str, Any], IntegrationEvent], None]


def _youth(page: Page, d: dict, **columns: Any) -> None:
    page.update(YOUTHS, _id(d["youth_id"]), **columns)


def _registered(page: Page, d: dict, e: IntegrationEvent) -> None:
    youth_id = _id(d["youth_id"])
    page.insert(YOUTHS, YOUTH_DEFAULTS | {
        "youth_id": youth_id, "registering_agency": d["registering_agency"], "partner_case_ref": d["partner_case_ref"],
        "birth_year": d["birth_year"], "country": d["country"], "region": d["region"], "registered_at": e.time,
        "first_contact_at": _at(d.get("first_contact_at")),
        "engagement_id": _id(d["engagement_id"]) if d.get("engagement_id") else None, "source_seq": e.kitseq})
    page.involve(youth_id, d["registering_agency"], "registrant")


def _identity(page: Page, d: dict, e: IntegrationEvent) -> None:
    key = (_id(d["youth_id"]), _id(d["person_id"]))
    page.vault[key] = {"youth_id": key[0], "person_id": key[1], "ciphertext": d["ciphertext"], "recorded_at": e.time}


def _consent(page: Page, d: dict, e: IntegrationEvent) -> None:
    t, youth_id = d["consent"], _id(d["youth_id"])
    youth = page.get(YOUTHS, youth_id)
    page.insert(CONSENTS, {
        "youth_id": youth_id, "consent_id": _id(t["consent_id"]), "purpose": t["purpose"],
        "recipient": t.get("recipient") or d["recorded_by"], "legal_basis": t["legal_basis"], "given_by": t["given_by"],
        "notice_version": t["notice_version"], "given_at": _at(t["given_at"]), "expires_at": _at(t.get("expires_at")),
        "withdrawn_at": None, "invalidated_at": None, "recorded_by": d["recorded_by"],
        "registered_at": youth["registered_at"] if youth is not None else None})


def _override(page: Page, d: dict, e: IntegrationEvent) -> None:
    page.overrides.append({
        "youth_id": _id(d["youth_id"]), "agency": d["agency"], "purpose": d["purpose"], "reason": d["reason"],
        "at": _at(d["overridden_at"]), "expires_at": _at(d["expires_at"]), "by_agency": d["by_agency"],
        "by_role": d["by_role"], "source_seq": e.kitseq})


def _case_opened(page: Page, d: dict, e: IntegrationEvent) -> None:
    _youth(page, d, lead_agency=d["lead_agency"], key_worker=d["key_worker"])
    page.involve(_id(d["youth_id"]), d["lead_agency"], "lead")


def _lead_transferred(page: Page, d: dict, e: IntegrationEvent) -> None:
    _youth(page, d, lead_agency=d["to_agency"], key_worker=None)  # the new lead names its own
    page.involve(_id(d["youth_id"]), d["to_agency"], "lead")


def _referral(page: Page, d: dict, e: IntegrationEvent) -> None:
    youth_id = _id(d["youth_id"])
    page.insert(REFERRALS, {
        "referral_id": _id(d["referral_id"]), "youth_id": youth_id, "from_agency": d["from_agency"],
        "to_agency": d["to_agency"], "service": d["service"], "transfer_lead": d["transfer_lead"], "status": "requested",
        "note": d["reason"], "requested_at": e.time, "updated_at": e.time})
    # the receiver joins the youth's agencies when it accepts, not when it is asked


ACCEPTED_REFERRAL = frozenset({"accepted", "in-progress", "completed"})


def _referral_status(page: Page, d: dict, e: IntegrationEvent) -> None:
    key = _id(d["referral_id"])
    row = page.get(REFERRALS, key)
    if row is not None:
        page.update(REFERRALS, key, status=d["status"], updated_at=e.time,
                    note=row["note"] if d.get("note") is None else d["note"])
        if d["status"] in ACCEPTED_REFERRAL:
            page.involve(_id(d["youth_id"]), d["to_agency"], "referral")


def _contact(page: Page, d: dict, e: IntegrationEvent) -> None:
    row = page.get(YOUTHS, _id(d["youth_id"]))
    if d["outcome"] == "reached" and row is not None:
        at, last = _at(d["occurred_at"]), row["last_contact_at"]
        if last is None or at > last:  # an older contact recorded late changes neither: still lost if lost
            _youth(page, d, last_contact_at=at, lost_contact=False,
                   next_contact_due=_next_contact_due(row, at, row["contact_every_days"]))


def _next_contact_due(row: dict[str, Any], since: datetime, every_days: int | None) -> date | None:
    """`every_days` after the day of `since` (the last contact, or the day the cadence was set if
    there was none); none without a cadence, or once the case is closed or the youth erased."""
    if every_days is None or row["closed_on"] is not None or row["erased_at"] is not None:
        return None
    return _local_day(since, row) + timedelta(days=every_days)


def _cadence(page: Page, d: dict, e: IntegrationEvent) -> None:
    row = page.get(YOUTHS, _id(d["youth_id"]))
    if row is not None:
        every = d["every_days"]
        _youth(page, d, lost_after_days=d["lost_after_days"], contact_every_days=every,
               next_contact_due=_next_contact_due(row, row["last_contact_at"] or e.time, every))


GOAL_CONTENT = ("description", "category", "status", "achievement_status")


def _goals(row: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads(row["goals"]) if row["goals"] else []


def _goal(g: dict[str, Any], at: str) -> dict[str, Any]:
    return {"goal_id": g["goal_id"], "description": g["description"], "category": g["category"],
            "status": g.get("lifecycle_status", "proposed"), "achievement_status": g.get("achievement_status"),
            "updated_at": at}


def _agreed(page: Page, d: dict, e: IntegrationEvent) -> None:
    """The agreed version's goals become the current ones; a goal the version carries over
    unchanged keeps when it last changed."""
    row = page.get(YOUTHS, _id(d["youth_id"]))
    if row is None:
        return
    at = e.time.isoformat()
    before = {g["goal_id"]: g for g in _goals(row)}
    goals = []
    for g in d["goals"]:
        goal = _goal(g, at)
        old = before.get(goal["goal_id"])
        if old is not None and all(old.get(k) == goal[k] for k in GOAL_CONTENT):
            goal["updated_at"] = old["updated_at"]
        goals.append(goal)
    _youth(page, d, project_version=d["version"], next_review_due=_day(d["next_review_due"]),
           project_agreed_on=_local_day(e.time, row),
           goals=None if row["erased_at"] is not None else json.dumps(goals))  # nothing personal after an erasure


def _goal_updated(page: Page, d: dict, e: IntegrationEvent) -> None:
    row = page.get(YOUTHS, _id(d["youth_id"]))
    if row is None or not row["goals"]:
        return
    goal_id, at = d["goal_id"], e.time.isoformat()
    goals = [g | {"status": d["lifecycle_status"], "achievement_status": d.get("achievement_status"), "updated_at": at}
             if g["goal_id"] == goal_id else g for g in _goals(row)]
    _youth(page, d, goals=json.dumps(goals))


def _closed(page: Page, d: dict, e: IntegrationEvent) -> None:
    youth_id = _id(d["youth_id"])
    _youth(page, d, closed_on=_day(d["exited_on"]), destination=d["destination"], next_contact_due=None)
    for f in d["follow_ups"]:
        page.insert(FOLLOW_UPS, {"youth_id": youth_id, "checkpoint_months": f["checkpoint_months"],
                                 "due_on": _day(f["due_on"]), "recorded_on": None, "situation": None})


def _erased(page: Page, d: dict, e: IntegrationEvent) -> None:
    """Purge what this view holds of the youth's personal data (the vault's ciphertext, the case
    reference, the vulnerabilities, the goals' free text); keep the pseudonymous skeleton so counts
    and the auditors' replay still add up. No contact is due any more."""
    youth_id = _id(d["youth_id"])
    page.vault_erased.add(youth_id)
    for key in [key for key in page.vault if key[0] == youth_id]:
        del page.vault[key]
    _youth(page, d, erased_at=_at(d["erased_at"]), partner_case_ref="erased", vulnerabilities=None,
           erasure_scheduled_for=None, goals=None, next_contact_due=None)


# event type -> (handler, the loaded tables whose rows of the youth it reads or changes)
HANDLERS: dict[str, tuple[Handler, tuple[Table, ...]]] = {
    ev.YouthRegistered.type_name: (_registered, (YOUTHS,)),
    ev.AgencyJoined.type_name: (lambda p, d, e: p.involve(_id(d["youth_id"]), d["agency"], "registrant"), ()),
    ev.YouthMerged.type_name: (lambda p, d, e: _youth(p, d, merged_into=_id(d["merged_into"])), (YOUTHS,)),
    ev.IdentityRecorded.type_name: (_identity, ()),
    ev.ConsentRecorded.type_name: (_consent, (CONSENTS, YOUTHS)),
    ev.ConsentWithdrawn.type_name: (lambda p, d, e: p.update(CONSENTS, _id(d["youth_id"]), _id(d["consent_id"]),
                                                             withdrawn_at=_at(d["withdrawn_at"])), (CONSENTS,)),
    ev.ConsentInvalidated.type_name: (lambda p, d, e: p.update(CONSENTS, _id(d["youth_id"]), _id(d["consent_id"]),
                                                               invalidated_at=_at(d["invalidated_at"])), (CONSENTS,)),
    ev.ConsentOverridden.type_name: (_override, ()),
    ev.YouthAssessed.type_name: (lambda p, d, e: _youth(p, d, neet_status=d["neet_status"],
                                                        education_level=d["education_level"]), (YOUTHS,)),
    ev.VulnerabilitiesAssessed.type_name: (lambda p, d, e: _youth(p, d, vulnerabilities=d["vulnerabilities"]), (YOUTHS,)),
    ev.CaseOpened.type_name: (_case_opened, (YOUTHS,)),
    ev.LeadTransferred.type_name: (_lead_transferred, (YOUTHS,)),
    ev.ProjectOfLifeAgreed.type_name: (_agreed, (YOUTHS,)),
    ev.GoalUpdated.type_name: (_goal_updated, (YOUTHS,)),
    ev.ProjectReviewRecorded.type_name: (lambda p, d, e: _youth(p, d, next_review_due=_day(d["next_review_due"])),
                                         (YOUTHS,)),
    ev.ReferralRequested.type_name: (_referral, (REFERRALS,)),
    ev.ReferralStatusChanged.type_name: (_referral_status, (REFERRALS,)),
    ev.ContactLogged.type_name: (_contact, (YOUTHS,)),
    ev.ContactCadenceSet.type_name: (_cadence, (YOUTHS,)),
    ev.ContactLost.type_name: (lambda p, d, e: _youth(p, d, lost_contact=True), (YOUTHS,)),
    ev.CaseClosed.type_name: (_closed, (YOUTHS, FOLLOW_UPS)),
    ev.FollowUpRecorded.type_name: (lambda p, d, e: p.update(FOLLOW_UPS, _id(d["youth_id"]), d["checkpoint_months"],
                                                             recorded_on=_day(d["recorded_on"]),
                                                             situation=d["situation"]), (FOLLOW_UPS,)),
    ev.YouthErased.type_name: (_erased, (YOUTHS,)),
    ev.ProcessingRestricted.type_name: (lambda p, d, e: _youth(p, d, restricted_at=_at(d["restricted_at"])), (YOUTHS,)),
    ev.ErasureScheduled.type_name: (lambda p, d, e: _youth(p, d, erasure_scheduled_for=_day(d["scheduled_for"])),
                                    (YOUTHS,)),
    ev.ScheduledErasureCancelled.type_name: (lambda p, d, e: _youth(p, d, erasure_scheduled_for=None), (YOUTHS,)),
}


def _to_load(events: Iterable[IntegrationEvent]) -> dict[str, set[str]]:
    wanted: dict[str, set[str]] = {}
    for event in events:
        handler = HANDLERS.get(event.type)
        if handler is not None:
            for table in handler[1]:
                wanted.setdefault(table.name, set()).add(_id(event.data["youth_id"]))
    return wanted


class YouthDirectory:
    name = "youth_directory"
    sources = ("intake",)

    def __init__(self) -> None:
        self.cache = RowCache()  # used only under the write lock

    def create_tables(self, conn: psycopg.Connection) -> None:
        conn.execute("\n".join(table.ddl() for table in TABLES))
        for table in TABLES:
            table.add_missing_columns(conn)
        conn.execute(WRITER_DDL)
        create_search_indexes(conn)

    def reset(self, conn: psycopg.Connection) -> None:
        conn.execute(sql.SQL("TRUNCATE {}, views.directory_writer").format(
            sql.SQL(", ").join(sql.Identifier("views", table.name) for table in TABLES)))
        self.cache.clear()
        self.cache.token = None  # what an empty directory holds, once the reset commits

    def apply_page(self, conn: psycopg.Connection, events: Sequence[IntegrationEvent]) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        row = conn.execute("SELECT token::text FROM views.directory_writer").fetchone()
        cache = self.cache
        if cache.token != (row[0] if row else None):
            cache.clear()  # someone else wrote the directory, or our last page did not commit
        cache.token = None  # not to be trusted while this page changes its rows
        page = Page(cache)
        try:
            page.load(conn, _to_load(events))
            for event in events:
                handler = HANDLERS.get(event.type)
                if handler is not None:  # other types are not part of this view
                    handler[0](page, event.data, event)
        except (KeyError, TypeError, ValueError) as e:  # data without a field the view needs, or of another type
            detail = f" {e}" if isinstance(e, KeyError) else ""  # a field's name; other messages may quote values
            raise UnreadableEvent(f"data does not fit the directory: {e.__class__.__name__}{detail}") from None
        page.write(conn)
        token = str(uuid.uuid4())
        conn.execute("INSERT INTO views.directory_writer (token) VALUES (%s)"
                     " ON CONFLICT (one) DO UPDATE SET token = EXCLUDED.token", (token,))
        if cache.size() > CACHED_ROWS:
            cache.clear()
        cache.token = token
