"""Health, bearer tokens, and the key partners seal identity with.

No `from __future__ import annotations`: FastAPI resolves the dependencies at definition time.
"""

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from pydantic import BaseModel

from shared import tokens
from shared.http import state
from shared.sign_in import Busy, Throttled

router = APIRouter()


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


@router.get("/health", tags=["operations"])
def health(request: Request) -> dict[str, str]:
    with state(request).pool.connection() as conn:
        conn.execute("SELECT 1")
    return {"status": "ok"}


Username = Annotated[str, Form(min_length=1, max_length=128)]
Password = Annotated[str, Form(min_length=1, max_length=1024)]


async def sign_in(request: Request, username: str, password: str):
    """The operator, or None for a wrong username or password; 429 when throttled, 503 when the
    password hashing queue is full (both with Retry-After)."""
    try:
        outcome = await state(request).extras["sign_in"](username, password, client_of(request))
    except Busy:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "too many sign-ins at once: retry in a moment",
                            headers={"Retry-After": "5"}) from None
    if isinstance(outcome, Throttled):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"too many failed sign-ins: try again in {outcome.retry_after} s",
                            headers={"Retry-After": str(outcome.retry_after)})
    return outcome


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/api/v1/token", response_model=Token, tags=["auth"],
             responses={401: {"description": "wrong username or password"},
                        429: {"description": "too many failed sign-ins for this account or from this client"},
                        503: {"description": "too many sign-ins at once"}})
async def token(request: Request, username: Username, password: Password) -> Token:
    """A bearer token (OAuth2 password flow: form fields `username` and `password`)."""
    operator = await sign_in(request, username, password)
    if operator is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password",
                            headers={"WWW-Authenticate": "Bearer"})
    return Token(access_token=tokens.issue(operator, state(request).secret))


@router.get("/api/v1/ingest-key", tags=["partners"])
def ingest_key(request: Request) -> dict[str, str]:
    """The platform's public key: partners seal identity with it (`kit.vault.seal`)."""
    gateway = state(request).extras.get("gateway")
    if gateway is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "commands are not enabled")
    return {"algorithm": "X25519-HKDF-SHA256-AES256GCM (kit-seal-v1)", "public_key": gateway.ingest_public_key}
