""""La mia giornata", the landing page: the youths a key worker follows, most urgent first (lost
contact, overdue review, follow-up due, contact due by the agreed cadence), then the rest of their
open cases; switchable to the whole agency. Referrals waiting for an answer are listed on top."""

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shared.roles import may
from shared.web.session import PAGE_SIZE, PageNumber, Paging, lang_of, page, reads, refused, signed_in

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def my_day(request: Request, scope: Literal["mine", "agency"] = "mine", number: PageNumber = 1) -> Response:
    operator = signed_in(request)
    if operator.role == "auditor":  # an auditor's start page is the audit trail
        return RedirectResponse(f"/audit?lang={lang_of(request)}", status_code=303)
    if not may(operator.role, "case.read"):
        return refused(request, 403)
    rows, total, waiting = reads(request).day(operator, key_worker=operator.username if scope == "mine" else None,
                                              limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    return page(request, "my_day.html", operator=operator, youths=rows, scope=scope, waiting=waiting,
                paging=Paging(number, PAGE_SIZE, total))
