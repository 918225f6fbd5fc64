"""Bearer tokens carry the operator's pseudonymous id, agency and role, and nothing else."""

from datetime import datetime, timedelta, timezone

import jwt

from shared import tokens
from shared.accounts import Operator

SECRET = "test-secret-long-enough-for-hs256-0123456789"
OPERATOR = Operator(id="6c1e0b2a-9f4d-4c3b-8a7e-1d2c3b4a5f60", username="giulia", agency="comune-milano-m7",
                    role="key_worker")


def test_a_token_round_trips_without_the_username():
    token = tokens.issue(OPERATOR, SECRET)
    assert tokens.verify(token, SECRET) == Operator(id=OPERATOR.id, username="", agency="comune-milano-m7",
                                                       role="key_worker")
    assert "giulia" not in str(jwt.decode(token, options={"verify_signature": False}))


def test_a_token_signed_with_another_secret_or_expired_or_tampered_is_refused():
    assert tokens.verify(tokens.issue(OPERATOR, "another-secret-that-is-long-enough-0123"), SECRET) is None
    old = datetime.now(timezone.utc) - tokens.LIFETIME - timedelta(minutes=1)
    assert tokens.verify(tokens.issue(OPERATOR, SECRET, now=old), SECRET) is None
    header, payload, signature = tokens.issue(OPERATOR, SECRET).split(".")
    forged = jwt.encode({"sub": OPERATOR.id, "agency": "ngo-lugano", "role": "auditor", "exp": 9999999999}, "a-guessed-secret-that-is-long-enough-0")
    assert tokens.verify(f"{header}.{forged.split('.')[1]}.{signature}", SECRET) is None


def test_a_signed_token_without_an_agency_or_role_or_with_claims_of_another_type_is_refused():
    exp = int((datetime.now(timezone.utc) + timedelta(hours=1)).timestamp())
    for claims in ({"sub": OPERATOR.id, "role": "key_worker", "exp": exp},
                   {"sub": OPERATOR.id, "agency": "comune-milano-m7", "exp": exp},
                   {"sub": OPERATOR.id, "agency": ["comune-milano-m7"], "role": "key_worker", "exp": exp},
                   {"sub": OPERATOR.id, "agency": "", "role": "key_worker", "exp": exp}):
        assert tokens.verify(jwt.encode(claims, SECRET, algorithm="HS256"), SECRET) is None
