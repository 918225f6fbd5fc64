"""The link workers' pages: their agency's social prescribing cases (referrals waiting for an
answer, the youths it follows, those it referred), the activity directory searched with its free
places, and a youth's social prescribing page in the order a link worker works: the referral, what
matters to the youth, the plan, the activities prescribed (attendance, end), wellbeing, contacts.

Every form sends the service's command through the HTTP API's own path (same rules, receipts and
consent); a refusal comes back on the page, in words, naming the field. Every read goes through the
consent rule at the time of the request and is in the access log. No `from __future__ import
annotations`: FastAPI resolves the parameters at definition time."""

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timezone
from functools import cache
from itertools import islice, zip_longest
from pathlib import Path
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from events import social_prescribing as sp
from projections.access import VISIBLE_ROW_SQL
from services.social_prescribing import caseload, cases_view, dataset, directory, wellbeing, youth_words
from shared import accounts
from shared.agencies import today_in
from shared.http import PLAIN_TEXT, state
from shared.roles import may
from shared.web import formats
from shared.web.session import (PAGE_SIZE, PageNumber, Paging, add_templates, form_errors, lang_of, page,
                                reads, refused, same_origin, send, signed_in)
from shared.web.words import translator

router = APIRouter(include_in_schema=False)
add_templates(Path(__file__).parent / "templates")
HOME = "/social-prescribing"
Box = Literal["following", "waiting", "sent"]
Text = Annotated[str | None, Query(max_length=200, pattern=PLAIN_TEXT)]
GOAL_ROWS = 2  # empty goal rows a new plan's form offers beside the current goals
MAX_GOAL_ROWS = 50  # rows of a posted plan read at most (a plan holds 10 goals)


def _operator(request: Request):
    operator = signed_in(request)
    if not may(operator.role, "case.read"):
        raise PermissionError
    return operator


def _flash(request: Request, saved: str | None) -> str | None:
    t = translator(lang_of(request))
    return t(f"done.sp_{saved}") if saved and t.has(f"done.sp_{saved}") else None


def _zone(request: Request, agency: str):
    found = state(request).register.agencies.get(agency)
    return formats.zone_of(found.country if found else None)


def _today(request: Request, agency: str) -> date:
    return today_in(state(request).register, agency)


# ---------------------------------------------------------------- the agency's cases

@router.get(HOME, response_class=HTMLResponse)
def cases_page(request: Request, box: Box = "following", mine: bool = False, number: PageNumber = 1,
               saved: str | None = None) -> HTMLResponse:
    try:
        operator = _operator(request)
    except PermissionError:
        return refused(request, 403)
    statuses = {"following": ("accepted",), "waiting": ("received",),
                "sent": ("received", "accepted", "declined")}[box]
    visibility = reads(request).visibility_args(operator)
    with state(request).pool.connection() as conn, conn.transaction():
        rows, total = cases_view.cases(conn, visibility, statuses=statuses, side="from" if box == "sent" else "to",
                                       link_worker=operator.username if mine and box == "following" else None,
                                       limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
        reads(request).add_names(conn, operator, rows)
        accounts.log_access(conn, operator, purpose="case_management",
                            what="social prescribing cases with names" if may(operator.role, "identity.read")
                            else "social prescribing cases")
        loads = caseload.by_link_worker(conn, operator.agency) if box == "following" else []
    return page(request, "sp_cases.html", operator=operator, box=box, mine=mine, cases=rows,
                paging=Paging(number, PAGE_SIZE, total), loads=loads, threshold=caseload.threshold(os.environ),
                flash=_flash(request, saved))


# ---------------------------------------------------------------- the directory

@router.get(HOME + "/activities", response_class=HTMLResponse)
def activities_page(request: Request, q: Text = None, territory: Text = None,
                    day: Literal["", "MO", "TU", "WE", "TH", "FR", "SA", "SU"] = "",
                    age: Annotated[str, Query(pattern=r"^[0-9]{0,3}$")] = "", free: bool = False,
                    youth: uuid.UUID | None = None, number: PageNumber = 1) -> HTMLResponse:
    """The directory as a link worker searches it; with `youth`, each activity can be prescribed
    to that youth (the youth's name is not read here: the form names the youth's page)."""
    try:
        operator = _operator(request)
    except PermissionError:
        return refused(request, 403)
    search = directory.Search(text=q or None, territory=territory or None, age=int(age) if age else None,
                              weekday=day or None,
                              free_places=free)
    with state(request).pool.connection() as conn:
        try:
            found, total = directory.services(conn, search, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
        except psycopg.errors.UndefinedTable:  # the service has not made its directory yet
            found, total = [], 0
    return page(request, "sp_activities.html", operator=operator, activities=[summary(s) for s in found],
                paging=Paging(number, PAGE_SIZE, total), q=q, territory=territory, day=day, age=age, free=free,
                youth=str(youth) if youth else None, days=("MO", "TU", "WE", "TH", "FR", "SA", "SU"))


def summary(service: dict[str, Any]) -> dict[str, Any]:
    """What a link worker needs of an activity at a glance: where, when, for whom, places free."""
    places = (service.get("service_capacity") or [None])[0]
    locations = [at.get("location") or {} for at in service.get("service_at_locations") or []]
    cities = sorted({a.get("city") for loc in locations for a in loc.get("addresses") or [] if a.get("city")})
    schedules = [s for at in service.get("service_at_locations") or [] for s in at.get("schedules") or []]
    schedules += service.get("schedules") or []
    return {
        "id": service["id"], "name": service["name"], "description": service.get("description"),
        "organization": (service.get("organization") or {}).get("name"), "cities": cities,
        "places": [loc.get("name") for loc in locations if loc.get("name")],
        "days": [day for s in schedules for day in (s.get("byday") or "").split(",") if day],
        "hours": [f"{s['opens_at'][:5]}–{s['closes_at'][:5]}" for s in schedules
                  if s.get("opens_at") and s.get("closes_at")],
        "minimum_age": service.get("minimum_age"), "maximum_age": service.get("maximum_age"),
        "available": places.get("available") if places else None,
        "maximum": places.get("maximum") if places else None, "active": service.get("status") == "active",
    }


# ---------------------------------------------------------------- a youth's social prescribing

@cache
def instruments() -> dict[tuple[str, str], wellbeing.Instrument]:
    return wellbeing.catalogue(os.environ.get("KIT_WELLBEING_INSTRUMENTS") or None)


@router.get(HOME + "/youths/{youth_id}", response_class=HTMLResponse)
def youth_page(request: Request, youth_id: uuid.UUID, saved: str | None = None) -> HTMLResponse:
    return youth_view(request, str(youth_id), flash=_flash(request, saved))


def youth_view(request: Request, youth_id: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    try:
        operator = _operator(request)
    except PermissionError:
        return refused(request, 403)
    try:  # consent at this moment, and the read in the access log
        path = reads(request).timeline(operator, youth_id, what="social prescribing youth page")
    except LookupError:
        return refused(request, 404)
    record = dataset.minimum_dataset(youth_id, path)
    referral = next((e["data"] for e in reversed(path) if e["type"] == sp.SocialPrescribingReferralReceived.type_name
                     and not e.get("withheld")), None)
    # the youth's own words: roles with need to know, at the agency following the youth or referring
    own_words = may(operator.role, "wellbeing.read") and operator.agency in (
        record["who"].get("referred_by"), record["who"].get("social_prescribing_agency"))
    with state(request).pool.connection() as conn, conn.transaction():
        # the youth's name (for roles that read identity) under the consent rule, logged as read
        found = conn.execute(f"SELECT y.partner_case_ref FROM views.youths y WHERE y.youth_id = %(youth)s::uuid"
                             f" AND {VISIBLE_ROW_SQL}", reads(request).visibility_args(operator) | {"youth": youth_id}
                             ).fetchone()
        if found is None:  # consent withdrawn a moment ago
            return refused(request, 404)
        youth = {"youth_id": youth_id, "partner_case_ref": found[0]}
        if may(operator.role, "identity.read"):
            accounts.log_access(conn, operator, purpose="case_management", youth_id=youth_id,
                                what="social prescribing youth name")
            reads(request).add_names(conn, operator, [youth])
        words = None
        if own_words:
            accounts.log_access(conn, operator, purpose="case_management", youth_id=youth_id,
                                what="social prescribing conversation and plan")
            words = youth_words.read(conn, state(request).extras["vault_keys"], youth_id)
        activities = record["support_offered"]["activities"]
        names = directory.names(conn, [a["activity_id"] for a in activities]) if activities else {}
    follows = record["who"].get("social_prescribing_agency") == operator.agency
    zone = _zone(request, operator.agency)
    measured = {(m["instrument"], m["version"]) for m in record["outcomes"]["wellbeing"] if m["baseline"]}
    return page(request, "sp_youth.html", status_code, operator=operator, youth=youth, record=record,
                referral=referral, words=words, own_words=own_words, follows=follows,
                accepted=record["who"].get("referral_status") == "accepted", activity_names=names,
                instruments=sorted(instruments().values(), key=lambda i: (i.id, i.version)), measured=measured,
                today=_today(request, operator.agency).isoformat(),
                now_local=formats.local_input(datetime.now(timezone.utc), zone),
                goal_rows=range(GOAL_ROWS), sp=sp, **context)


class FormFields:
    """A posted form: one value, or all the values of a field (checkboxes)."""

    def __init__(self, form):
        self.form = form

    def __call__(self, name: str, default: str | None = None) -> str | None:
        value = self.form.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else default

    def all(self, name: str) -> list[str]:
        return [v for v in self.form.getlist(name) if isinstance(v, str)]


def _answer(youth: str, f: FormFields, operator) -> BaseModel:
    decision = f("decision")
    return sp.AnswerSocialPrescribingReferral(
        youth_id=youth, referral_id=f("referral_id", ""), decision=decision,
        link_worker=(f("link_worker") or operator.username) if decision == "accepted" else None,
        reason=f("reason") if decision != "accepted" else None)


def _what_matters(youth: str, f: FormFields, operator) -> BaseModel:
    return sp.RecordWhatMatters(youth_id=youth, conversation_id=str(uuid.uuid4()),
                                conversation_on=f("conversation_on", ""), needs=f.all("needs"),
                                in_their_words=f("in_their_words", ""))


def _plan(youth: str, f: FormFields, operator) -> BaseModel:
    """The goals as the form lists them: the current ones (kept by their ids, unless ticked off)
    and new ones written in the empty rows."""
    goals, dropped = [], set(f.all("drop"))
    rows = zip_longest(f.all("goal_text"), f.all("goal_area"), f.all("goal_id"), fillvalue="")
    for text, area, goal_id in islice(rows, MAX_GOAL_ROWS):  # more than a plan holds: refused, saying so
        if text.strip() and goal_id not in dropped:
            goals.append(sp.PlanGoal(goal_id=goal_id or str(uuid.uuid4()), area=area, goal=text.strip()))
    return sp.AgreePlan(youth_id=youth, plan_id=str(uuid.uuid4()), agreed_on=f("agreed_on", ""), goals=goals,
                        review_on=f("review_on"))


def _review(youth: str, f: FormFields, operator) -> BaseModel:
    return sp.ReviewGoal(youth_id=youth, goal_id=f("goal_id", ""), progress=f("progress"),
                         reviewed_on=f("reviewed_on", ""))


def _prescribe(youth: str, f: FormFields, operator) -> BaseModel:
    return sp.PrescribeActivity(youth_id=youth, prescription_id=str(uuid.uuid4()), activity_id=f("activity_id", ""))


def _attendance(youth: str, f: FormFields, operator) -> BaseModel:
    return sp.RecordAttendance(prescription_id=f("prescription_id", ""), activity_id=f("activity_id", ""),
                               session_on=f("session_on", ""), present=f("present") == "yes")


def _end(youth: str, f: FormFields, operator) -> BaseModel:
    return sp.EndPrescription(youth_id=youth, prescription_id=f("prescription_id", ""), ending=f("ending"),
                              reason=f("reason"))


def _wellbeing(youth: str, f: FormFields, operator) -> BaseModel:
    instrument, _, version = (f("instrument") or "").partition(":")
    found = instruments().get((instrument, version))
    answers = {item.id: f(f"item.{item.id}") for item in found.items} if found else {}
    return sp.RecordWellbeing(youth_id=youth, questionnaire_id=str(uuid.uuid4()), instrument=instrument,
                              version=version, occasion=f("occasion"), taken_on=f("taken_on", ""),
                              answers={k: v for k, v in answers.items() if v is not None})


def _contact(zone) -> Callable[..., BaseModel]:
    def build(youth: str, f: FormFields, operator) -> BaseModel:
        return sp.RecordLinkWorkerContact(youth_id=youth, contact_id=str(uuid.uuid4()), channel=f("channel"),
                                          outcome=f("outcome"),
                                          occurred_at=formats.from_local_input(f("occurred_at", ""), zone))
    return build


ACTIONS: dict[str, Callable[..., BaseModel]] = {
    "answer": _answer, "what_matters": _what_matters, "plan": _plan, "review": _review, "prescribe": _prescribe,
    "attendance": _attendance, "end": _end, "wellbeing": _wellbeing,
}


@router.post(HOME + "/youths/{youth_id}/{action}", response_class=HTMLResponse)
async def act(request: Request, youth_id: uuid.UUID, action: str) -> Response:
    """A form of the youth's page: build the command (a wrong field: the page again, saying which),
    send it, and go back to the page with a confirmation, or show the refusal's reasons."""
    same_origin(request)
    operator = signed_in(request)
    youth = str(youth_id)
    build = _contact(_zone(request, operator.agency)) if action == "contact" else ACTIONS.get(action)
    if build is None:
        return refused(request, 404)
    fields = FormFields(await request.form())
    try:
        command = build(youth, fields, operator)
    except ValidationError as e:
        return await asyncio.to_thread(youth_view, request, youth, 422, errors=form_errors(e))
    except ValueError:  # a date or time the browser sent in no known form
        return await asyncio.to_thread(youth_view, request, youth, 422,
                                       errors=[{"field": "occurred_at", "code": "datetime_parsing"}])
    accepted, reasons = await send(request, operator, command)
    if not accepted:
        return await asyncio.to_thread(youth_view, request, youth, 422, errors=reasons)
    await asyncio.to_thread(_until_words_show, request, command)
    return RedirectResponse(f"{HOME}/youths/{youth}?saved={action}&lang={lang_of(request)}", status_code=303)


def _until_words_show(request: Request, command: BaseModel, timeout: float = 5.0) -> None:
    """Read-your-writes for the youth's own words: the page reads them from the service's own log
    view, a moment behind the views the API waits for."""
    if not isinstance(command, (sp.RecordWhatMatters, sp.AgreePlan, sp.ReviewGoal)):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with state(request).pool.connection() as conn:
            if youth_words.shows(conn, command):
                return
        time.sleep(0.05)
