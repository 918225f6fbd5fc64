"""Sign-in under abuse, on the running API: wrong passwords are throttled per account and per
client (in the database: every API process counts the same), password hashing waits its turn so
the rest of the API keeps answering, and the web pages carry the headers a browser needs to stay
safe (no framing, no sniffing, only the site's own scripts; Secure cookies over TLS; form posts only
from the same scheme and host)."""

import asyncio

import httpx
import pytest

from shared.sign_in import ACCOUNT_LIMIT, CLIENT_LIMIT
from tests.integration.test_api_refusals import PASSWORD, api, bearer  # noqa: F401 (the fixture)

pytestmark = pytest.mark.integration


async def token(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/token", data={"username": username, "password": password})


async def test_wrong_passwords_for_one_account_are_throttled_and_the_account_is_told_when_to_retry(api):
    for _ in range(ACCOUNT_LIMIT):
        assert (await token(api, "giulia", "wrong password")).status_code == 401
    throttled = await token(api, "giulia", PASSWORD)  # even the right one, until the window passes
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    assert "try again" in throttled.json()["detail"]
    assert (await token(api, "GIULIA ", "wrong password")).status_code == 429  # the same account, however typed
    assert (await token(api, "marco", PASSWORD)).status_code == 200  # another account is not locked out


async def test_wrong_passwords_from_one_client_across_accounts_are_throttled(api):
    for i in range(CLIENT_LIMIT):
        assert (await token(api, f"guess-{i}", "wrong password")).status_code == 401
    assert (await token(api, "someone-else", "wrong password")).status_code == 429


async def test_a_flood_of_sign_ins_waits_its_turn_while_the_rest_of_the_api_answers(api):
    async def health() -> int:
        return (await api.get("/health", timeout=5)).status_code

    flood = [asyncio.create_task(token(api, "marco", PASSWORD)) for _ in range(20)]
    await asyncio.sleep(0.2)
    assert [await health() for _ in range(5)] == [200] * 5  # while the hashes queue
    answers = await asyncio.gather(*flood)
    assert {r.status_code for r in answers} == {200}


async def test_pages_carry_the_headers_that_keep_a_browser_safe(api):
    login = await api.get("/login")
    assert login.status_code == 200
    assert "default-src 'self'" in login.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
    assert (login.headers["x-frame-options"], login.headers["x-content-type-options"]) == ("DENY", "nosniff")
    assert login.headers["referrer-policy"] == "same-origin"  # youths' ids in URLs go to no other site
    assert "<script>" not in login.text and "<style>" not in login.text  # what the policy lets run is served
    assert (await api.get("/static/app.css")).status_code == 200
    assert "cdn.jsdelivr.net" in (await api.get("/docs")).headers["content-security-policy"]
    api_answer = await api.get("/health")
    assert api_answer.headers["x-content-type-options"] == "nosniff"


async def test_over_tls_the_session_cookie_is_secure_and_a_post_from_plain_http_is_refused(api):
    host = api.base_url.host + f":{api.base_url.port}"
    tls = {"X-Forwarded-Proto": "https", "Origin": f"https://{host}"}  # as a TLS proxy on this host forwards it
    signed = await api.post("/login", data={"username": "luca", "password": PASSWORD}, headers=tls)
    assert signed.status_code == 303
    assert "secure" in signed.headers["set-cookie"].lower()
    assert "strict-transport-security" in signed.headers
    downgraded = await api.post("/login", data={"username": "luca", "password": PASSWORD},
                                headers={"X-Forwarded-Proto": "https", "Origin": f"http://{host}"})
    assert downgraded.status_code == 403
    plain = await api.post("/login", data={"username": "luca", "password": PASSWORD}, headers={"Origin": f"http://{host}"})
    assert plain.status_code == 303 and "secure" not in plain.headers["set-cookie"].lower()
