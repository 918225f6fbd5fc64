"""The audit trail over HTTP, for auditors: a youth's path, their state at an instant, a signed
bundle with inclusion proofs, verification, access-log queries, the latest checkpoint. Every read
is itself an access-log row (purpose `audit`). Mounted by the HTTP service from this service's
declaration.

No `from __future__ import annotations`: FastAPI resolves the dependencies at definition time.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import PlainTextResponse

from events.bounds import Instant
from events.envelope import PSEUDONYM_PATTERN
from services.audit import bundle, checkpointing, replay, verify
from shared import access_log
from shared.accounts import Operator
from shared.http import Auditor, OptionalYouthId, SearchText, logged_read, state

router = APIRouter(prefix="/api/v1/audit", tags=["audit"],
                   responses={503: {"description": "the audit service has not created its log yet"}})
YouthIdPath = Annotated[str, Path(pattern=PSEUDONYM_PATTERN)]


def key_exists(request: Request):
    keys = state(request).extras.get("vault_keys")
    return lambda owner: keys is not None and keys.get(owner) is not None


@router.get("/youths/{youth_id}/path")
def audit_path(request: Request, youth_id: YouthIdPath, operator: Auditor) -> list[dict[str, Any]]:
    """The youth's whole path across services, in log order: who, when, for which agency; reads too."""
    with logged_read(request, operator, purpose="audit", what="audit replay: path", youth_id=youth_id) as conn:
        steps = replay.path(conn, youth_id, key_exists(request))
    if not steps:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no entries for this youth")
    return steps


@router.get("/youths/{youth_id}/state")
def audit_state(request: Request, youth_id: YouthIdPath, at: Instant, operator: Auditor) -> dict[str, Any]:
    """The youth's state in each service as it was at `at`."""
    platform = state(request).platform
    with logged_read(request, operator, purpose="audit", what=f"audit replay: state at {at.isoformat()}",
                     youth_id=youth_id) as conn:
        found = replay.state_at(conn, youth_id, at, platform)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the youth was not registered at that time")
    return found


@router.get("/youths/{youth_id}/bundle")
def audit_bundle(request: Request, youth_id: YouthIdPath, operator: Auditor) -> dict[str, Any]:
    """A signed export of the path with inclusion proofs: verify offline with `kit audit verify-bundle`."""
    with logged_read(request, operator, purpose="audit", what="audit export: bundle", youth_id=youth_id) as conn:
        signed = checkpointing.latest(conn)
        proven = verify.prove_youth(conn, youth_id, signed) if signed else "no signed checkpoint yet"
    if isinstance(proven, str):
        raise HTTPException(status.HTTP_409_CONFLICT, proven)
    return bundle.make_bundle(youth_id, signed, proven)


@router.get("/youths/{youth_id}/verify")
def audit_verify_youth(request: Request, youth_id: YouthIdPath, operator: Auditor) -> dict[str, Any]:
    public_key = state(request).extras.get("audit_public_key")
    if public_key is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the audit key is not configured")
    with logged_read(request, operator, purpose="audit", what="audit verify: youth", youth_id=youth_id) as conn:
        return verify.verify_youth(conn, youth_id, public_key).to_json()


@router.get("/access")
def audit_access(request: Request, operator: Auditor, youth_id: OptionalYouthId = None,
                 operator_ref: Annotated[SearchText, Query(alias="operator")] = None,
                 since: Instant | None = None, until: Instant | None = None,
                 agency: SearchText = None, purpose: SearchText = None,
                 format: Literal["json", "csv"] = "json"):
    """Who read youth X; everything operator O read; per period, agency, purpose (oldest first, at
    most 10,000 rows). `format=csv` to export."""
    with logged_read(request, operator, purpose="audit", what="audit: access log query", youth_id=youth_id) as conn:
        rows = access_log.query(conn, youth_id=youth_id, operator=operator_ref, since=since, until=until,
                                agency=agency, purpose=purpose)
    if format == "csv":
        return PlainTextResponse(access_log.to_csv(rows), media_type="text/csv")
    return rows


def audit_access_page(request: Request, auditor: Operator, *, offset: int, limit: int, **filters: Any
                      ) -> tuple[list[dict[str, Any]], int]:
    """The access log's page for the auditor's web page: newest first, and how many rows match
    (`filters`: those of `shared.access_log.page`); the read logged as the API's query is."""
    with logged_read(request, auditor, purpose="audit", what="audit: access log query",
                     youth_id=filters.get("youth_id")) as conn:
        return access_log.page(conn, offset=offset, limit=limit, **filters)


@router.get("/checkpoints/latest")
def audit_checkpoint(request: Request, operator: Auditor) -> dict[str, Any]:
    with logged_read(request, operator, purpose="audit", what="audit: latest checkpoint") as conn:
        signed = checkpointing.latest(conn)
    if signed is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no checkpoint yet")
    return signed.to_json() | {"public_key": state(request).extras.get("audit_public_key")}
