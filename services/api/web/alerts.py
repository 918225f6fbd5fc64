"""The agency's alerts: lost contact, overdue reviews and follow-ups, unanswered referrals."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.api.web.session import page, reads, signed_in

router = APIRouter(include_in_schema=False)


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request) -> HTMLResponse:
    operator = signed_in(request)
    return page(request, "alerts.html", operator=operator, alerts=reads(request).alerts(operator))
