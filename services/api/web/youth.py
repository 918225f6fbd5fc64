"""A youth's page: the record and timeline as far as consent allows, recording a contact, revising
the Project of Life."""

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from events import intake as ev
from services.api.reads import NotVisible, jsonable
from services.api.web.i18n import translator
from services.api.web.session import form_errors, lang_of, page, reads, same_origin, send, signed_in

router = APIRouter(include_in_schema=False)


@router.get("/youths/{youth_id}", response_class=HTMLResponse)
def youth_page(request: Request, youth_id: uuid.UUID, saved: int = 0) -> HTMLResponse:
    return youth_view(request, str(youth_id), flash=translator(lang_of(request))("saved") if saved else None)


def youth_view(request: Request, youth_id: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    operator = signed_in(request)
    try:
        youth = jsonable(reads(request).record(operator, youth_id))
        timeline = reads(request).timeline(operator, youth_id)
    except NotVisible:
        return page(request, "caseload.html", status_code=404, operator=operator, youths=[], total=0,
                    errors=[{"field": "", "message": translator(lang_of(request))("not_visible")}])
    now = datetime.now().replace(second=0, microsecond=0)
    return page(request, "youth.html", status_code, operator=operator, youth=youth, timeline=timeline,
                now_local=now.isoformat(timespec="minutes"),
                review_default=(date.today() + timedelta(days=60)).isoformat(), **context)


@router.post("/youths/{youth_id}/contacts", response_class=HTMLResponse)
async def record_contact(request: Request, youth_id: uuid.UUID, contact_type: Annotated[str, Form()],
                         channel: Annotated[str, Form()], outcome: Annotated[str, Form()],
                         occurred_at: Annotated[str, Form()]) -> Response:
    same_origin(request)
    operator = signed_in(request)
    try:
        when = datetime.fromisoformat(occurred_at)
    except ValueError:
        return youth_view(request, str(youth_id), 422, errors=[{"field": "occurred_at", "message": "not a date and time"}])
    when = when if when.tzinfo else when.astimezone()  # the operator's local time
    try:
        command = ev.LogContact(youth_id=str(youth_id), contact_id=str(uuid.uuid4()), contact_type=contact_type,
                                channel=channel, outcome=outcome, occurred_at=when)
    except ValidationError as e:
        return youth_view(request, str(youth_id), 422, errors=form_errors(e))
    return after(request, str(youth_id), *await send(request, operator, command))


@router.post("/youths/{youth_id}/project", response_class=HTMLResponse)
async def revise_project(request: Request, youth_id: uuid.UUID, goal: Annotated[str, Form()],
                         category: Annotated[str, Form()], next_review_due: Annotated[date, Form()],
                         based_on_version: Annotated[int, Form()],
                         agreed_by_youth: Annotated[bool, Form()] = False,
                         agreed_by_guardian: Annotated[bool, Form()] = False) -> Response:
    same_origin(request)
    operator = signed_in(request)
    try:
        current = [ev.Goal.model_validate(g) for g in current_goals(reads(request).timeline(operator, str(youth_id)))]
        command = ev.AgreeProjectOfLife(
            youth_id=str(youth_id), based_on_version=based_on_version, next_review_due=next_review_due,
            agreed_by_youth=agreed_by_youth, agreed_by_guardian=agreed_by_guardian,
            goals=[*current, ev.Goal(goal_id=str(uuid.uuid4()), description=goal, category=category,
                                     lifecycle_status="active")])
    except NotVisible:
        raise HTTPException(404, "no such youth visible to your agency") from None
    except ValidationError as e:
        return youth_view(request, str(youth_id), 422, errors=form_errors(e))
    return after(request, str(youth_id), *await send(request, operator, command))


def after(request: Request, youth_id: str, accepted: bool, reasons: list[dict[str, Any]]) -> Response:
    if accepted:
        return RedirectResponse(f"/youths/{youth_id}?saved=1&lang={lang_of(request)}", status_code=303)
    return youth_view(request, youth_id, 422, errors=reasons)


def current_goals(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    agreed = [e for e in timeline if e["type"] == ev.ProjectOfLifeAgreed.type_name]
    return agreed[-1]["data"].get("goals", []) if agreed else []
