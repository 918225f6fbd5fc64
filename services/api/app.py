"""HTTP API: health, tokens, intake commands, and the youth records the caller's agency may see.

Every youth-level read is checked against consent at the time of the request (fail-closed) and
written to the access log. No `from __future__ import annotations` here: FastAPI must resolve the
dependencies declared in `Annotated[...]` on the nested functions at definition time.
"""

import asyncio
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from psycopg_pool import ConnectionPool
from pydantic import AwareDatetime, BaseModel

from events.envelope import PSEUDONYM_PATTERN
from events.receipts import Receipt
from shared.roles import may
from kit.vault import VaultKeys
from projections.access import may_access_youth, may_see_youth
from shared import accounts, tokens
from services.api.commands import HTTP_COMMANDS, CommandGateway, http_body_model, to_command
from shared.accounts import Operator
from services.api.reads import CaseReads, NotVisible
from services.web.app import add_web_routes, sign_in_again
from services.audit import access as access_queries
from services.audit import bundle, checkpointing, replay, verify
from shared.agencies import Register

YouthIdPath = Annotated[str, Path(pattern=PSEUDONYM_PATTERN)]


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


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


class Pending(BaseModel):
    ingest_id: str
    status: Literal["pending"] = "pending"
    detail: str


def create_app(pool: ConnectionPool, secret: str, *, policy: Register, gateway: CommandGateway | None = None,
               vault_keys: VaultKeys | None = None, audit_public_key: str | None = None,
               pseudonym_key: bytes | None = None) -> FastAPI:
    app = FastAPI(title="KiT platform API", version="0.2.0",
                  description="Operators' and auditors' API of the KiT integrated services platform.")
    oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/token")
    if gateway is not None:
        app.router.on_startup.append(gateway.start)
        app.router.on_shutdown.append(gateway.stop)

    # The checks on the caller are async (pure CPU, microseconds): run on the event loop, not handed
    # to the thread pool one by one before the endpoint's own turn there.
    async def current_operator(token: Annotated[str, Depends(oauth2)]) -> Operator:
        operator = tokens.verify(token, secret)
        if operator is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or expired token",
                                headers={"WWW-Authenticate": "Bearer"})
        return operator

    async def case_reader(operator: Annotated[Operator, Depends(current_operator)]) -> Operator:
        if not may(operator.role, "case.read"):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {operator.role} may not read case records")
        return operator

    async def case_writer(operator: Annotated[Operator, Depends(current_operator)]) -> Operator:
        if not may(operator.role, "case.write"):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {operator.role} may not change case records")
        return operator

    @app.get("/health", tags=["operations"])
    def health() -> dict[str, str]:
        with pool.connection() as conn:
            conn.execute("SELECT 1")
        return {"status": "ok"}

    @app.post("/api/v1/token", response_model=Token, tags=["auth"])
    def token(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
        with pool.connection() as conn:
            operator = accounts.authenticate(conn, form.username, form.password)
        if operator is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password",
                                headers={"WWW-Authenticate": "Bearer"})
        return Token(access_token=tokens.issue(operator, secret))

    @app.get("/api/v1/ingest-key", tags=["partners"])
    def ingest_key() -> dict[str, str]:
        """The platform's public key: partners seal identity with it (`kit.vault.seal`)."""
        if gateway is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "commands are not enabled")
        return {"algorithm": "X25519-HKDF-SHA256-AES256GCM (kit-seal-v1)", "public_key": gateway.ingest_public_key}

    reads = CaseReads(pool, policy, vault_keys, pseudonym_key)
    app.state.reads = reads

    @app.get("/api/v1/youths", response_model=YouthPage, tags=["youths"])
    def list_youths(operator: Annotated[Operator, Depends(case_reader)],
                    limit: Annotated[int, Query(ge=1, le=200)] = 50,
                    offset: Annotated[int, Query(ge=0)] = 0,
                    q: Annotated[str | None, Query(max_length=64, description="pseudonymous id (or its start) or nickname")] = None,
                    status_: Annotated[CaseStatus | None, Query(alias="status")] = None,
                    key_worker: str | None = None,
                    region: Annotated[str | None, Query(pattern=r"^(IT|CH)-[A-Z0-9]{1,3}$")] = None) -> Response:
        """Your caseload: the youths your agency may see now (consent or override in force), with
        search and filters."""
        # the page's JSON comes from PostgreSQL as it is sent (schema: YouthPage, held by a test)
        return Response(reads.caseload_json(operator, limit=limit, offset=offset, q=q, status=status_,
                                            key_worker=key_worker, region=region), media_type="application/json")

    @app.get("/api/v1/youths/{youth_id}", response_model=YouthRecord, response_model_exclude_none=True, tags=["youths"],
             responses={404: {"description": "no such youth visible to your agency"}})
    def get_youth(youth_id: YouthIdPath, operator: Annotated[Operator, Depends(case_reader)]) -> YouthRecord:
        record = visible(reads.record, operator, youth_id)
        return YouthRecord(**_youth_fields(record), agencies=record["agencies"], consents=record["consents"],
                           referrals=record["referrals"], vulnerabilities=record["vulnerabilities"],
                           identity=record["identity"], withheld=record["withheld"])

    @app.get("/api/v1/youths/{youth_id}/timeline", tags=["youths"],
             responses={404: {"description": "no such youth visible to your agency"}})
    def timeline(youth_id: YouthIdPath, operator: Annotated[Operator, Depends(case_reader)]) -> list[dict[str, Any]]:
        """The youth's path across agencies, as far as consent allows; special-category entries
        only for roles with need to know."""
        return visible(reads.timeline, operator, youth_id)

    @app.get("/api/v1/alerts", tags=["youths"])
    def alerts(operator: Annotated[Operator, Depends(case_reader)]) -> list[dict[str, Any]]:
        """Lost contact, overdue Project of Life reviews, follow-ups due, referrals not answered."""
        return reads.alerts(operator)

    @app.get("/api/v1/referrals", tags=["referrals"])
    def referrals(operator: Annotated[Operator, Depends(case_reader)],
                  direction: Literal["inbox", "sent"] = "inbox",
                  status_: Annotated[str | None, Query(alias="status")] = None) -> list[dict[str, Any]]:
        """Referrals to your agency (inbox) or from it (sent: the closed-loop feedback)."""
        return reads.referrals(operator, direction, status_)

    @app.get("/api/v1/youths/{youth_id}/access", response_model=Access, tags=["youths"])
    def access(youth_id: YouthIdPath, operator: Annotated[Operator, Depends(current_operator)],
               purpose: Literal["case_management", "sharing", "family_contact", "observatory_statistics"] = "case_management",
               agency: str | None = None, at: AwareDatetime | None = None) -> Access:
        """May agency X see youth Y for purpose P at time T? (defaults: your agency, now). Fail-closed.
        Asked about a youth your agency may not see now, the answer is 404 (auditors: always)."""
        agency = agency or operator.agency
        if agency != operator.agency and operator.role not in ("auditor", "supervisor", "agency_admin"):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "only supervisors, agency admins and auditors ask for another agency")
        at = at or datetime.now(timezone.utc)
        with pool.connection() as conn, conn.transaction():
            accounts.require_active(conn, operator)
            if operator.role != "auditor" and not may_access_youth(
                    conn, youth_id, agency=operator.agency, agency_category=policy.category_of(operator.agency),
                    at=datetime.now(timezone.utc)):
                raise HTTPException(status.HTTP_404_NOT_FOUND, "no such youth visible to your agency")
            answer = may_see_youth(conn, youth_id, agency=agency, agency_category=policy.category_of(agency),
                                   purpose=purpose, at=at)
            accounts.log_access(conn, operator, purpose="access_check", what=f"access of {agency} for {purpose}",
                                 youth_id=youth_id)
        return Access(youth_id=youth_id, agency=agency, purpose=purpose, at=at, allowed=answer.allowed, basis=answer.basis)

    async def auditor(operator: Annotated[Operator, Depends(current_operator)]) -> Operator:
        if not may(operator.role, "audit.read"):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "only auditors read the audit trail")
        return operator

    @contextmanager
    def audited(operator: Operator, what: str, youth_id: str | None = None):
        """An auditor's read, with its access-log row in the same transaction."""
        with pool.connection() as conn, conn.transaction():
            accounts.log_access(conn, operator, purpose="audit", what=what, youth_id=youth_id)
            yield conn

    def key_exists(owner: str) -> bool:
        return vault_keys is not None and vault_keys.get(owner) is not None

    @app.get("/api/v1/audit/youths/{youth_id}/path", tags=["audit"])
    def audit_path(youth_id: YouthIdPath, operator: Annotated[Operator, Depends(auditor)]) -> list[dict[str, Any]]:
        """The youth's whole path across services, in log order: who, when, for which agency; reads too."""
        with audited(operator, "audit replay: path", youth_id) as conn:
            steps = replay.path(conn, youth_id, key_exists)
        if not steps:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no entries for this youth")
        return steps

    @app.get("/api/v1/audit/youths/{youth_id}/state", tags=["audit"])
    def audit_state(youth_id: YouthIdPath, at: AwareDatetime,
                    operator: Annotated[Operator, Depends(auditor)]) -> dict[str, Any]:
        """The state of the youth's case as it was at `at`."""
        with audited(operator, f"audit replay: state at {at.isoformat()}", youth_id) as conn:
            state = replay.state_at(conn, youth_id, at)
        if state is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "the youth was not registered at that time")
        return state

    @app.get("/api/v1/audit/youths/{youth_id}/bundle", tags=["audit"])
    def audit_bundle(youth_id: YouthIdPath, operator: Annotated[Operator, Depends(auditor)]) -> dict[str, Any]:
        """A signed export of the path with inclusion proofs: verify offline with `kit audit verify-bundle`."""
        with audited(operator, "audit export: bundle", youth_id) as conn:
            signed = checkpointing.latest(conn)
            proven = verify.prove_youth(conn, youth_id, signed) if signed else "no signed checkpoint yet"
        if isinstance(proven, str):
            raise HTTPException(status.HTTP_409_CONFLICT, proven)
        return bundle.make_bundle(youth_id, signed, proven)

    @app.get("/api/v1/audit/youths/{youth_id}/verify", tags=["audit"])
    def audit_verify_youth(youth_id: YouthIdPath, operator: Annotated[Operator, Depends(auditor)]) -> dict[str, Any]:
        if audit_public_key is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the audit key is not configured")
        with audited(operator, "audit verify: youth", youth_id) as conn:
            return verify.verify_youth(conn, youth_id, audit_public_key).to_json()

    @app.get("/api/v1/audit/access", tags=["audit"])
    def audit_access(operator: Annotated[Operator, Depends(auditor)], youth_id: str | None = None,
                     operator_ref: Annotated[str | None, Query(alias="operator")] = None,
                     since: AwareDatetime | None = None, until: AwareDatetime | None = None,
                     format: Literal["json", "csv"] = "json"):
        """Who read youth X; everything operator O read; per period. `format=csv` to export."""
        with audited(operator, "audit: access log query", youth_id) as conn:
            rows = access_queries.query(conn, youth_id=youth_id, operator=operator_ref, since=since, until=until)
        if format == "csv":
            return PlainTextResponse(access_queries.to_csv(rows), media_type="text/csv")
        return rows

    @app.get("/api/v1/audit/checkpoints/latest", tags=["audit"])
    def audit_checkpoint(operator: Annotated[Operator, Depends(auditor)]) -> dict[str, Any]:
        with audited(operator, "audit: latest checkpoint") as conn:
            signed = checkpointing.latest(conn)
        if signed is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no checkpoint yet")
        return signed.to_json() | {"public_key": audit_public_key}

    @app.exception_handler(accounts.AccountInactive)
    async def account_inactive(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_401_UNAUTHORIZED,
                                headers={"WWW-Authenticate": "Bearer"})
        return sign_in_again(request)

    if gateway is not None:
        for name, model in HTTP_COMMANDS.items():
            _add_command_route(app, gateway, name, model, case_writer, reads)
    add_web_routes(app, reads=reads, gateway=gateway, secret=secret, pool=pool)
    return app


def visible(read, operator: Operator, youth_id: str):
    try:
        return read(operator, youth_id)
    except NotVisible:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such youth visible to your agency") from None


def _add_command_route(app: FastAPI, gateway: CommandGateway, name: str, model, case_writer, reads: CaseReads) -> None:
    body_model = http_body_model(model)

    async def send(body: body_model, operator: Annotated[Operator, Depends(case_writer)]):  # type: ignore[valid-type]
        await asyncio.to_thread(reads.require_active, operator)
        command = to_command(model, body, gateway.ingest_public_key)
        ingest_id, receipt = await gateway.send(operator, command)
        if receipt is None:
            return JSONResponse(status_code=202, content=Pending(
                ingest_id=ingest_id, detail="sent; the receipt did not arrive in time (see kit.receipts)").model_dump())
        if receipt["status"] == "accepted":  # read-your-writes: the next read shows it
            await asyncio.to_thread(reads.wait_for, receipt["event_ids"])
        return JSONResponse(status_code=200 if receipt["status"] == "accepted" else 422, content=for_http(receipt))

    app.add_api_route(f"/api/v1/commands/{name}", send, methods=["POST"], tags=["commands"],
                      summary=model.summary, description=model.__doc__ or model.summary,
                      response_model=Receipt, name=name,
                      responses={422: {"model": Receipt, "description": "rejected: see `reasons`"},
                                 202: {"model": Pending, "description": "sent, receipt still pending"}})


def for_http(receipt: dict[str, Any]) -> dict[str, Any]:
    """Reason fields as the HTTP body names them (no `data.` envelope, `identity` not sealed)."""
    def field(name: str) -> str:
        name = name.removeprefix("data.").removeprefix("data")
        return "identity" + name.removeprefix("sealed_identity") if name.startswith("sealed_identity") else name
    return receipt | {key: [r | {"field": field(r["field"])} for r in receipt.get(key, [])]
                      for key in ("reasons", "notices")}


YOUTH_FIELDS = frozenset(Youth.model_fields)


def _youth_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {name: (value.isoformat() if hasattr(value, "isoformat") else value)
            for name, value in row.items() if name in YOUTH_FIELDS and value is not None
            } | {"youth_id": str(row["youth_id"])}
