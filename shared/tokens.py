"""Bearer tokens: short-lived HS256 JWTs carrying the operator's pseudonymous id, agency and role."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import jwt

from shared.accounts import Operator

LIFETIME = timedelta(hours=8)
ALGORITHM = "HS256"


def issue(operator: Operator, secret: str, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    claims = {"sub": operator.id, "agency": operator.agency, "role": operator.role,
              "iat": int(now.timestamp()), "exp": int((now + LIFETIME).timestamp())}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


CLAIMS = ("sub", "agency", "role")


def verify(token: str, secret: str) -> Operator | None:
    """The operator a token names, or None if it is not one we issued, expired, or lacks a claim."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": [*CLAIMS, "exp"]})
    except jwt.PyJWTError:
        return None
    if not all(isinstance(claims[name], str) and claims[name] for name in CLAIMS):
        return None
    return Operator(id=claims["sub"], username="", agency=claims["agency"], role=claims["role"])
