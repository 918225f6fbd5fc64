"""The agency's caseload: search (case reference, name for roles that may read identity, nickname;
partial, any case), filters (status, key worker, region) and paging."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from shared.http import SearchText
from shared.roles import may
from shared.web.session import PAGE_SIZE, PageNumber, Paging, page, reads, refused, signed_in

router = APIRouter(include_in_schema=False)
STATUSES = ("registered", "active", "lost_contact", "closed")


@router.get("/youths", response_class=HTMLResponse)
def caseload(request: Request, q: SearchText = None, status: SearchText = None, key_worker: SearchText = None,
             region: SearchText = None, number: PageNumber = 1) -> Response:
    operator = signed_in(request)
    if not may(operator.role, "case.read"):
        return refused(request, 403)
    rows, total = reads(request).caseload(operator, q=q or None, status=status if status in STATUSES else None,
                                          key_worker=key_worker or None, region=region or None,
                                          limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    youths = [{**r, "status": case_status(r)} for r in rows]
    return page(request, "caseload.html", operator=operator, youths=youths, q=q, status=status,
                key_worker=key_worker, region=region, statuses=STATUSES, paging=Paging(number, PAGE_SIZE, total))


def case_status(row: dict[str, Any]) -> str:
    if row.get("closed_on"):
        return "closed"
    if row.get("lost_contact"):
        return "lost_contact"
    return "active" if row.get("lead_agency") else "registered"
