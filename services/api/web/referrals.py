"""Referrals from end to end: received (accept or reject, then progress and completion: the
closed loop) and sent (their status, as the receiving agency reports it). Sending one is on the
youth's page."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from events import intake as ev
from shared.http import state
from shared.roles import may
from shared.web.session import (PAGE_SIZE, PageNumber, Paging, form_errors, lang_of, options, page, reads, refused,
                                same_origin, send, signed_in)
from shared.web.words import translator

router = APIRouter(include_in_schema=False)
Box = Literal["inbox", "sent"]


@router.get("/referrals", response_class=HTMLResponse)
def referrals(request: Request, box: Box = "inbox", saved: str | None = None, number: PageNumber = 1) -> HTMLResponse:
    t = translator(lang_of(request))
    flash = t(f"done.{saved}") if saved and t.has(f"done.{saved}") else None
    return referrals_view(request, box, number=number, flash=flash)


@router.get("/inbox")
def old_inbox(request: Request) -> Response:  # the address of the first version of the app
    return RedirectResponse(f"/referrals?lang={lang_of(request)}", status_code=301)


def referrals_view(request: Request, box: str, status_code: int = 200, number: int = 1, **context) -> HTMLResponse:
    operator = signed_in(request)
    if not may(operator.role, "case.read"):
        return refused(request, 403)
    rows, total, waiting = reads(request).referrals_page(operator, box, limit=PAGE_SIZE,
                                                         offset=(number - 1) * PAGE_SIZE)
    return page(request, "referrals.html", status_code, operator=operator, box=box, referrals=rows,
                paging=Paging(number, PAGE_SIZE, total), waiting_count=waiting if box == "inbox" else 0,
                progress_options=options(ev.UpdateReferral, "status"),
                answered_in=state(request).platform.referral_pages, **context)


async def answer_with(request: Request, command_of, done: str) -> Response:
    same_origin(request)
    operator = signed_in(request)
    try:
        command = command_of()
    except ValidationError as e:
        return referrals_view(request, "inbox", 422, errors=form_errors(e))
    accepted, reasons = await send(request, operator, command)
    if not accepted:
        return referrals_view(request, "inbox", 422, errors=reasons)
    return RedirectResponse(f"/referrals?saved={done}&lang={lang_of(request)}", status_code=303)


@router.post("/referrals/{youth_id}/{referral_id}/answer", response_class=HTMLResponse)
async def answer(request: Request, youth_id: uuid.UUID, referral_id: uuid.UUID, decision: Annotated[str, Form()],
                 reason: Annotated[str, Form()] = "") -> Response:
    return await answer_with(request, lambda: ev.RespondToReferral(
        youth_id=str(youth_id), referral_id=str(referral_id), decision=decision, reason=reason.strip() or None),
        "referral_" + (decision if decision in ("accepted", "rejected") else "answered"))


@router.post("/referrals/{youth_id}/{referral_id}/progress", response_class=HTMLResponse)
async def progress(request: Request, youth_id: uuid.UUID, referral_id: uuid.UUID, status: Annotated[str, Form()],
                   outcome: Annotated[str, Form()] = "") -> Response:
    return await answer_with(request, lambda: ev.UpdateReferral(
        youth_id=str(youth_id), referral_id=str(referral_id), status=status, outcome=outcome.strip() or None),
        "referral_progress")
