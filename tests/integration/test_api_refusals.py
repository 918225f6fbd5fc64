"""The HTTP API answers a bad request with a 4xx in its documented shape, never a 500 and never
the value sent; and a youth the caller may not see is answered as a youth that does not exist.
The API, intake and the views run as `kit run` runs them, on the real servers."""

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import jwt
import psycopg
import pytest

from shared import accounts
from tests.conftest import eventually
from tests.integration.harness import running, services

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"
MILANO, AFOL, LUGANO = "comune-milano-m7", "afol-milano", "ngo-lugano"
IDENTITY = {"given_names": "Mariangela", "family_name": "Zambrotti", "birth_date": "2005-12-10", "country": "IT"}


@pytest.fixture
async def api(platform):
    settings = platform.settings
    async with running(*services(settings, "gateway", "intake", "views", "api")):
        base = f"http://127.0.0.1:{settings.http_port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            async def up():
                try:
                    return (await client.get("/health")).status_code == 200
                except httpx.HTTPError:
                    return False
            await eventually(up, timeout=30)
            with psycopg.connect(platform.database_url, autocommit=True) as conn:
                for agency, role, name in ((MILANO, "key_worker", "giulia"), (LUGANO, "key_worker", "marco"),
                                           (MILANO, "auditor", "anna"), (AFOL, "employment_specialist", "luca")):
                    accounts.add_operator(conn, agency=agency, role=role, username=name, password=PASSWORD)
            yield client


async def bearer(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await client.post("/api/v1/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def documented(response: httpx.Response, *sent: str) -> list[tuple[str, str]]:
    """The 422 body as /openapi.json documents it: (field, code) of each reason; nothing sent in it."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"detail", "reasons"} and all(set(r) == {"field", "code", "message"} for r in body["reasons"])
    assert not [s for s in sent if s in response.text], response.text
    return [(r["field"], r["code"]) for r in body["reasons"]]


async def register(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    now = datetime.now(timezone.utc).isoformat()
    response = await client.post("/api/v1/intake/commands/register_youth", headers=headers, json={
        "partner_case_ref": f"MI7-{uuid.uuid4().hex[:8]}", "birth_year": 2005, "country": "IT", "region": "IT-25",
        "identity": IDENTITY, "consents": [{"consent_id": str(uuid.uuid4()), "purpose": "case_management",
                                           "legal_basis": "consent", "given_by": "youth", "notice_version": "2026-1",
                                           "given_at": now}]})
    assert response.status_code == 200, response.text
    return response.json()["subject"]


async def test_bad_parameters_get_a_documented_422_and_never_a_500(api, platform):
    giulia = await bearer(api, "giulia")
    assert documented(await api.get("/api/v1/youths", params={"offset": 10 ** 12}, headers=giulia)) == [
        ("query.offset", "less_than_equal")]
    assert documented(await api.get("/api/v1/youths", params={"q": "ab\x00cd"}, headers=giulia), "ab\x00cd") == [
        ("query.q", "string_pattern_mismatch")]
    assert documented(await api.get("/api/v1/youths", params={"key_worker": "\x00"}, headers=giulia)) == [
        ("query.key_worker", "string_pattern_mismatch")]
    assert (await api.get("/youths", params={"q": "ab\x00cd"})).status_code == 422  # the web app's caseload too
    anna = await bearer(api, "anna")
    assert documented(await api.get("/api/v1/audit/access", params={"youth_id": "not-a-uuid"}, headers=anna),
                      "not-a-uuid") == [("query.youth_id", "string_pattern_mismatch")]
    far = "9999-12-31T23:59:59-14:00"
    youth = await register(api, giulia)
    assert documented(await api.get(f"/api/v1/youths/{youth}/access", params={"at": far}, headers=giulia), far) == [
        ("query.at", "date_out_of_range")]


async def test_a_body_that_does_not_fit_is_refused_without_repeating_it(api):
    giulia = await bearer(api, "giulia")
    youth = str(uuid.uuid4())
    assert documented(await api.post("/api/v1/intake/commands/record_identity", json={"youth_id": youth},
                                     headers=giulia)) == [("body.identity", "missing")]
    odd = {"youth_id": youth, "identity": IDENTITY | {"birth_date": "2005-13-45"}}
    assert documented(await api.post("/api/v1/intake/commands/record_identity", json=odd, headers=giulia),
                      "2005-13-45") == [("body.identity.birth_date", "date_from_datetime_parsing")]
    extra = {"youth_id": youth, "identity": IDENTITY, "RSSMRA05T10F205Z": "Mariangela"}
    assert documented(await api.post("/api/v1/intake/commands/record_identity", json=extra, headers=giulia),
                      "RSSMRA05T10F205Z", "Mariangela") == [("body", "extra_forbidden")]


async def test_the_documented_422_is_the_one_sent(api):
    schema = (await api.get("/openapi.json")).json()
    problem = schema["components"]["schemas"]["HTTPValidationError"]
    assert set(problem["properties"]) == {"detail", "reasons"}
    assert "ValidationError" not in schema["components"]["schemas"]  # FastAPI's, with `input`


async def test_a_token_without_an_agency_is_refused_with_401(api, platform):
    claims = {"sub": str(uuid.uuid4()), "role": "key_worker",
              "exp": int((datetime.now(timezone.utc) + timedelta(hours=1)).timestamp())}
    forged = jwt.encode(claims, platform.settings.jwt_secret, algorithm="HS256")
    response = await api.get("/api/v1/youths", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


async def test_a_command_on_a_youth_the_caller_may_not_see_is_answered_as_one_that_does_not_exist(api):
    youth = await register(api, await bearer(api, "giulia"))
    marco = await bearer(api, "marco")
    contact = {"contact_type": "meeting", "channel": "in_person", "outcome": "reached",
               "occurred_at": datetime.now(timezone.utc).isoformat()}

    async def log_contact(youth_id: str) -> httpx.Response:
        return await api.post("/api/v1/intake/commands/log_contact", headers=marco,
                              json=contact | {"youth_id": youth_id, "contact_id": str(uuid.uuid4())})
    hidden, missing = await asyncio.gather(log_contact(youth), log_contact(str(uuid.uuid4())))
    assert (hidden.status_code, missing.status_code) == (422, 422)
    assert hidden.json()["reasons"] == missing.json()["reasons"] == [
        {"field": "youth_id", "code": "unknown_youth", "message": "no youth with this id"}]
    assert (await api.get(f"/api/v1/youths/{youth}", headers=marco)).status_code == 404


async def test_the_access_question_by_default_is_the_one_the_reads_ask(api):
    # given a youth Milan shares with AFOL (no case-management consent for AFOL)
    giulia = await bearer(api, "giulia")
    youth = await register(api, giulia)
    shared = await api.post("/api/v1/intake/commands/record_consent", headers=giulia, json={
        "youth_id": youth, "consent": {"consent_id": str(uuid.uuid4()), "purpose": "sharing", "recipient": AFOL,
                                       "legal_basis": "consent", "given_by": "youth", "notice_version": "2026-1",
                                       "given_at": datetime.now(timezone.utc).isoformat()}})
    assert shared.status_code == 200, shared.text
    luca = await bearer(api, "luca")
    assert (await api.get(f"/api/v1/youths/{youth}", headers=luca)).status_code == 200
    # when AFOL asks whether it may see the youth, then the answer agrees with what it can read
    answer = (await api.get(f"/api/v1/youths/{youth}/access", headers=luca)).json()
    assert (answer["allowed"], answer["purpose"]) == (True, "sharing")
    asked = (await api.get(f"/api/v1/youths/{youth}/access", params={"purpose": "case_management"}, headers=luca))
    assert asked.json()["allowed"] is False
