"""A youth's page: who they are (as far as role and consent allow), what comes next (due contact,
next review, goals, follow-ups), notes, and the actions in the order a key worker takes them:
contact, Project of Life, referral, closure, follow-up. Then the path, in the order it happened.

Every form sends the intake service's command through the HTTP API's own path (same rules, same
receipts); a refusal comes back on the page, in words, naming the field."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from events import intake as ev
from services.api.reads import NotVisible, jsonable, today_in
from shared.http import state
from shared.roles import may
from shared.web import formats
from shared.web.session import (agency_name, form_errors, lang_of, page, reads, refused, same_origin, send,
                                signed_in)
from shared.web.words import translator

router = APIRouter(include_in_schema=False)
REVIEW_AFTER_DAYS = 60  # the next review proposed when a goal is added
Text = Annotated[str, Form()]


@router.get("/youths/{youth_id}", response_class=HTMLResponse)
def youth_page(request: Request, youth_id: uuid.UUID, saved: str | None = None) -> HTMLResponse:
    t = translator(lang_of(request))
    flash = t(f"done.{saved}") if saved and t.has(f"done.{saved}") else None
    return youth_view(request, str(youth_id), flash=flash)


def youth_view(request: Request, youth_id: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    operator = signed_in(request)
    if not may(operator.role, "case.read"):
        return refused(request, 403)
    try:
        record, timeline, notes = reads(request).youth_page(operator, youth_id)
        youth = jsonable(record)
    except NotVisible:
        return refused(request, 404)
    zone = zone_of(request, operator.agency)
    today = today_in(state(request).register, operator.agency)
    others = [(code, agency.name) for code, agency in sorted(state(request).register.agencies.items(),
                                                                key=lambda item: item[1].name) if code != operator.agency]
    t = translator(lang_of(request))
    return page(request, "youth.html", status_code, operator=operator, youth=youth, timeline=timeline, notes=notes,
                details_of=lambda data, type_name: details_of(data, t, lambda code: agency_name(request, code),
                                                              state(request).platform.step_details.get(type_name)),
                now_local=formats.local_input(datetime.now(timezone.utc), zone), today=today.isoformat(),
                review_default=(today + timedelta(days=REVIEW_AFTER_DAYS)).isoformat(), agencies=others,
                leads=youth.get("lead_agency") == operator.agency, ev=ev,
                follow_ups_due=[f for f in youth.get("follow_ups", []) if not f.get("recorded_on")], **context)


DETAIL_OPTIONS = ("contact_type", "channel", "outcome", "service", "status", "destination", "situation",
                  "lifecycle_status", "purpose")
DETAIL_AGENCIES = ("to_agency", "lead_agency")


def details_of(data: dict[str, Any], t: Callable[..., str], agency_name: Callable[[str], str],
               service_words: Callable[..., list[str]] | None = None) -> str:
    """What a step of the path says besides its name, in words: the words its service declares
    for its steps (`step_details`), else its options, the agencies it names, the Project of
    Life's version."""
    if service_words is not None:
        return ", ".join(service_words(data, t, agency_name))
    words = [t("opt." + data[k]) for k in DETAIL_OPTIONS if isinstance(data.get(k), str)]
    words += [f"{t('field.' + k)}: {agency_name(data[k])}" for k in DETAIL_AGENCIES if isinstance(data.get(k), str)]
    if data.get("version"):
        words.append(t("version_n", n=data["version"]))
    return ", ".join(words)


def zone_of(request: Request, agency: str):
    found = state(request).register.agencies.get(agency)
    return formats.zone_of(found.country if found else None)


async def submit(request: Request, youth_id: uuid.UUID, done: str, build: Callable[[], BaseModel]) -> Response:
    """Build the command from the form (a wrong field: the page again, saying which), send it, and
    go back to the page with a confirmation, or show the refusal's reasons."""
    same_origin(request)
    operator = signed_in(request)
    try:
        command = build()
    except NotVisible:
        return refused(request, 404)
    except ValidationError as e:
        return youth_view(request, str(youth_id), 422, errors=form_errors(e))
    except ValueError:  # a date or time the browser sent in no known form
        return youth_view(request, str(youth_id), 422, errors=[{"field": "occurred_at", "code": "datetime_parsing"}])
    accepted, reasons = await send(request, operator, command)
    if not accepted:
        return youth_view(request, str(youth_id), 422, errors=reasons)
    return RedirectResponse(f"/youths/{youth_id}?saved={done}&lang={lang_of(request)}", status_code=303)


@router.post("/youths/{youth_id}/contacts", response_class=HTMLResponse)
async def record_contact(request: Request, youth_id: uuid.UUID, contact_type: Text, channel: Text, outcome: Text,
                         occurred_at: Text) -> Response:
    operator = signed_in(request)
    return await submit(request, youth_id, "contact", lambda: ev.LogContact(
        youth_id=str(youth_id), contact_id=str(uuid.uuid4()), contact_type=contact_type, channel=channel,
        outcome=outcome, occurred_at=formats.from_local_input(occurred_at, zone_of(request, operator.agency))))


@router.post("/youths/{youth_id}/notes", response_class=HTMLResponse)
async def add_note(request: Request, youth_id: uuid.UUID, text: Text) -> Response:
    return await submit(request, youth_id, "note", lambda: ev.AddCaseNote(
        youth_id=str(youth_id), note_id=str(uuid.uuid4()), text=text.strip()))


@router.post("/youths/{youth_id}/cadence", response_class=HTMLResponse)
async def set_cadence(request: Request, youth_id: uuid.UUID, every_days: Annotated[int, Form()]) -> Response:
    return await submit(request, youth_id, "cadence", lambda: ev.SetContactCadence(
        youth_id=str(youth_id), every_days=every_days))


@router.post("/youths/{youth_id}/project", response_class=HTMLResponse)
async def add_goal(request: Request, youth_id: uuid.UUID, goal: Text, category: Text,
                   next_review_due: Annotated[date, Form()], based_on_version: Annotated[int, Form()],
                   agreed_by_youth: Annotated[bool, Form()] = False,
                   agreed_by_guardian: Annotated[bool, Form()] = False) -> Response:
    operator = signed_in(request)
    current = await asyncio.to_thread(current_goals, request, operator, str(youth_id))
    return await submit(request, youth_id, "project", lambda: ev.AgreeProjectOfLife(
        youth_id=str(youth_id), based_on_version=based_on_version, next_review_due=next_review_due,
        agreed_by_youth=agreed_by_youth, agreed_by_guardian=agreed_by_guardian,
        goals=[*current, ev.Goal(goal_id=str(uuid.uuid4()), description=goal, category=category,
                                 lifecycle_status="active")]))


@router.post("/youths/{youth_id}/goals/{goal_id}", response_class=HTMLResponse)
async def update_goal(request: Request, youth_id: uuid.UUID, goal_id: uuid.UUID, lifecycle_status: Text) -> Response:
    return await submit(request, youth_id, "goal", lambda: ev.UpdateGoal(
        youth_id=str(youth_id), goal_id=str(goal_id), lifecycle_status=lifecycle_status))


@router.post("/youths/{youth_id}/referrals", response_class=HTMLResponse)
async def refer(request: Request, youth_id: uuid.UUID, to_agency: Text, service: Text, reason: Text,
                transfer_lead: Annotated[bool, Form()] = False) -> Response:
    return await submit(request, youth_id, "referral", lambda: ev.RequestReferral(
        youth_id=str(youth_id), referral_id=str(uuid.uuid4()), to_agency=to_agency, service=service,
        reason=reason.strip(), transfer_lead=transfer_lead))


@router.post("/youths/{youth_id}/close", response_class=HTMLResponse)
async def close_case(request: Request, youth_id: uuid.UUID, destination: Text,
                     exited_on: Annotated[date, Form()]) -> Response:
    return await submit(request, youth_id, "closed", lambda: ev.CloseCase(
        youth_id=str(youth_id), destination=destination, exited_on=exited_on))


@router.post("/youths/{youth_id}/follow-ups", response_class=HTMLResponse)
async def record_follow_up(request: Request, youth_id: uuid.UUID, checkpoint_months: Annotated[int, Form()],
                           situation: Text, recorded_on: Annotated[date, Form()]) -> Response:
    return await submit(request, youth_id, "follow_up", lambda: ev.RecordFollowUp(
        youth_id=str(youth_id), checkpoint_months=checkpoint_months, situation=situation, recorded_on=recorded_on))


def current_goals(request: Request, operator, youth_id: str) -> list[ev.Goal]:
    """The goals as they stand (the latest agreed version, with the status changes since), kept when
    a goal is added: a revision lists them all."""
    goals: dict[str, dict[str, Any]] = {}
    for e in reads(request).timeline(operator, youth_id, order="recorded"):
        if e["type"] == ev.ProjectOfLifeAgreed.type_name:
            goals = {g["goal_id"]: dict(g) for g in e["data"].get("goals", [])}
        elif e["type"] == ev.GoalUpdated.type_name and e["data"].get("goal_id") in goals:
            goals[e["data"]["goal_id"]].update({k: e["data"][k] for k in ("lifecycle_status", "achievement_status")
                                                if e["data"].get(k) is not None})
    return [ev.Goal.model_validate(g) for g in goals.values()]
