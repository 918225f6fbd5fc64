"""The activity directory as an HSDS 3.0 API, read-only, for other directories and apps: the API's
description (`/hsds/`), its OpenAPI file, the services paged and searched, one service fully nested.

The directory holds no personal data (activities, organisations, places, timetables, free places),
so it is open like other HSDS directories. Beside it, the operators' routes (`operators`): an
agency's admin imports its activities; link workers' caseloads, a youth's minimum dataset and their
own words, each consent-checked and logged.

No `from __future__ import annotations`: FastAPI resolves the parameters at definition time."""

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import os
import uuid

import psycopg

from events.receipts import Reason
from services.social_prescribing import caseload, dataset, directory, hsds, youth_words
from shared.accounts import Operator
from shared.http import PLAIN_TEXT, CaseReader, requires, state
from shared.roles import may

router = APIRouter(prefix="/hsds", tags=["directory (HSDS 3.0)"])
MAX_PER_PAGE = 100
# Text that reaches the database is plain text (a NUL cannot be stored or compared there): 422, not 500
Text = Annotated[str | None, Query(max_length=200, pattern=PLAIN_TEXT)]


@router.get("/")
def about(request: Request) -> dict[str, str]:
    """Which HSDS version and profile this API speaks, and where its OpenAPI file is."""
    return {"version": hsds.VERSION, "profile": hsds.PROFILE,
            "openapi_url": str(request.url_for("hsds_openapi"))}


@router.get("/openapi.json", name="hsds_openapi")
def openapi() -> JSONResponse:
    """The HSDS 3.0 API description this directory answers to (unchanged from the specification)."""
    return JSONResponse(hsds.schema("openapi.json"))


@router.get("/services")
def list_services(request: Request,
                  search: Annotated[str | None, Query(max_length=200, pattern=PLAIN_TEXT, description="words in"
                                                      " the name, description or organisation name")] = None,
                  taxonomy_term_id: Text = None,
                  organization_id: Text = None,
                  modified_after: Annotated[datetime | None, Query(description="on or after this instant")] = None,
                  territory: Annotated[str | None, Query(max_length=80, pattern=PLAIN_TEXT, description="a city,"
                                                         " region or province of one of its locations (this"
                                                         " directory's addition)")] = None,
                  age: Annotated[int | None, Query(ge=0, le=120, description="within its age range (this"
                                                   " directory's addition)")] = None,
                  day: Annotated[Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"] | None,
                                 Query(description="on its timetable (this directory's addition)")] = None,
                  free_places: Annotated[bool, Query(description="only activities with a place free (this"
                                                     " directory's addition)")] = False,
                  page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                  per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 50) -> dict[str, Any]:
    """Services, by name, a page at a time, each fully nested with its free places (`service_capacity`)."""
    if modified_after is not None and modified_after.tzinfo is None:
        raise RequestValidationError([{"loc": ("query", "modified_after"), "type": "timezone_aware",
                                       "msg": "needs a time zone, for example 2026-12-01T00:00:00Z"}])
    query = directory.Search(text=search, taxonomy_term_id=taxonomy_term_id, organization_id=organization_id,
                             modified_after=modified_after, territory=territory, age=age, weekday=day,
                             free_places=free_places)
    with state(request).pool.connection() as conn:
        try:
            found, total = directory.services(conn, query, limit=per_page, offset=(page - 1) * per_page)
        except psycopg.errors.UndefinedTable:  # no directory yet: an empty one
            found, total = [], 0
    return hsds.page(found, total=total, number=page, per_page=per_page)


@router.get("/services/{service_id}")
def one_service(request: Request, service_id: Annotated[str, Path(max_length=200, pattern=PLAIN_TEXT)]
                ) -> dict[str, Any]:
    """One service, fully nested, with its free places."""
    with state(request).pool.connection() as conn:
        try:
            found = directory.service(conn, service_id)
        except psycopg.errors.UndefinedTable:
            found = None
    if found is None:
        raise HTTPException(404, f"no service {service_id} in the directory")
    return found


operators = APIRouter(prefix="/api/v1/social_prescribing", tags=["social_prescribing reads"])


@operators.get("/caseload")
def link_workers_caseload(request: Request, operator: CaseReader) -> dict[str, Any]:
    """The operator's agency's link workers, busiest first, with how many active youths each follows
    (accepted, with no prescription yet or one still running) and whether that is at or over the
    warning threshold (`KIT_LINK_WORKER_CASELOAD`, about 40). Counts only: no youth is read."""
    threshold = caseload.threshold(os.environ)
    with state(request).pool.connection() as conn:
        rows = caseload.by_link_worker(conn, operator.agency)
    return {"agency": operator.agency, "threshold": threshold,
            "link_workers": [{"link_worker": lw, "active_youths": n, "over_threshold": n >= threshold}
                             for lw, n in rows]}


@operators.get("/youths/{youth_id}/dataset")
def minimum_dataset(request: Request, youth_id: uuid.UUID, operator: CaseReader) -> dict[str, Any]:
    """The youth's social prescribing record as a minimum dataset in four parts (who, needs and
    concerns, support offered, outcomes), as far as consent and the operator's role allow; the read
    is logged as any read of the youth's path. 404 for a youth the agency may not see."""
    reads = state(request).extras["reads"]
    try:
        path = reads.timeline(operator, str(youth_id), what="social prescribing minimum dataset")
    except LookupError:  # not visible to the agency: answered as no such youth
        raise HTTPException(404, "no youth with this id") from None
    return dataset.minimum_dataset(str(youth_id), path)


@operators.get("/youths/{youth_id}/what_matters")
def conversations_and_plan(request: Request, youth_id: uuid.UUID, operator: CaseReader) -> dict[str, Any]:
    """What matters to the youth and the goals of their current plan, in their own words (opened
    from the vault with the youth's key), with each goal's progress: for roles with need to know
    (`wellbeing.read`) at the agency that follows the youth in social prescribing or referred them,
    as far as consent allows; the read is logged. 403 for another role or agency, 404 for a youth
    the agency may not see; a youth erased has their words as null, `erased` true."""
    if not may(operator.role, "wellbeing.read"):
        raise HTTPException(403, f"the role {operator.role} may not read a youth's own words (need to know:"
                                 " link workers, key workers, supervisors)")
    reads = state(request).extras["reads"]
    try:  # consent checked and the read logged, as for any read of the youth's path
        path = reads.timeline(operator, str(youth_id), what="social prescribing conversation and plan")
    except LookupError:
        raise HTTPException(404, "no youth with this id") from None
    who = dataset.minimum_dataset(str(youth_id), path)["who"]
    if operator.agency not in (who.get("referred_by"), who.get("social_prescribing_agency")):
        raise HTTPException(403, "only the agency that follows the youth in social prescribing, or referred them,"
                                 " reads their own words")
    with state(request).pool.connection() as conn:
        return youth_words.read(conn, state(request).extras["vault_keys"], str(youth_id))


DirectoryImporter = Annotated[Operator, Depends(requires("directory.import", "role {role} may not import activities"
                                                                          " (the agency's admin does)"))]


class ImportRefused(BaseModel):
    """Why nothing was imported: the first record that does not import (`detail` says which, by its
    place and id); its reason's `field` is the JSON path in the file."""

    detail: str
    reasons: list[Reason]


@operators.post("/directory", responses={422: {"model": ImportRefused, "description": "nothing imported"}})
def import_activities(request: Request, operator: DirectoryImporter,
                      document: Annotated[Any, Body(description="An Open Referral HSDS 3.0 file: a list of services,"
                                                                " or a page of them (`contents`)")]) -> Any:
    """The agency's own activities into the directory, as `kit directory import` does for the
    platform: every record checked against HSDS 3.0 first, and nothing imported if one fails (422
    naming it: which record, its id, the JSON path, the rule; code `not_hsds`, or
    `not_your_activity` for a record whose organisation names another platform agency or that would
    replace an activity the platform or another agency keeps). Places the service keeps for an
    activity are not overwritten by a new import."""
    with state(request).pool.connection() as conn, conn.transaction():
        try:
            count = directory.import_records(conn, document, datetime.now(timezone.utc), agency=operator.agency)
        except directory.InvalidDirectory as refused:
            invalid = refused.invalid
            code = "not_your_activity" if refused.not_yours else "not_hsds"
            reason = (Reason(field=invalid.path, code=code, message=invalid.message) if invalid is not None
                      else Reason(field="", code="not_hsds", message=str(refused)))
            return JSONResponse(status_code=422, content=ImportRefused(detail=str(refused), reasons=[reason])
                                .model_dump())
    return {"imported": count, "agency": operator.agency}
