"""The agency's caseload, with search and filters."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.api.reads import jsonable
from services.api.web.session import page, reads, signed_in
from shared.http import SearchText

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def caseload(request: Request, q: SearchText = None, status: SearchText = None, key_worker: SearchText = None,
             region: SearchText = None) -> HTMLResponse:
    operator = signed_in(request)
    rows, total = reads(request).caseload(operator, q=q or None, status=status or None,
                                          key_worker=key_worker or None, region=region or None, limit=100)
    youths = [{**jsonable(r), "status": case_status(r)} for r in rows]
    return page(request, "caseload.html", operator=operator, youths=youths, total=total, q=q, status=status,
                key_worker=key_worker, region=region)


def case_status(row: dict[str, Any]) -> str:
    if row.get("closed_on"):
        return "closed"
    if row.get("lost_contact"):
        return "lost_contact"
    return "active" if row.get("lead_agency") else "registered"
