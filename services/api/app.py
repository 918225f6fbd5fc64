"""HTTP API: health, tokens, and the youth directory of the caller's agency.

No `from __future__ import annotations` here: FastAPI must resolve the dependencies declared in
`Annotated[...]` on the nested functions at definition time.
"""

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Path, Query, status
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

from events.envelope import PSEUDONYM_PATTERN
from services.api import operators, tokens
from services.api.operators import Operator

CASE_ROLES = {"operator", "key_worker", "link_worker", "employment_specialist", "supervisor", "agency_admin"}


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


class Youth(BaseModel):
    youth_id: str
    registering_agency: str
    partner_case_ref: str
    birth_year: int
    country: str
    region: str
    registered_at: str


class YouthPage(BaseModel):
    items: list[Youth]
    total: int
    limit: int
    offset: int


def create_app(pool: ConnectionPool, secret: str) -> FastAPI:
    app = FastAPI(title="KiT platform API", version="0.1.0",
                  description="Operators' and auditors' API of the KiT integrated services platform.")
    oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/token")

    def current_operator(token: Annotated[str, Depends(oauth2)]) -> Operator:
        operator = tokens.verify(token, secret)
        if operator is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or expired token",
                                headers={"WWW-Authenticate": "Bearer"})
        return operator

    def case_worker(operator: Annotated[Operator, Depends(current_operator)]) -> Operator:
        if operator.role not in CASE_ROLES:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {operator.role} may not read case records")
        return operator

    @app.get("/health", tags=["operations"])
    def health() -> dict[str, str]:
        with pool.connection() as conn:
            conn.execute("SELECT 1")
        return {"status": "ok"}

    @app.post("/api/v1/token", response_model=Token, tags=["auth"])
    def token(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
        with pool.connection() as conn:
            operator = operators.authenticate(conn, form.username, form.password)
        if operator is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password",
                                headers={"WWW-Authenticate": "Bearer"})
        return Token(access_token=tokens.issue(operator, secret))

    @app.get("/api/v1/youths", response_model=YouthPage, tags=["youths"])
    def list_youths(operator: Annotated[Operator, Depends(case_worker)],
                    limit: Annotated[int, Query(ge=1, le=200)] = 50,
                    offset: Annotated[int, Query(ge=0)] = 0) -> YouthPage:
        with pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            total = cur.execute("SELECT count(*) AS n FROM views.youths WHERE registering_agency = %s",
                                (operator.agency,)).fetchone()["n"]
            rows = cur.execute(
                "SELECT * FROM views.youths WHERE registering_agency = %s"
                " ORDER BY registered_at, youth_id LIMIT %s OFFSET %s", (operator.agency, limit, offset)).fetchall()
            operators.log_access(conn, operator, purpose="case_management", what="youth list")
        return YouthPage(items=[_youth(r) for r in rows], total=total, limit=limit, offset=offset)

    @app.get("/api/v1/youths/{youth_id}", response_model=Youth, tags=["youths"],
             responses={404: {"description": "no such youth visible to your agency"}})
    def get_youth(youth_id: Annotated[str, Path(pattern=PSEUDONYM_PATTERN)],
                  operator: Annotated[Operator, Depends(case_worker)]) -> Youth:
        with pool.connection() as conn, conn.transaction():
            row = conn.cursor(row_factory=dict_row).execute(
                "SELECT * FROM views.youths WHERE youth_id::text = %s AND registering_agency = %s",
                (youth_id, operator.agency)).fetchone()
            if row is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "no such youth visible to your agency")
            operators.log_access(conn, operator, purpose="case_management", what="youth record", youth_id=youth_id)
        return _youth(row)

    return app


def _youth(row: dict) -> Youth:
    return Youth(youth_id=str(row["youth_id"]), registering_agency=row["registering_agency"],
                 partner_case_ref=row["partner_case_ref"], birth_year=row["birth_year"], country=row["country"],
                 region=row["region"], registered_at=row["registered_at"].isoformat())
