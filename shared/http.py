"""What every HTTP router of the platform uses: the signed-in operator, role checks, the database
pool and the access log. The HTTP service puts its resources on `app.state` (see `HttpState`);
the routers, the API's own and those a service adds through its declaration, take them from here,
so a service's pages need nothing from another service.

No `from __future__ import annotations` here: FastAPI resolves `Annotated[...]` dependencies at
definition time.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import OAuth2PasswordBearer
from psycopg import Connection
from psycopg_pool import ConnectionPool

from shared import accounts, tokens
from shared.accounts import Operator
from shared.agencies import Register
from shared.roles import may

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/token")

# Paths machines read (the API, the HSDS directory): their errors are JSON, never the operators' pages.
MACHINE_PATHS = ("/api/", "/hsds/")


def for_machines(path: str) -> bool:
    return path.startswith(MACHINE_PATHS)

# Query parameters every router shares: bounded so that no value reaches the database as one it
# cannot take (a NUL in a text, an offset beyond bigint), refused with 422 instead.
PLAIN_TEXT = r"^[^\x00-\x1f\x7f]*$"
UUID_TEXT = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
SearchText = Annotated[str | None, Query(max_length=64, pattern=PLAIN_TEXT)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
OptionalYouthId = Annotated[str | None, Query(pattern=UUID_TEXT, description="The youth's pseudonym (UUID).")]


@dataclass
class HttpState:
    """The HTTP service's resources, as routers find them on `request.app.state.kit`."""

    pool: ConnectionPool
    secret: str
    register: Register
    platform: Any  # kit.service.Platform
    settings: Any  # kit.config.Settings, or None in tests
    extras: dict[str, Any]  # what a service's routers need and the HTTP service provides (keys, gateways)


def state(request: Request) -> HttpState:
    return request.app.state.kit


async def current_operator(request: Request, token: Annotated[str, Depends(oauth2)]) -> Operator:
    # pure CPU (microseconds): on the event loop, not handed to the thread pool
    operator = tokens.verify(token, state(request).secret)
    if operator is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or expired token",
                            headers={"WWW-Authenticate": "Bearer"})
    return operator


def requires(permission: str, refusal: str):
    """A dependency: the signed-in operator, if their role holds `permission` (else 403 `refusal`)."""
    async def check(operator: Annotated[Operator, Depends(current_operator)]) -> Operator:
        if not may(operator.role, permission):
            raise HTTPException(status.HTTP_403_FORBIDDEN, refusal.format(role=operator.role))
        return operator
    return check


CaseReader = Annotated[Operator, Depends(requires("case.read", "role {role} may not read case records"))]
CaseWriter = Annotated[Operator, Depends(requires("case.write", "role {role} may not change case records"))]
Auditor = Annotated[Operator, Depends(requires("audit.read", "only auditors read the audit trail"))]


@contextmanager
def logged_read(request: Request, operator: Operator, *, purpose: str, what: str,
                youth_id: str | None = None) -> Iterator[Connection]:
    """A read with its access-log row in the same transaction (which checks the account is still
    as the token says: a disabled account reads nothing)."""
    with state(request).pool.connection() as conn, conn.transaction():
        accounts.log_access(conn, operator, purpose=purpose, what=what, youth_id=youth_id)
        yield conn
