"""The activity directory in the service's own schema: HSDS 3.0 services (fully nested, as
imported), with the columns the searches need and each activity's capacity kept beside its record.

An import checks every record first and writes them all in one transaction, or none: a file with
one bad record leaves the directory as it was. Export writes the records back as HSDS, capacity
included, so an export imports again unchanged.

An activity's free places come from the file until the service keeps them itself (its first
prescription, or its provider setting them): from then on they follow the service's events
(`PlacesView`), and a later import changes the record but not the places."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from services.social_prescribing import hsds
from services.social_prescribing.decisions import Activity

SCHEMA = "social_prescribing"

DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.directory_services (
    id text PRIMARY KEY,                 -- the HSDS service id
    organization_id text,
    provider_agency text,                -- the platform agency that runs it (organisation identifier "kit-agency")
    name text NOT NULL,
    status text NOT NULL,
    minimum_age numeric,
    maximum_age numeric,
    taxonomy_term_ids text[] NOT NULL DEFAULT '{{}}',
    search_text text NOT NULL,           -- name, alternate name, description, organisation: lower case
    territories text[] NOT NULL DEFAULT '{{}}',  -- its locations' cities, regions, provinces: lower case
    weekdays text[] NOT NULL DEFAULT '{{}}',     -- the days its timetables name: MO ... SU
    record jsonb NOT NULL,               -- the HSDS service as imported, without its capacity
    capacity jsonb,                      -- its `service_capacity`, kept apart: it changes on its own
    capacity_live boolean NOT NULL DEFAULT false,  -- kept by the service's places from then on (not by imports)
    last_modified timestamptz NOT NULL,  -- the record's, else when it was imported
    imported_at timestamptz NOT NULL
);
ALTER TABLE {SCHEMA}.directory_services ADD COLUMN IF NOT EXISTS imported_by text;  -- NULL: the platform's own
CREATE INDEX IF NOT EXISTS directory_services_modified ON {SCHEMA}.directory_services (last_modified);
CREATE INDEX IF NOT EXISTS directory_services_organization ON {SCHEMA}.directory_services (organization_id);
"""


class InvalidDirectory(ValueError):
    """A file the directory refuses whole, with the first reason (record, JSON path, rule)."""

    def __init__(self, invalid: hsds.Invalid | str, not_yours: bool = False):
        self.invalid = invalid if isinstance(invalid, hsds.Invalid) else None
        self.not_yours = not_yours  # valid HSDS, but not the importing agency's to import
        super().__init__(str(invalid))


def create_tables(conn: psycopg.Connection) -> None:
    conn.execute(DDL)


def taxonomy_term_ids(record: dict[str, Any]) -> list[str]:
    """The taxonomy terms a service is tagged with: its attributes' terms (HSDS 3.0 links terms to
    a service through `attributes`)."""
    found = []
    for attribute in record.get("attributes") or []:
        for term in (attribute.get("taxonomy_term_id"), (attribute.get("taxonomy_term") or {}).get("id")):
            if isinstance(term, str) and term not in found:
                found.append(term)
    return found


WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
AGENCY_SCHEME = "kit-agency"


def provider_agency(record: dict[str, Any]) -> str | None:
    """The platform agency that runs the activity, if its organisation names one: an HSDS
    organisation identifier with `identifier_scheme` "kit-agency" and the agency's code. Only that
    agency's system may set the activity's places."""
    organization = record.get("organization") or {}
    for identifier in organization.get("organization_identifiers") or []:
        if identifier.get("identifier_scheme") == AGENCY_SCHEME and isinstance(identifier.get("identifier"), str):
            return identifier["identifier"]
    return None


def _locations(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [at["location"] for at in record.get("service_at_locations") or [] if isinstance(at.get("location"), dict)]


def territories(record: dict[str, Any]) -> list[str]:
    """Where a service takes place, as an operator searches it: each address's city, region and
    province, lower case."""
    found: list[str] = []
    for location in _locations(record):
        for address in location.get("addresses") or []:
            for name in (address.get("city"), address.get("region"), address.get("state_province")):
                if isinstance(name, str) and name.strip() and name.strip().lower() not in found:
                    found.append(name.strip().lower())
    return found


def weekdays(record: dict[str, Any]) -> list[str]:
    """The days of the week the activity runs (HSDS `byday`, iCal: "TH,FR", "2MO", "-1FR"), from
    the service's timetable and its timetables at each location; a location's own opening hours are
    when the place is open, not when the activity runs."""
    schedules = list(record.get("schedules") or [])
    for at in record.get("service_at_locations") or []:
        schedules += at.get("schedules") or []
    days = {part.strip().lstrip("+-0123456789").upper() for schedule in schedules
            for part in (schedule.get("byday") or "").split(",")}
    return [day for day in WEEKDAYS if day in days]


def _row(record: dict[str, Any], now: datetime) -> dict[str, Any]:
    organization = record.get("organization") or {}
    words = [record.get("name"), record.get("alternate_name"), record.get("description"), organization.get("name")]
    modified = record.get("last_modified")
    return {
        "id": record["id"], "organization_id": record.get("organization_id") or organization.get("id"),
        "provider_agency": provider_agency(record),
        "name": record["name"], "status": record["status"],
        "minimum_age": record.get("minimum_age"), "maximum_age": record.get("maximum_age"),
        "taxonomy_term_ids": taxonomy_term_ids(record),
        "search_text": " ".join(w for w in words if isinstance(w, str)).lower(),
        "territories": territories(record), "weekdays": weekdays(record),
        "record": Jsonb({k: v for k, v in record.items() if k != "service_capacity"}),
        "capacity": Jsonb(record["service_capacity"]) if "service_capacity" in record else None,
        "last_modified": hsds.instant(modified) if modified else now,  # checked by `hsds.problem` before
        "imported_at": now,
    }


def import_records(conn: psycopg.Connection, document: Any, now: datetime, agency: str | None = None) -> int:
    """Every service of an HSDS file (a list, or a page), added or replaced by id, in the caller's
    transaction; nothing written if any record fails (InvalidDirectory names the first).

    `agency`: an agency importing its own activities (the HTTP import), not the platform (`kit
    directory import`): each record's organisation names no platform agency or this one, and it
    replaces only activities this agency imported."""
    try:
        records, root = hsds.records_of(document)
    except ValueError as e:
        raise InvalidDirectory(str(e)) from None
    invalid = hsds.first_invalid(records, root)
    if invalid is not None:
        raise InvalidDirectory(invalid)
    create_tables(conn)
    if agency is not None:
        refused = not_the_agencys(conn, records, root, agency)
        if refused is not None:
            raise InvalidDirectory(refused, not_yours=True)
    with conn.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {SCHEMA}.directory_services (id, organization_id, provider_agency, name, status, minimum_age, maximum_age,"
            " taxonomy_term_ids, search_text, territories, weekdays, record, capacity, last_modified, imported_at,"
            " imported_by)"
            " VALUES (%(id)s, %(organization_id)s, %(provider_agency)s, %(name)s, %(status)s, %(minimum_age)s, %(maximum_age)s,"
            " %(taxonomy_term_ids)s, %(search_text)s, %(territories)s, %(weekdays)s, %(record)s, %(capacity)s,"
            " %(last_modified)s, %(imported_at)s, %(imported_by)s)"
            " ON CONFLICT (id) DO UPDATE SET organization_id = EXCLUDED.organization_id, name = EXCLUDED.name,"
            " provider_agency = EXCLUDED.provider_agency,"
            " status = EXCLUDED.status, minimum_age = EXCLUDED.minimum_age, maximum_age = EXCLUDED.maximum_age,"
            " taxonomy_term_ids = EXCLUDED.taxonomy_term_ids, search_text = EXCLUDED.search_text,"
            " territories = EXCLUDED.territories, weekdays = EXCLUDED.weekdays,"
            " record = EXCLUDED.record, last_modified = EXCLUDED.last_modified,"
            f" capacity = CASE WHEN {SCHEMA}.directory_services.capacity_live THEN {SCHEMA}.directory_services.capacity"
            " ELSE EXCLUDED.capacity END,"
            " imported_at = EXCLUDED.imported_at",
            [_row(record, now) | {"imported_by": agency} for record in records])
    return len(records)


def not_the_agencys(conn: psycopg.Connection, records: list[dict[str, Any]], root: str,
                    agency: str) -> hsds.Invalid | None:
    """The first record an agency may not import: one whose organisation names another platform
    agency, or one that replaces an activity the platform or another agency imported."""
    owners = dict(conn.execute(f"SELECT id, coalesce(imported_by, '') FROM {SCHEMA}.directory_services"
                               " WHERE id = ANY(%s)", ([r["id"] for r in records],)).fetchall())
    for index, record in enumerate(records):
        provider = provider_agency(record)
        if provider not in (None, agency):
            return hsds.Invalid(index, record["id"], hsds.json_path(root, [index, "organization"]),
                                f"the organisation is the agency {provider}, not {agency}: it imports its own")
        if record["id"] in owners and owners[record["id"]] != agency:
            return hsds.Invalid(index, record["id"], hsds.json_path(root, [index, "id"]),
                                "an activity another agency (or the platform) keeps in the directory has this id")
    return None


def _service(record: dict[str, Any], capacity: list[dict[str, Any]] | None) -> dict[str, Any]:
    return record | ({"service_capacity": capacity} if capacity is not None else {})


@dataclass(frozen=True)
class Search:
    """What `/hsds/services` filters by: HSDS's own (free text, a taxonomy term, an organisation,
    modified on or after) and what a link worker looks for (a place, an age, a day, free places)."""

    text: str | None = None
    taxonomy_term_id: str | None = None
    organization_id: str | None = None
    modified_after: datetime | None = None
    territory: str | None = None  # a city, region or province of one of its locations
    age: int | None = None  # within its age range (a missing bound is open)
    weekday: str | None = None  # MO ... SU: on its timetable
    free_places: bool = False  # some capacity with a place available

    def where(self) -> tuple[str, dict[str, Any]]:
        clauses, args = ["TRUE"], {}
        if self.text:
            clauses.append("strpos(search_text, %(text)s) > 0")
            args["text"] = self.text.lower()
        if self.taxonomy_term_id:
            clauses.append("%(term)s = ANY (taxonomy_term_ids)")
            args["term"] = self.taxonomy_term_id
        if self.organization_id:
            clauses.append("organization_id = %(organization)s")
            args["organization"] = self.organization_id
        if self.modified_after:
            clauses.append("last_modified >= %(modified_after)s")
            args["modified_after"] = self.modified_after
        if self.territory:
            clauses.append("lower(%(territory)s) = ANY (territories)")
            args["territory"] = self.territory.strip()
        if self.age is not None:
            clauses.append("coalesce(minimum_age <= %(age)s, TRUE) AND coalesce(%(age)s <= maximum_age, TRUE)")
            args["age"] = self.age
        if self.weekday:
            clauses.append("%(weekday)s = ANY (weekdays)")
            args["weekday"] = self.weekday
        if self.free_places:
            clauses.append("EXISTS (SELECT FROM jsonb_array_elements(capacity) c WHERE (c->>'available')::int > 0)")
        return " AND ".join(clauses), args


def services(conn: psycopg.Connection, search: Search = Search(), *, limit: int | None = None,
             offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """A page of services (HSDS, fully nested), by name, and how many match."""
    where, args = search.where()
    rows = conn.execute(
        f"SELECT record, capacity, count(*) OVER () FROM {SCHEMA}.directory_services WHERE {where}"
        " ORDER BY name, id LIMIT %(limit)s OFFSET %(offset)s", args | {"limit": limit, "offset": offset}).fetchall()
    total = rows[0][2] if rows else (0 if offset == 0 else _count(conn, where, args))
    return [_service(record, capacity) for record, capacity, _ in rows], total


def _count(conn: psycopg.Connection, where: str, args: dict[str, Any]) -> int:
    return conn.execute(f"SELECT count(*) FROM {SCHEMA}.directory_services WHERE {where}", args).fetchone()[0]


def service(conn: psycopg.Connection, service_id: str) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT record, capacity FROM {SCHEMA}.directory_services WHERE id = %s",
                       (service_id,)).fetchone()
    return _service(*row) if row else None


def activity(conn: psycopg.Connection, activity_id: str) -> tuple[Activity, int | None, int | None] | None:
    """What a prescription needs of an activity: its name, status and ages, and the places the
    directory gives it (free, at most; None where it gives none)."""
    row = conn.execute(
        f"SELECT name, status, minimum_age, maximum_age, provider_agency, (capacity->0->>'available')::int,"
        f" (capacity->0->>'maximum')::int FROM {SCHEMA}.directory_services WHERE id = %s", (activity_id,)).fetchone()
    if row is None:
        return None
    name, status, low, high, provider, available, maximum = row
    return Activity(name, status, None if low is None else float(low), None if high is None else float(high),
                    provider), available, maximum


def export(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """The whole directory as an HSDS file: what `import_records` reads back unchanged."""
    create_tables(conn)
    return services(conn)[0]


def set_live_capacity(conn: psycopg.Connection, activity_id: str, available: int | None, maximum: int | None,
                      updated: datetime) -> None:
    """The places the service keeps for an activity, as HSDS `service_capacity` (keeping the id and
    unit the directory gave them, if it did); an activity whose places are not limited shows none."""
    row = conn.execute(f"SELECT capacity->0 FROM {SCHEMA}.directory_services WHERE id = %s", (activity_id,)).fetchone()
    given = (row[0] if row else None) or {}
    capacity = None if available is None else [{
        "id": given.get("id") or f"{activity_id}-places", "service_id": activity_id,
        "unit": given.get("unit") or {"name": "places"}, "available": available, "maximum": maximum,
        "updated": updated.isoformat().replace("+00:00", "Z")}]
    conn.execute(f"UPDATE {SCHEMA}.directory_services SET capacity = %s, capacity_live = true WHERE id = %s",
                 (Jsonb(capacity) if capacity is not None else None, activity_id))


def names(conn: psycopg.Connection, activity_ids: list[str]) -> dict[str, str]:
    """The activities' names by id (those the directory has)."""
    if not activity_ids:
        return {}
    return dict(conn.execute(f"SELECT id, name FROM {SCHEMA}.directory_services WHERE id = ANY(%s)",
                             (list(activity_ids),)).fetchall())
