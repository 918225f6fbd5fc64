"""The operators' main journeys in a real headless Chromium (Debian's, driven by Playwright)
against `kit up`: log in (Italian by default), find the youth in the caseload, record a contact
and see it on the timeline at once, receive a referral live in the inbox and accept it, and fail
to open another agency's youth without consent, in the browser and over the API."""

import asyncio
import json
import shutil
import uuid
from pathlib import Path

import httpx
import pytest

from kit.vault import seal
from tests.e2e.test_intake_journey import AFOL, IDENTITY, LUGANO, MILANO, Operator, Partner, consent
from tests.e2e.test_thin_path import EmbeddedNatsOf, add_users, platform_env, start_platform, stop_platform, wait_healthy

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web")
    data_dir = tmp / "kit-data"
    env, base, nats_at = platform_env(data_dir)
    proc = start_platform(env)
    try:
        wait_healthy(base, proc)
        add_users(env, [(MILANO, "key_worker", "giulia"), (AFOL, "employment_specialist", "luca"),
                        (LUGANO, "key_worker", "marco"), (MILANO, "agency_admin", "ada"),
                        (MILANO, "auditor", "anna")], PASSWORD)
        public_key = httpx.get(f"{base}/api/v1/ingest-key").json()["public_key"]
        youth = asyncio.run(register(nats_at, public_key))
        giulia = Operator(base, "giulia")
        assert giulia.command("assess_youth", youth_id=youth, neet_status="neet", education_level="upper_secondary",
                              family_context="with_parents", lead_agency=MILANO, key_worker="giulia").status_code == 200
        assert giulia.command("record_consent", youth_id=youth, consent=consent("sharing", AFOL)).status_code == 200
        yield {"base": base, "youth": youth, "giulia": giulia}
    finally:
        stop_platform(proc, data_dir)


async def register(nats_at: EmbeddedNatsOf, public_key: str) -> str:

    nc = await nats_at.connect()
    try:
        receipt = await Partner(nc, MILANO).send("kit.intake.register_youth.v1", {
            "partner_case_ref": "MI7-WEB-1", "birth_year": 2005, "country": "IT", "region": "IT-25",
            "sealed_identity": seal(public_key, json.dumps(IDENTITY).encode()), "consents": [consent()]})
        assert receipt["status"] == "accepted", receipt
        return receipt["subject"]
    finally:
        await nc.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is needed for the browser tests: `.ci/run` installs it "
                    "(apt-get install chromium)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def log_in(browser, base: str, username: str):
    page = browser.new_context(base_url=base).new_page()
    page.goto("/login")
    assert page.get_by_role("button", name="Accedi").is_visible()  # Italian by default
    page.get_by_label("Nome utente").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_url(f"{base}/?lang=it")
    return page


def test_a_key_worker_records_a_contact_and_sees_it_on_the_timeline_at_once(platform, browser):
    page = log_in(browser, platform["base"], "giulia")
    youth = platform["youth"]
    page.get_by_role("link", name=youth[:8]).click()
    assert page.get_by_text("Zambrotti").is_visible()  # a key worker sees the identity from the vault
    assert page.locator("#timeline li").filter(has_text="contact_logged").count() == 0
    page.get_by_label("Esito").select_option("reached")
    page.get_by_role("button", name="Salva").first.click()
    page.wait_for_url(f"**/youths/{youth}?saved=1*")
    assert page.get_by_role("status").inner_text() == "Salvato."
    assert page.locator("#timeline li").filter(has_text="contact_logged").count() == 1  # no reload, no wait


def test_a_referral_arrives_live_in_the_inbox_and_is_accepted(platform, browser):
    page = log_in(browser, platform["base"], "luca")
    page.goto("/inbox")
    assert page.get_by_text("Nessun invio in attesa.").is_visible()
    referral = str(uuid.uuid4())
    sent = platform["giulia"].command("request_referral", youth_id=platform["youth"], referral_id=referral,
                                      to_agency=AFOL, service="ips_placement", reason="Cerca lavoro: IPS")
    assert sent.status_code == 200, sent.text
    page.get_by_role("button", name="Accogli").wait_for(timeout=15000)  # live: server-sent events
    page.get_by_role("button", name="Rifiuta").click()  # rejecting needs a reason: refused with it
    assert page.get_by_role("alert").is_visible()
    page.get_by_role("button", name="Accogli").click()
    page.wait_for_url("**/inbox?lang=it")
    assert page.get_by_text("Nessun invio in attesa.").is_visible()
    statuses = platform["giulia"].get("/api/v1/referrals?direction=sent").json()
    assert [r["status"] for r in statuses if r["referral_id"] == referral] == ["accepted"]


def test_another_agency_cannot_open_the_youth_without_consent(platform, browser):
    page = log_in(browser, platform["base"], "marco")
    response = page.goto(f"/youths/{platform['youth']}")
    assert response.status == 404 and page.get_by_text("Giovane non visibile per il tuo ente.").is_visible()
    assert "Zambrotti" not in page.content()
    marco = Operator(platform["base"], "marco")
    assert marco.get(f"/api/v1/youths/{platform['youth']}").status_code == 404
    assert marco.get(f"/api/v1/youths/{platform['youth']}/timeline").status_code == 404


def test_the_app_speaks_english_on_request_and_every_field_has_a_label(platform, browser):
    page = log_in(browser, platform["base"], "giulia")
    page.goto("/?lang=en")
    assert page.get_by_role("heading", name="Caseload").is_visible()
    page.goto(f"/youths/{platform['youth']}")
    assert page.get_by_role("heading", name="Timeline").is_visible()  # the choice is remembered
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name)""")
    assert unlabelled == []


def test_settings_are_in_one_place_and_an_agency_admin_manages_the_users(platform, browser):
    page = log_in(browser, platform["base"], "giulia")
    assert page.goto("/settings").status == 403  # a key worker does not manage settings
    page = log_in(browser, platform["base"], "ada")
    page.goto("/settings?lang=en")
    assert page.get_by_role("heading", name="Agencies").is_visible()
    assert page.get_by_role("cell", name="ufficio-giovani-ti").is_visible()
    assert page.get_by_role("row", name="Days without contact before the alert 30").is_visible()
    page.get_by_label("Username", exact=True).fill("nuovo.operatore")
    page.get_by_label("Role", exact=True).select_option("link_worker")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Save").click()
    page.get_by_role("cell", name="nuovo.operatore", exact=True).wait_for()  # after the redirect to the settings page
    newcomer = Operator(platform["base"], "nuovo.operatore")
    assert newcomer.get("/api/v1/youths").status_code == 200

    # another role: the token signed in with the old one stops at its next request
    page.get_by_label("Role · nuovo.operatore").select_option("operator")
    page.get_by_role("row", name="nuovo.operatore").get_by_role("button", name="Change role").click()
    page.wait_for_url("**/settings?lang=en")
    assert page.get_by_label("Role · nuovo.operatore").input_value() == "operator"
    refused = newcomer.get("/api/v1/youths")
    assert refused.status_code == 401 and "sign in again" in refused.json()["detail"]
    newcomer = Operator(platform["base"], "nuovo.operatore")
    assert newcomer.get("/api/v1/youths").status_code == 200

    # disabled: no request goes through, no new sign-in; enabled again: it may sign in
    page.get_by_role("button", name="Disable · nuovo.operatore").click()
    page.get_by_role("row", name="nuovo.operatore").get_by_role("cell", name="Disabled").wait_for()
    assert newcomer.get("/api/v1/youths").status_code == 401
    for youth in (platform["youth"], str(uuid.uuid4())):  # the same answer, seen or not: nothing to learn
        for path in ("", "/timeline", "/access?purpose=sharing"):
            assert newcomer.get(f"/api/v1/youths/{youth}{path}").status_code == 401, path
    assert newcomer.command("log_contact", youth_id=platform["youth"], contact_id=str(uuid.uuid4()),
                            contact_type="meeting", channel="in_person", outcome="reached",
                            occurred_at="2026-11-20T10:00:00Z").status_code == 401
    with pytest.raises(AssertionError):
        Operator(platform["base"], "nuovo.operatore")
    page.get_by_role("button", name="Enable · nuovo.operatore").click()
    page.get_by_role("row", name="nuovo.operatore").get_by_role("cell", name="Active").wait_for()
    assert Operator(platform["base"], "nuovo.operatore").get("/api/v1/youths").status_code == 200

    # an admin does not lock the agency out by disabling themselves
    page.get_by_role("button", name="Disable · ada").click()
    assert page.get_by_role("alert").filter(has_text="cannot disable your own account").is_visible()

    # every change is in the access log, so in the audit trail: who changed which account (by its id)
    trail = Operator(platform["base"], "anna").get("/api/v1/audit/access?operator=ada").json()
    changes = [row["what"].split(" ", 2)[2] for row in trail if row["purpose"] == "administration"]
    assert changes == ["added as link_worker", "given role operator", "disabled", "enabled"]


def test_bad_form_input_gets_a_clear_error_that_does_not_echo_it(platform):
    base, youth = platform["base"], platform["youth"]
    origin = {"Origin": base}
    with httpx.Client(base_url=base) as client:
        assert client.post("/login", data={"username": "giulia", "password": PASSWORD}, headers=origin).status_code == 303
        bad_time = client.post(f"/youths/{youth}/contacts", headers=origin, data={
            "contact_type": "meeting", "channel": "phone", "outcome": "reached", "occurred_at": "Mario Rossi"})
        assert bad_time.status_code == 422 and "not a date and time" in bad_time.text and "Mario" not in bad_time.text
        bad_choice = client.post(f"/youths/{youth}/contacts", headers=origin, data={
            "contact_type": "Mario Rossi", "channel": "phone", "outcome": "reached",
            "occurred_at": "2026-11-20T10:00"})
        assert bad_choice.status_code == 422 and "contact_type" in bad_choice.text and "Mario" not in bad_choice.text
        # a form posted from another site is refused
        assert client.post(f"/youths/{youth}/contacts", headers={"Origin": "https://evil.example"}, data={
            "contact_type": "meeting", "channel": "phone", "outcome": "reached",
            "occurred_at": "2026-11-20T10:00"}).status_code == 403
