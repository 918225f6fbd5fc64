"""The agency's alerts: lost contact, overdue reviews and follow-ups, unanswered referrals, and
erasures scheduled at the end of a retention period (an agency admin may stop one here)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from events import intake as ev
from shared.web.words import translator
from shared.roles import may
from shared.web.session import (PAGE_SIZE, PageNumber, Paging, form_errors, lang_of, page, reads, refused,
                                same_origin, send, signed_in)

router = APIRouter(include_in_schema=False)


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request, saved: int = 0, number: PageNumber = 1) -> HTMLResponse:
    return alerts_view(request, number=number,
                       flash=translator(lang_of(request))("done.erasure_stopped") if saved else None)


def alerts_view(request: Request, status_code: int = 200, number: int = 1, **context) -> HTMLResponse:
    operator = signed_in(request)
    if not may(operator.role, "case.read"):
        return refused(request, 403)
    rows, total = reads(request).alerts_page(operator, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    return page(request, "alerts.html", status_code, operator=operator, alerts=rows,
                paging=Paging(number, PAGE_SIZE, total), **context)


@router.post("/youths/{youth_id}/erasure/stop", response_class=HTMLResponse)
async def stop_erasure(request: Request, youth_id: uuid.UUID, reason: Annotated[str, Form()]) -> Response:
    same_origin(request)
    operator = signed_in(request)
    try:
        command = ev.CancelScheduledErasure(youth_id=str(youth_id), reason=reason)
    except ValidationError as e:
        return alerts_view(request, 422, errors=form_errors(e))
    accepted, reasons = await send(request, operator, command)
    if not accepted:
        return alerts_view(request, 422, errors=reasons)
    return RedirectResponse(f"/alerts?saved=1&lang={lang_of(request)}", status_code=303)
