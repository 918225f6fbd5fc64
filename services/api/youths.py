"""The youth records an operator's agency may see, as the views hold them: the caseload, a record,
its timeline, alerts, referrals, and the consent question. Every read is checked against consent
at the time of the request (fail-closed) and written to the access log (`CaseReads`).

No `from __future__ import annotations`: FastAPI resolves the dependencies at definition time.
"""

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, Field

from events.bounds import Instant
from events.envelope import PSEUDONYM_PATTERN
from events.intake import AGENCY_CODE_PATTERN, Purpose, ReferralStatus
from projections.access import ACCESS_PURPOSES, may_access_youth, may_see_youth
from services.api.reads import CaseReads, NotVisible
from shared import accounts
from shared.accounts import Operator
from shared.http import CaseReader, Offset, SearchText, current_operator, state

router = APIRouter(prefix="/api/v1")
YouthIdPath = Annotated[str, Path(pattern=PSEUDONYM_PATTERN)]
CaseStatus = Literal["registered", "active", "lost_contact", "closed"]


class Youth(BaseModel):
    youth_id: str
    registering_agency: str
    partner_case_ref: str
    birth_year: int
    country: str
    region: str
    registered_at: str
    first_contact_at: str | None = None
    lead_agency: str | None = None
    key_worker: str | None = None
    neet_status: str | None = None
    project_version: int = 0
    next_review_due: str | None = None
    last_contact_at: str | None = None
    lost_contact: bool = False
    closed_on: str | None = None
    destination: str | None = None
    erasure_scheduled_for: str | None = Field(
        default=None, description="Retention: the day the youth's data is erased unless an agency admin stops it "
                                  "(kit.intake.cancel_scheduled_erasure.v1).")


class YouthRecord(Youth):
    agencies: list[str]
    consents: list[dict[str, Any]]
    referrals: list[dict[str, Any]]
    vulnerabilities: dict[str, bool] | None = None  # special category: only roles with need to know
    identity: dict[str, Any] | None = None  # from the vault: only roles that need it, `erased` if shredded
    withheld: list[str] = []  # what this role may not see


class YouthPage(BaseModel):
    items: list[Youth]
    total: int
    limit: int
    offset: int


class Access(BaseModel):
    youth_id: str
    agency: str
    purpose: str
    at: datetime
    allowed: bool
    basis: str


async def reads_of(request: Request) -> CaseReads:
    return state(request).extras["reads"]


Reads = Annotated[CaseReads, Depends(reads_of)]


def visible(read, operator: Operator, youth_id: str):
    try:
        return read(operator, youth_id)
    except NotVisible:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such youth visible to your agency") from None


@router.get("/youths", response_model=YouthPage, tags=["youths"])
def list_youths(reads: Reads, operator: CaseReader,
                limit: Annotated[int, Query(ge=1, le=200)] = 50,
                offset: Offset = 0,
                q: Annotated[SearchText, Query(description="pseudonymous id (or its start) or nickname")] = None,
                status_: Annotated[CaseStatus | None, Query(alias="status")] = None,
                key_worker: SearchText = None,
                region: Annotated[str | None, Query(pattern=r"^(IT|CH)-[A-Z0-9]{1,3}$")] = None) -> Response:
    """Your caseload: the youths your agency may see now (consent or override in force), with
    search and filters."""
    # the page's JSON comes from PostgreSQL as it is sent (schema: YouthPage, held by a test)
    return Response(reads.caseload_json(operator, limit=limit, offset=offset, q=q, status=status_,
                                        key_worker=key_worker, region=region), media_type="application/json")


@router.get("/youths/{youth_id}", response_model=YouthRecord, response_model_exclude_none=True, tags=["youths"],
            responses={404: {"description": "no such youth visible to your agency"}})
def get_youth(reads: Reads, youth_id: YouthIdPath, operator: CaseReader) -> YouthRecord:
    record = visible(reads.record, operator, youth_id)
    return YouthRecord(**youth_fields(record), agencies=record["agencies"], consents=record["consents"],
                       referrals=record["referrals"], vulnerabilities=record["vulnerabilities"],
                       identity=record["identity"], withheld=record["withheld"])


@router.get("/youths/{youth_id}/timeline", tags=["youths"],
            responses={404: {"description": "no such youth visible to your agency"}})
def timeline(reads: Reads, youth_id: YouthIdPath, operator: CaseReader) -> list[dict[str, Any]]:
    """The youth's path across agencies, as far as consent allows; special-category entries
    only for roles with need to know."""
    return visible(reads.timeline, operator, youth_id)


@router.get("/alerts", tags=["youths"])
def alerts(reads: Reads, operator: CaseReader) -> list[dict[str, Any]]:
    """Lost contact, overdue Project of Life reviews, follow-ups due, referrals not answered."""
    return reads.alerts(operator)


@router.get("/referrals", tags=["referrals"])
def referrals(reads: Reads, operator: CaseReader, direction: Literal["inbox", "sent"] = "inbox",
              status_: Annotated[ReferralStatus | None, Query(alias="status")] = None) -> list[dict[str, Any]]:
    """Referrals to your agency (inbox) or from it (sent: the closed-loop feedback)."""
    return reads.referrals(operator, direction, status_)


@router.get("/youths/{youth_id}/access", response_model=Access, tags=["youths"])
def access(request: Request, youth_id: YouthIdPath, operator: Annotated[Operator, Depends(current_operator)],
           purpose: Purpose | None = None,
           agency: Annotated[str | None, Query(pattern=AGENCY_CODE_PATTERN)] = None,
           at: Instant | None = None) -> Access:
    """May agency X see youth Y for purpose P at time T? (defaults: your agency, now, and whether
    it may open the record at all: case management or sharing, the rule every read applies).
    Fail-closed. Asked about a youth your agency may not see now, the answer is 404 (auditors:
    always)."""
    agency = agency or operator.agency
    if agency != operator.agency and operator.role not in ("auditor", "supervisor", "agency_admin"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only supervisors, agency admins and auditors ask for another agency")
    at = at or datetime.now(timezone.utc)
    register = state(request).register
    with state(request).pool.connection() as conn, conn.transaction():
        accounts.require_active(conn, operator)
        if operator.role != "auditor" and not may_access_youth(
                conn, youth_id, agency=operator.agency, agency_category=register.category_of(operator.agency),
                at=datetime.now(timezone.utc)):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such youth visible to your agency")
        for asked in (purpose,) if purpose else ACCESS_PURPOSES:  # the first purpose that allows it
            answer = may_see_youth(conn, youth_id, agency=agency, agency_category=register.category_of(agency),
                                   purpose=asked, at=at)
            if answer.allowed:
                break
        purpose = asked
        accounts.log_access(conn, operator, purpose="access_check", what=f"access of {agency} for {purpose}",
                            youth_id=youth_id)
    return Access(youth_id=youth_id, agency=agency, purpose=purpose, at=at, allowed=answer.allowed, basis=answer.basis)


YOUTH_FIELDS = frozenset(Youth.model_fields)


def youth_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {name: (value.isoformat() if hasattr(value, "isoformat") else value)
            for name, value in row.items() if name in YOUTH_FIELDS and value is not None
            } | {"youth_id": str(row["youth_id"])}
