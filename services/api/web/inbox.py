"""The referral inbox: referrals to the agency, answered from here."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from events import intake as ev
from services.api.web.session import form_errors, lang_of, page, reads, same_origin, send, signed_in

router = APIRouter(include_in_schema=False)


@router.get("/inbox", response_class=HTMLResponse)
def inbox(request: Request) -> HTMLResponse:
    operator = signed_in(request)
    return page(request, "inbox.html", operator=operator, referrals=reads(request).referrals(operator, "inbox", "requested"))


@router.post("/inbox/{youth_id}/{referral_id}", response_class=HTMLResponse)
async def answer(request: Request, youth_id: uuid.UUID, referral_id: uuid.UUID,
                 decision: Annotated[str, Form()], reason: Annotated[str, Form()] = "") -> Response:
    same_origin(request)
    operator = signed_in(request)
    try:
        command = ev.RespondToReferral(youth_id=str(youth_id), referral_id=str(referral_id), decision=decision,
                                       reason=reason.strip() or None)
    except ValidationError as e:
        reasons = form_errors(e)
    else:
        accepted, reasons = await send(request, operator, command)
        if accepted:
            return RedirectResponse(f"/inbox?lang={lang_of(request)}", status_code=303)
    return page(request, "inbox.html", status_code=422, operator=operator, errors=reasons,
                referrals=reads(request).referrals(operator, "inbox", "requested"))
