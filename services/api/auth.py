"""Health, bearer tokens, and the key partners seal identity with.

No `from __future__ import annotations`: FastAPI resolves the dependencies at definition time.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from shared import accounts, tokens
from shared.http import state

router = APIRouter()


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


@router.get("/health", tags=["operations"])
def health(request: Request) -> dict[str, str]:
    with state(request).pool.connection() as conn:
        conn.execute("SELECT 1")
    return {"status": "ok"}


@router.post("/api/v1/token", response_model=Token, tags=["auth"])
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    with state(request).pool.connection() as conn:
        operator = accounts.authenticate(conn, form.username, form.password)
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
