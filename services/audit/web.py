"""The audit trail in the web app, for auditors only: the log's verification status, a youth's
path in words, the case state at a date, the signed bundle as a file, the access log with filters
and CSV. Read-only pages (no form posts anything): every read goes through the same functions as
the API (`services.audit.http`), so it is logged the same way (an access-log row, purpose `audit`).
Everyone else gets the 403 page; a youth the log does not know, the 404 page.

No `from __future__ import annotations`: FastAPI resolves the parameters at definition time.
"""

import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from events.bounds import EARLIEST_YEAR, LATEST_YEAR
from events.envelope import AGENCY_PATTERN, PSEUDONYM_PATTERN
from services.audit import checkpointing, http, verify
from shared import access_log
from shared.accounts import Operator
from shared.http import PLAIN_TEXT, SearchText, logged_read, state
from shared.roles import may
from shared.web import formats
from shared.web.session import (PAGE_SIZE, PageNumber, Paging, add_templates, agency_name, lang_of, page, refused,
                                signed_in)
from shared.web.words import Translator, translator

add_templates(Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)

# the purposes the platform writes in the access log (shared.accounts.log_access callers)
PURPOSES = ("case_management", "access_check", "administration", "audit")
DayText = Annotated[str | None, Query(max_length=10, pattern=PLAIN_TEXT)]
AgencyCode = Annotated[str | None, Query(max_length=40, pattern=PLAIN_TEXT)]
PROBLEMS = {"youth": "audit.bad_youth_id", "since": "audit.bad_date", "until": "audit.bad_date",
            "agency": "audit.bad_agency", "purpose": "audit.bad_purpose"}  # a filter's refusal in words
DATETIME, DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T"), re.compile(r"^\d{4}-\d{2}-\d{2}$")


def auditor(request: Request, youth_id: str | None = None) -> tuple[Operator, Response | None]:
    """The signed-in operator, and the 403 page unless their role reads the audit trail (the 404
    page for what is no youth's id)."""
    operator = signed_in(request)
    if not may(operator.role, "audit.read"):
        return operator, refused(request, 403)
    if youth_id is not None and not re.fullmatch(PSEUDONYM_PATTERN, youth_id):
        return operator, refused(request, 404)
    return operator, None


def answer(route: Callable[..., Any], request: Request, *args: Any, unless: int) -> Any:
    """What the API's route answers (the same read, logged the same way), or None where it refuses
    with `unless` (404: the log does not know the youth; 409: nothing signed yet)."""
    try:
        return route(request, *args)
    except HTTPException as e:
        if e.status_code != unless:
            raise
        return None


def zone(request: Request, operator: Operator) -> ZoneInfo:
    agency = state(request).register.agencies.get(operator.agency)
    return formats.zone_of(agency.country if agency else None)


def parse_day(text: str | None) -> date | None:
    """dd/mm/yyyy as typed, or yyyy-mm-dd as a date input sends it (years 1900-2199); None if neither."""
    for form in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            day = datetime.strptime((text or "").strip(), form).date()
        except ValueError:
            continue
        return day if EARLIEST_YEAR <= day.year <= LATEST_YEAR else None
    return None


def day_starts(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


@router.get("/audit", response_class=HTMLResponse)
def audit_home(request: Request, verify_now: Annotated[Literal["now"] | None, Query(alias="verify")] = None
               ) -> Response:
    """Whether the log verified at its latest whole verification (every entry re-hashed against
    every signed checkpoint; the audit service runs one every hour; `?verify=now` runs one for the
    auditor, a read like any other, recorded with who asked), the latest checkpoint and the public
    key bundles are checked with, and where to open a youth's path."""
    operator, refusal = auditor(request)
    if refusal:
        return refusal
    public_key = state(request).extras.get("audit_public_key")
    what = "audit verify: log" if verify_now and public_key else "audit: verification status"
    with logged_read(request, operator, purpose="audit", what=what) as conn:
        if what == "audit verify: log":
            verify.verify_and_record(conn, public_key, operator.username or operator.id)
        signed = checkpointing.latest(conn)
        report = verify.last_verification(conn) if public_key else None
    return page(request, "audit_home.html", operator=operator, checkpoint=signed.to_json() if signed else None,
                report=report, public_key=public_key,
                bad_youth_id=request.query_params.get("bad") == "1")


@router.get("/audit/youths", response_class=HTMLResponse)
def open_youth(request: Request, youth_id: SearchText = None) -> Response:
    """The landing page's form: to the youth's path."""
    operator, refusal = auditor(request)
    if refusal:
        return refusal
    wanted = (youth_id or "").strip().lower()
    if not re.fullmatch(PSEUDONYM_PATTERN, wanted):
        return RedirectResponse(f"/audit?bad=1&lang={lang_of(request)}", status_code=303)
    return RedirectResponse(f"/audit/youths/{wanted}?lang={lang_of(request)}", status_code=303)


@router.get("/audit/youths/{youth_id}", response_class=HTMLResponse)
def youth_path(request: Request, youth_id: str) -> Response:
    """The youth's whole path in log order, in words: when, what, for which agency, who; reads too."""
    operator, refusal = auditor(request, youth_id)
    if refusal:
        return refusal
    steps = answer(http.audit_path, request, youth_id, operator, unless=404)
    if steps is None:
        return refused(request, 404)
    names = usernames(request, {s["actor"] for s in steps if s.get("actor")})
    t = translator(lang_of(request))
    rows = [step | {"words": what_happened(t, step), "who": names.get(step.get("actor") or "") or step.get("actor")}
            for step in steps]
    return page(request, "audit_path.html", operator=operator, youth_id=youth_id, steps=rows,
                reads=sum(1 for s in steps if s["kind"] == "access"),
                today=datetime.now(zone(request, operator)).strftime("%d/%m/%Y"))


def what_happened(t: Translator, step: dict[str, Any]) -> str:
    """An event as the sentence its service gives it (`event.<type>`); a read as one."""
    if step["kind"] == "access":
        return t("audit.read", purpose=purpose_word(t, step["purpose"]))
    return t(f"event.{step['type']}")


def purpose_word(t: Translator, purpose: str) -> str:
    return t(f"audit.purpose.{purpose}") if t.has(f"audit.purpose.{purpose}") else purpose


def usernames(request: Request, ids: set[str]) -> dict[str, str]:
    """The operators' usernames for the actor ids of a path (an actor a partner's system named is
    not an account: it stays as it is)."""
    if not ids:
        return {}
    with state(request).pool.connection() as conn:
        return dict(conn.execute("SELECT id::text, username FROM api.operators WHERE id::text = ANY(%s)",
                                 (sorted(ids),)).fetchall())


@router.get("/audit/youths/{youth_id}/state", response_class=HTMLResponse)
def youth_state(request: Request, youth_id: str, at: DayText = None) -> Response:
    """The case as it was at the end of a day (the auditor's time zone), per service, in words
    (today's without a date); a 404 saying so where no service knew the youth by then."""
    operator, refusal = auditor(request, youth_id)
    if refusal:
        return refusal
    tz = zone(request, operator)
    day = parse_day(at) if at else datetime.now(tz).date()
    if day is None:
        return page(request, "audit_state.html", status_code=422, operator=operator, youth_id=youth_id, day=None,
                    typed="", services=None, bad_date=True)  # what was typed wrong is not echoed
    end_of_day = day_starts(day + timedelta(days=1), tz) - timedelta(microseconds=1)
    found = answer(http.audit_state, request, youth_id, end_of_day, operator, unless=404)
    t = translator(lang_of(request))
    services = None if found is None else [
        (name, readable_state(t, summary, lambda code: agency_name(request, code), tz))
        for name, summary in found["services"].items()]
    return page(request, "audit_state.html", status_code=200 if found else 404, operator=operator,
                youth_id=youth_id, day=day, typed=day.strftime("%d/%m/%Y"), services=services, bad_date=False)


def readable_state(t: Translator, summary: dict[str, Any], agency: Callable[[str], str],
                   tz: ZoneInfo) -> list[dict[str, Any]]:
    """A service's summary (its fold's `summary`) as label and text, or label and a table for a
    list of records (consents, goals, referrals); identifiers are left to the bundle. `agency`
    names an agency's code (the code itself if it is none)."""
    fields = []
    for key, value in summary.items():
        if key in ("youth_id", "as_of"):
            continue
        records = list(value.values()) if isinstance(value, dict) else value
        if isinstance(records, list) and records and all(isinstance(r, dict) for r in records):
            columns = [c for c in dict.fromkeys(k for r in records for k in r) if not c.endswith("_id")]
            fields.append({"label": t(f"audit.state.{key}"), "columns": [t(f"audit.state.{c}") for c in columns],
                           "rows": [[readable(t, r.get(c), agency, tz) for c in columns] for r in records]})
        else:
            fields.append({"label": t(f"audit.state.{key}"), "text": readable(t, value, agency, tz)})
    return fields


def readable(t: Translator, value: Any, agency: Callable[[str], str], tz: ZoneInfo) -> str:
    """A value in words: yes/no, dates in the zone, an agency's name, an option's words."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return t("yes") if value else t("no")
    if isinstance(value, (list, tuple, dict)):
        return ", ".join(readable(t, v, agency, tz) for v in value) if value else t("none")
    text = str(value)
    if DATETIME.match(text):
        return formats.when(text, tz)
    if DATE.match(text):
        return formats.day(text)
    if re.fullmatch(AGENCY_PATTERN, text) and (name := agency(text)) != text:
        return name
    return t(f"opt.{text}") if t.has(f"opt.{text}") else text


@router.get("/audit/youths/{youth_id}/bundle")
def youth_bundle(request: Request, youth_id: str) -> Response:
    """The signed bundle as a file: each entry with its inclusion proof against the latest
    checkpoint; `kit audit verify-bundle FILE --public-key=KEY` checks it offline."""
    operator, refusal = auditor(request, youth_id)
    if refusal:
        return refusal
    signed = answer(http.audit_bundle, request, youth_id, operator, unless=409)
    if signed is None:
        return page(request, "audit_message.html", status_code=409, operator=operator, message="audit.no_bundle_yet",
                    youth_id=youth_id)
    if not signed["entries"]:
        return refused(request, 404)
    return JSONResponse(signed, headers={
        "Content-Disposition": f'attachment; filename="kit-audit-bundle-{youth_id}.json"'})


@router.get("/audit/access", response_class=HTMLResponse)
def access(request: Request, youth: SearchText = None, operator_name: Annotated[SearchText, Query(alias="operator")] = None,
           agency: AgencyCode = None, purpose: SearchText = None, since: DayText = None, until: DayText = None,
           number: PageNumber = 1, format: SearchText = None) -> Response:
    """Who read what: by youth, operator (username or id), agency, purpose and days (the auditor's
    time zone, both ends included); a page at a time, newest first, or all of it as CSV."""
    operator, refusal = auditor(request)
    if refusal:
        return refusal
    tz = zone(request, operator)
    youth, operator_name = (youth or "").strip().lower() or None, (operator_name or "").strip() or None
    first, last = parse_day(since), parse_day(until)
    wrong = {"youth": youth is not None and not re.fullmatch(PSEUDONYM_PATTERN, youth),
             "since": bool(since) and first is None, "until": bool(until) and last is None,
             "agency": bool(agency) and agency not in state(request).register.agencies,
             "purpose": bool(purpose) and purpose not in PURPOSES}
    problems = list(dict.fromkeys(PROBLEMS[name] for name, bad in wrong.items() if bad))
    typed = {"youth": youth, "operator": operator_name, "agency": agency, "purpose": purpose, "since": since,
             "until": until}
    filters = {name: "" if wrong.get(name) else value or "" for name, value in typed.items()}  # never echo a wrong one
    context = {"operator": operator, "filters": filters, "purposes": PURPOSES,
               "agencies": sorted(state(request).register.agencies.values(), key=lambda a: a.name)}
    if problems:
        return page(request, "audit_access.html", status_code=422, problems=problems, rows=[], **context)
    chosen = {"youth_id": youth, "since": day_starts(first, tz) if first else None,
              "until": day_starts(last + timedelta(days=1), tz) if last else None,
              "agency": agency or None, "purpose": purpose or None}
    if format == "csv":
        rows = http.audit_access(request, operator, operator_ref=operator_name, format="json", **chosen)
        return Response(access_log.to_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="kit-access-log.csv"'})
    rows, total = http.audit_access_page(request, operator, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE,
                                         operator=operator_name, **chosen)
    return page(request, "audit_access.html", problems=[], rows=rows, paging=Paging(number, PAGE_SIZE, total),
                **context)
