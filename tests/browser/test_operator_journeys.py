"""The operators' main journeys in a real headless Chromium (Debian's, driven by Playwright)
against `kit up`: log in (Italian by default) to "La mia giornata", find the youth by name, case
reference or part of either, record a contact and a note and see them at once, send a referral,
receive it live, accept it and report its progress, fail to open another agency's youth without
consent, and the pages at phone width, in print, in English, and under axe (no violation)."""

import asyncio
import json
import shutil
import uuid
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe

from kit.vault import seal
from tests.e2e.test_intake_journey import AFOL, IDENTITY, LUGANO, MILANO, Operator, Partner, consent
from tests.e2e.test_thin_path import EmbeddedNatsOf, add_users, platform_env, start_platform, stop_platform, wait_healthy

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "correct horse battery"
WIDTHS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
RAW = ("kit.intake.", "⟦", "key_worker", "in_person", "ips_placement", "comune-milano-m7", "afol-milano")


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
        assert giulia.command("set_contact_cadence", youth_id=youth, every_days=14).status_code == 200
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


def log_in(browser, base: str, username: str, viewport: str = "desktop"):
    page = browser.new_context(base_url=base, viewport=WIDTHS[viewport]).new_page()
    page.goto("/login")
    assert page.get_by_role("button", name="Accedi").is_visible()  # Italian by default
    page.get_by_label("Nome utente").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_url(f"{base}/**")
    return page


def no_raw_codes(page) -> None:
    """What an Italian page shows: words, not codes, ids or untranslated keys."""
    text = page.locator("body").inner_text()
    assert not [raw for raw in RAW if raw in text], text
    assert platform_ids_absent(text)


def platform_ids_absent(text: str) -> bool:
    import re
    return re.search(r"\b[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\b|\b[0-9a-f]{8}\b", text) is None


def no_violations(page, where: str) -> None:
    for name, size in WIDTHS.items():
        page.set_viewport_size(size)
        results = Axe().run(page)
        assert results.violations_count == 0, f"{where} at {name} width:\n{results.generate_report()}"
    page.set_viewport_size(WIDTHS["desktop"])


def test_a_key_worker_starts_the_day_finds_the_youth_by_name_and_records_a_contact_and_a_note(platform, browser):
    page = log_in(browser, platform["base"], "giulia")
    youth = platform["youth"]
    assert page.get_by_role("heading", name="La mia giornata").is_visible()
    assert page.get_by_text("Collegato come giulia · Comune di Milano").is_visible()  # names, not codes
    row = page.get_by_role("row").filter(has_text="Mariangela Zambrotti")  # her own youth, by name
    assert row.get_by_text("Prossimo contatto entro il").is_visible()  # from the agreed cadence
    no_raw_codes(page)

    page.get_by_role("link", name="Giovani seguiti").click()
    for search in ("zambr", "MARIANG", "web-1", "Zambrotti Mariangela"):  # part of a name or a case reference
        page.get_by_label("Cerca").fill(search)
        page.get_by_role("button", name="Filtra").click()
        assert page.get_by_role("link", name="Mariangela Zambrotti").is_visible(), search
    page.get_by_label("Cerca").fill("")
    page.get_by_label("Regione").fill("it-25")  # any case
    page.get_by_role("button", name="Filtra").click()
    page.get_by_role("link", name="Mariangela Zambrotti").click()

    assert page.get_by_role("heading", name="Mariangela Zambrotti").is_visible()
    assert page.locator("#timeline li").filter(has_text="Contatto registrato").count() == 0
    page.get_by_label("Esito").select_option(label="Raggiunto")
    page.get_by_role("button", name="Registra il contatto").click()
    page.wait_for_url(f"**/youths/{youth}?saved=contact*")
    assert page.get_by_role("status").inner_text() == "Contatto registrato."
    assert page.locator("#timeline li").filter(has_text="Contatto registrato").count() == 1  # no reload, no wait
    assert page.locator("#timeline li").filter(has_text="giulia").count() >= 1  # who, by name

    page.get_by_label("Nuova nota").fill("Ha chiesto di essere richiamata lunedì")
    page.get_by_role("button", name="Salva la nota").click()
    page.wait_for_url("**saved=note*")
    assert page.locator(".notes li").filter(has_text="Ha chiesto di essere richiamata").is_visible()
    no_raw_codes(page)

    page.emulate_media(media="print")  # a case meeting: the page prints without forms and menus
    assert not page.get_by_role("button", name="Registra il contatto").is_visible()
    assert page.get_by_role("heading", name="Percorso", exact=True).is_visible()


def test_a_referral_is_sent_from_the_youth_page_arrives_live_and_is_followed_to_completion(platform, browser):
    luca = log_in(browser, platform["base"], "luca")
    luca.goto("/referrals")
    assert luca.get_by_text("Nessun invio ricevuto.").is_visible()

    giulia = log_in(browser, platform["base"], "giulia")
    giulia.goto(f"/youths/{platform['youth']}")
    giulia.get_by_text("Nuovo invio").click()
    giulia.get_by_label("Ente a cui inviare").select_option(label="AFOL Metropolitana - servizi per il lavoro")
    giulia.get_by_label("Servizio").select_option(label="Inserimento lavorativo (IPS)")
    giulia.get_by_label("Motivo").fill("Cerca lavoro: IPS")
    giulia.get_by_role("button", name="Invia").click()
    giulia.wait_for_url("**saved=referral*")
    assert "Invio spedito" in giulia.get_by_role("status").inner_text()

    luca.get_by_role("button", name="Accetta").wait_for(timeout=15000)  # live: server-sent events
    assert luca.get_by_role("cell", name="Comune di Milano").is_visible()
    luca.get_by_role("button", name="Rifiuta").click()  # rejecting needs a reason: refused, saying so
    assert luca.get_by_role("alert").is_visible()
    no_raw_codes(luca)
    luca.get_by_role("button", name="Accetta").click()
    luca.wait_for_url("**saved=referral_accepted*")
    assert "Invio accettato" in luca.get_by_role("status").inner_text()
    luca.get_by_label("Avanzamento").select_option(label="Completato")
    luca.get_by_role("button", name="Salva").first.click()
    luca.wait_for_url("**saved=referral_progress*")

    giulia.goto("/referrals?box=sent")
    assert giulia.get_by_role("row").filter(has_text="AFOL").get_by_text("Completato").is_visible()
    no_raw_codes(giulia)


def test_another_agency_cannot_open_the_youth_without_consent(platform, browser):
    page = log_in(browser, platform["base"], "marco")
    response = page.goto(f"/youths/{platform['youth']}")
    assert response.status == 404 and page.get_by_role("heading", name="Pagina non trovata").is_visible()
    assert "Zambrotti" not in page.content()
    assert page.goto("/youths/not-an-id").status == 404  # a bad address: the same page, no raw JSON
    assert page.get_by_role("heading", name="Pagina non trovata").is_visible()
    marco = Operator(platform["base"], "marco")
    assert marco.get(f"/api/v1/youths/{platform['youth']}").status_code == 404
    assert marco.get(f"/api/v1/youths/{platform['youth']}/timeline").status_code == 404


def test_each_role_sees_only_what_it_can_use(platform, browser):
    page = log_in(browser, platform["base"], "giulia")
    assert page.goto("/settings").status == 403  # a key worker does not manage settings
    assert page.get_by_role("heading", name="Accesso non consentito").is_visible()
    assert page.goto("/settings?lang=en").status == 403
    assert page.get_by_role("heading", name="Not allowed").is_visible()
    assert page.get_by_role("navigation").get_by_role("link", name="Settings").count() == 0

    auditor = log_in(browser, platform["base"], "anna")
    assert "/audit" in auditor.url  # an auditor starts at the audit trail
    menu = auditor.get_by_role("navigation")
    assert menu.get_by_role("link", name="Giovani seguiti").count() == 0 and menu.get_by_role("link", name="Invii").count() == 0
    assert auditor.locator("form[method=post]").filter(has_not=auditor.locator("button", has_text="Esci")).count() == 0
    assert auditor.goto(f"/youths/{platform['youth']}").status == 403


def test_on_a_phone_nothing_scrolls_sideways_and_axe_finds_nothing(platform, browser):
    page = log_in(browser, platform["base"], "giulia")
    for path in ("/", "/youths", f"/youths/{platform['youth']}", "/referrals", "/referrals?box=sent", "/alerts"):
        page.goto(path)
        no_violations(page, path)
        page.set_viewport_size(WIDTHS["phone"])
        wide = page.evaluate("() => document.documentElement.scrollWidth")
        assert wide <= WIDTHS["phone"]["width"], f"{path} is {wide} px wide at 390"
        page.set_viewport_size(WIDTHS["desktop"])
    admin = log_in(browser, platform["base"], "ada")
    admin.goto("/settings")
    no_violations(admin, "/settings")
    admin.goto("/youths/00000000-0000-4000-8000-000000000000")
    no_violations(admin, "the 404 page")
    login = browser.new_context(base_url=platform["base"]).new_page()
    login.goto("/login")
    no_violations(login, "/login")


def test_the_app_speaks_english_on_request_and_every_field_has_a_label(platform, browser):
    page = log_in(browser, platform["base"], "giulia")
    page.goto("/?lang=en")
    assert page.get_by_role("heading", name="My day").is_visible()
    page.goto(f"/youths/{platform['youth']}")
    assert page.get_by_role("heading", name="Timeline").is_visible()  # the choice is remembered
    assert "⟦" not in page.content()
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name)""")
    assert unlabelled == []


def test_settings_are_in_one_place_and_an_agency_admin_manages_the_users(platform, browser):
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
        assert bad_time.status_code == 422 and "Quando: non è una data e ora" in bad_time.text
        assert "Mario" not in bad_time.text
        bad_choice = client.post(f"/youths/{youth}/contacts", headers=origin, data={
            "contact_type": "Mario Rossi", "channel": "phone", "outcome": "reached",
            "occurred_at": "2026-11-20T10:00"})
        assert bad_choice.status_code == 422 and "Tipo di contatto: " in bad_choice.text
        assert "Mario" not in bad_choice.text
        # a form posted from another site is refused
        assert client.post(f"/youths/{youth}/contacts", headers={"Origin": "https://evil.example"}, data={
            "contact_type": "meeting", "channel": "phone", "outcome": "reached",
            "occurred_at": "2026-11-20T10:00"}).status_code == 403
