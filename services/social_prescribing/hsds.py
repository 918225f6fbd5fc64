"""Open Referral HSDS 3.0, as the activity directory speaks it: each service record checked against
the specification's own compiled schema (kept unchanged in `contracts/hsds-3.0/`), the capacity
field later HSDS versions added, and the page every list of the HSDS API answers with.

Pure: no database, no HTTP. The directory (`directory.py`) and the API (`http.py`) use it."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

HSDS_DIR = Path(__file__).resolve().parents[2] / "contracts" / "hsds-3.0"
VERSION = "3.0"
PROFILE = "https://specs.openreferral.org/hsds/3.0/"

# RFC 3339 date-time (the schemas' "format": "date-time", which jsonschema checks only with an extra package)
INSTANT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|z|[+-]\d{2}:\d{2})$"

# `service_capacity` as HSDS 3.1 added it after directories asked for live places. HSDS 3.0
# allows extra fields, so a record with it still validates against 3.0; this checks its own shape.
CAPACITY_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["id", "unit", "available", "updated"],
        "properties": {
            "id": {"type": "string", "minLength": 1},
            "service_id": {"type": "string"},
            "unit": {"type": "object", "required": ["name"], "properties": {
                "id": {"type": "string"}, "name": {"type": "string", "minLength": 1}}},
            "available": {"type": "integer", "minimum": 0},
            "maximum": {"type": ["integer", "null"], "minimum": 0},
            "description": {"type": ["string", "null"]},
            "updated": {"type": "string", "pattern": INSTANT},
        },
    },
}


def instant(text: str) -> datetime | None:
    """An RFC 3339 date-time as HSDS writes them, or None if it is not one (the shape, or a day or
    an hour that does not exist: 2026-02-30)."""
    if not isinstance(text, str) or not re.match(INSTANT, text):
        return None
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
    except ValueError:
        return None


@cache
def schema(name: str) -> dict[str, Any]:
    """One of the kept HSDS files: `compiled/service.json`, `compiled/service_list.json`, `openapi.json`."""
    return json.loads((HSDS_DIR / name).read_text(encoding="utf-8"))


@cache
def _validators() -> tuple[Draft202012Validator, Draft202012Validator]:
    checker = FormatChecker()
    return (Draft202012Validator(schema("compiled/service.json"), format_checker=checker),
            Draft202012Validator(CAPACITY_SCHEMA, format_checker=checker))


@dataclass(frozen=True)
class Invalid:
    """Why one record of a file does not import: which record (its place and id), where in it (a
    JSON path from the file's root) and what the schema says."""

    index: int
    record_id: str | None
    path: str
    message: str

    def __str__(self) -> str:
        which = f"record {self.index + 1}" + (f" (id {self.record_id})" if self.record_id else "")
        return f"{which}, at {self.path}: {self.message}"


def json_path(root: str, parts: Any) -> str:
    path = root
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _first(errors: list[ValidationError]) -> ValidationError | None:
    return best_match(errors) if errors else None


def problem(record: Any, index: int = 0, root: str = "$") -> Invalid | None:
    """The first reason `record` is not an HSDS 3.0 service (with our capacity field), or None."""
    here = f"{root}[{index}]"
    record_id = record.get("id") if isinstance(record, dict) and isinstance(record.get("id"), str) else None
    service, capacity = _validators()
    error = _first(list(service.iter_errors(record)))
    if error is None and record.get("last_modified") is not None and instant(record["last_modified"]) is None:
        return Invalid(index, record_id, f"{here}.last_modified", f"{record['last_modified']!r} is not an RFC 3339"
                       " date-time (for example 2026-12-01T09:30:00Z)")
    if error is None and isinstance(record, dict) and "service_capacity" in record:
        error = _first(list(capacity.iter_errors(record["service_capacity"])))
        if error is not None:
            return Invalid(index, record_id, json_path(f"{here}.service_capacity", error.absolute_path), error.message)
        for i, place in enumerate(record["service_capacity"]):
            if instant(place["updated"]) is None:
                return Invalid(index, record_id, f"{here}.service_capacity[{i}].updated",
                               f"{place['updated']!r} is not a date and time that exists")
            if place.get("maximum") is not None and place["available"] > place["maximum"]:
                return Invalid(index, record_id, f"{here}.service_capacity[{i}].available",
                               f"{place['available']} places available is more than the maximum, {place['maximum']}")
    if error is not None:
        return Invalid(index, record_id, json_path(here, error.absolute_path), error.message)
    return None


def records_of(document: Any) -> tuple[list[Any], str]:
    """The service records of an import file and the JSON path they sit at: a list of services, or
    an HSDS page (`contents`), as `kit directory export` and `/hsds/services` write them."""
    if isinstance(document, list):
        return document, "$"
    if isinstance(document, dict) and isinstance(document.get("contents"), list):
        return document["contents"], "$.contents"
    raise ValueError("an HSDS file is a list of services, or a page of them (an object with \"contents\")")


def first_invalid(records: list[Any], root: str = "$") -> Invalid | None:
    """The first record that fails (in file order), checking ids are unique across the file too."""
    seen: dict[str, int] = {}
    for index, record in enumerate(records):
        found = problem(record, index, root)
        if found is not None:
            return found
        if record["id"] in seen:
            return Invalid(index, record["id"], f"{root}[{index}].id",
                           f"the id is already used by record {seen[record['id']] + 1}")
        seen[record["id"]] = index
    return None


def page(contents: list[dict[str, Any]], *, total: int, number: int, per_page: int) -> dict[str, Any]:
    """An HSDS API page (`components.schemas.Page` of the HSDS OpenAPI) around `contents`; `size`
    is the size of this page, as in the specification's example list."""
    pages = math.ceil(total / per_page) if per_page else 0
    return {"total_items": total, "total_pages": pages, "page_number": number, "size": len(contents),
            "first_page": number == 1, "last_page": number >= pages, "empty": not contents,
            "contents": contents}
