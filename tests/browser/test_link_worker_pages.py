"""A link worker's day in a real headless Chromium against `kit up`, with the demo's directory of
Milan and Lugano activities imported: Milan refers a youth to social prescribing; the link worker
finds the referral, accepts it, records what matters to the youth in their words and the plan
with them, searches the directory for an activity with free places and prescribes it, records a
session and an ONS4 questionnaire twice, reviews a goal, ends the prescription; the referrer's key
worker sees how it went on the youth's path. Then: a wrong answer is refused naming the question,
a role without need to know does not see the youth's words, the pages speak English on request,
fit a phone and axe finds nothing."""

import asyncio
import json
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import httpx
import pytest

from kit.vault import seal
from tests.browser.test_operator_journeys import PASSWORD, browser, log_in, no_violations, platform_ids_absent  # noqa: F401
from tests.e2e.test_intake_journey import IDENTITY, MILANO, Operator, Partner, consent
from tests.e2e.test_thin_path import add_users, platform_env, start_platform, stop_platform, wait_healthy

pytestmark = pytest.mark.browser
RETE = "rete-quartiere-mi7"
DIRECTORY = Path(__file__).parents[2] / "deploy" / "demo" / "activities.json"
WORDS = "Da quando ho lasciato la scuola sto sempre in casa; mi piacerebbe suonare con altri."
RAW = ("kit.social_prescribing.", "⟦", "link_worker", "rete-quartiere-mi7", "loneliness", "some_progress",
       "sp.", "opt.", "field.")


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("link-worker")
    data_dir = tmp / "kit-data"
    env, base, nats_at = platform_env(data_dir)
    proc = start_platform(env)
    try:
        wait_healthy(base, proc)
        imported = subprocess.run([sys.executable, "-m", "entrypoints.cli", "directory", "import", str(DIRECTORY)],
                                  env=env, capture_output=True, text=True, timeout=60)
        assert imported.returncode == 0, imported.stderr
        add_users(env, [(MILANO, "key_worker", "giulia"), (RETE, "link_worker", "sara"), (RETE, "operator", "piero")],
                  PASSWORD)
        public_key = httpx.get(f"{base}/api/v1/ingest-key").json()["public_key"]
        youth, followed, from_intake = (asyncio.run(register(nats_at, public_key, ref))
                                        for ref in ("MI7-SP-1", "MI7-SP-2", "MI7-SP-3"))
        giulia, sara = Operator(base, "giulia"), Operator(base, "sara")
        for who in (youth, followed):
            refer(giulia, who)
        # the third, referred the way key workers refer in intake
        asked = giulia.command("request_referral", youth_id=from_intake, referral_id=str(uuid.uuid4()), to_agency=RETE,
                               service="social_prescribing", reason="Vorrebbe fare sport con altri")
        assert asked.status_code == 200, asked.text
        # the second youth is followed already, with a conversation: the pages the other tests read
        referred = giulia.eventually(f"/api/v1/social_prescribing/youths/{followed}/dataset",
                                     lambda r: r.status_code == 200 and r.json()["who"].get("referral_id"))
        sp_command(sara, "answer_referral", youth_id=followed, referral_id=referred.json()["who"]["referral_id"],
                   decision="accepted", link_worker="sara")
        sp_command(sara, "record_what_matters", youth_id=followed, conversation_id=str(uuid.uuid4()),
                   conversation_on=date.today().isoformat(), needs=["confidence"], in_their_words=WORDS)
        yield {"base": base, "youth": youth, "followed": followed, "from_intake": from_intake}
    finally:
        stop_platform(proc, data_dir)


def sp_command(operator: Operator, name: str, **body) -> None:
    answer = httpx.post(f"{operator.base}/api/v1/social_prescribing/commands/{name}", json=body,
                        headers=operator.headers, timeout=30)
    assert answer.status_code == 200, answer.text


def refer(giulia: Operator, youth: str) -> None:
    sp_command(giulia, "refer", youth_id=youth, referral_id=str(uuid.uuid4()), to_agency=RETE, birth_year=2005,
               reason="Isolamento: non esce di casa da mesi")


async def register(nats_at, public_key: str, case_ref: str) -> str:
    nc = await nats_at.connect()
    try:
        names = {"MI7-SP-2": ("Tommaso", "Brivio"), "MI7-SP-3": ("Giada", "Colombo")}
        identity = IDENTITY if case_ref not in names else IDENTITY | {
            "given_names": names[case_ref][0], "family_name": names[case_ref][1], "national_id": None,
            "national_id_scheme": None}
        receipt = await Partner(nc, MILANO).send("kit.intake.register_youth.v1", {
            "partner_case_ref": case_ref, "birth_year": 2005, "country": "IT", "region": "IT-25",
            "sealed_identity": seal(public_key, json.dumps({k: v for k, v in identity.items() if v}).encode()),
            "consents": [consent(), consent("sharing", RETE)]})
        assert receipt["status"] == "accepted", receipt
        return receipt["subject"]
    finally:
        await nc.close()


def words_only(page) -> None:
    """What an Italian page shows: words, not codes, ids or untranslated keys (but the participant
    code, shown as code on purpose: the link worker gives it to the activity's provider)."""
    text = page.evaluate("() => { const b = document.body.cloneNode(true);"
                         " b.querySelectorAll('code.participant').forEach(c => c.remove()); return b.innerText; }")
    assert not [raw for raw in RAW if raw in text], text
    assert platform_ids_absent(text.replace(" ", "\n")), text


def shown_within_seconds(page, text: str, seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not page.get_by_text(text).count():
        assert time.monotonic() < deadline, page.locator("main").inner_text()
        time.sleep(0.2)
        page.reload()


def saved(page, action: str) -> str:
    """The confirmation once the form's command is accepted (else what the page said instead)."""
    try:
        page.wait_for_url(f"**saved={action}*", timeout=15000)
    except Exception:
        raise AssertionError(page.locator("main").inner_text()) from None
    return page.get_by_role("status").inner_text()


def test_a_link_worker_takes_a_youth_from_referral_to_the_end_of_an_activity(platform, browser):
    sara = log_in(browser, platform["base"], "sara")
    sara.get_by_role("link", name="Prescrizione sociale").click()
    sara.get_by_role("link", name="Invii da accettare").click()
    row = sara.get_by_role("row").filter(has_text="Mariangela Zambrotti")  # a link worker may read identity
    assert row.get_by_text("Comune di Milano").is_visible()
    words_only(sara)
    row.get_by_role("link", name="Mariangela Zambrotti").click()
    assert sara.get_by_text("Isolamento: non esce di casa da mesi").is_visible()
    sara.get_by_role("button", name="Accetta e segui").click()
    assert "Risposta all'invio registrata" in saved(sara, "answer")

    sara.get_by_text("Registra un colloquio").click()
    sara.get_by_label("solitudine").check()
    sara.get_by_label("arte e cultura").check()
    sara.get_by_label("Che cosa conta per il giovane, con le sue parole").fill(WORDS)
    sara.get_by_role("button", name="Salva il colloquio").click()
    assert "Colloquio registrato" in saved(sara, "what_matters")
    assert sara.get_by_text(WORDS).is_visible()

    sara.get_by_text("Scrivi il piano con il giovane").click()
    sara.locator("#new-goal-text-0").fill("Suonare in un gruppo due volte al mese")
    sara.locator("#new-goal-area-0").select_option(label="arte e cultura")
    sara.get_by_role("button", name="Salva il piano").click()
    assert "Piano registrato" in saved(sara, "plan")
    assert sara.get_by_role("cell", name="Suonare in un gruppo due volte al mese", exact=True).is_visible()

    sara.get_by_role("link", name="Cerca un'attività da prescrivere").click()
    assert sara.get_by_label("Solo con posti liberi").is_checked()
    assert sara.get_by_role("row").filter(has_text="Laboratorio di musica").count() == 0  # full: not among the free
    sara.get_by_label("Città o regione").fill("Milano")
    sara.get_by_role("button", name="Cerca").click()
    walk = sara.get_by_role("row").filter(has_text="Gruppo di cammino al Parco delle Cave")
    assert walk.get_by_text("8 posti liberi su 20").is_visible(), sara.locator("main").inner_text()
    words_only(sara)
    walk.get_by_role("button", name="Prescrivi").click()
    assert "Attività prescritta" in saved(sara, "prescribe")
    prescribed = sara.get_by_role("row").filter(has_text="Gruppo di cammino al Parco delle Cave")
    assert prescribed.get_by_text("con posto").is_visible()
    sara.goto("/social-prescribing/activities?q=cammino")
    shown_within_seconds(sara, "7 posti liberi su 20")  # the place it took
    sara.go_back()

    prescribed.get_by_role("button", name="Registra l'incontro").click()
    assert "Incontro registrato" in saved(sara, "attendance")
    assert sara.get_by_text("presente a 1 incontri su 1").is_visible()

    for answers, done in (((3, 5, 4, 8), "Risposte"), ((6, 6, 7, 4), "Risposte")):
        sara.get_by_text("Compila: ").first.click()
        form = sara.locator("form[action*='/wellbeing']").first
        for field, value in zip(form.locator("input[type=number]").all(), answers):
            field.fill(str(value))
        form.get_by_role("button", name="Salva le risposte").click()
        assert "Questionario registrato" in saved(sara, "wellbeing")
    assert sara.get_by_role("cell", name="6 (migliorato)").first.is_visible()

    sara.get_by_label("Avanzamento: Suonare in un gruppo due volte al mese").select_option(label="qualche passo avanti")
    sara.get_by_role("button", name="Cambia").first.click()
    assert "Avanzamento dell'obiettivo registrato" in saved(sara, "review")

    sara.get_by_label("Esito: Gruppo di cammino al Parco delle Cave").select_option(label="Completato")
    sara.get_by_role("button", name="Concludi").click()
    assert "Prescrizione conclusa" in saved(sara, "end")
    words_only(sara)

    sara.goto("/social-prescribing")
    shown_within_seconds(sara, "0 in corso, 0 in attesa, 1 concluse")  # the list follows the service's log
    assert sara.get_by_role("row").filter(has_text="Mariangela Zambrotti").get_by_text(
        "0 in corso, 0 in attesa, 1 concluse").is_visible()

    giulia = log_in(browser, platform["base"], "giulia")  # the referrer: the outcome on the youth's path
    giulia.goto(f"/youths/{platform['youth']}")
    assert giulia.get_by_text("Prescrizione conclusa").first.is_visible()
    assert giulia.get_by_text("presente a 1 incontri su 1").first.is_visible()
    giulia.goto("/social-prescribing?box=sent")
    assert giulia.get_by_role("row").filter(has_text="Mariangela Zambrotti").get_by_text("seguito").is_visible()


def test_a_wrong_answer_is_refused_naming_the_question_and_what_was_typed_is_not_echoed(platform, browser):
    sara = log_in(browser, platform["base"], "sara")
    sara.goto(f"/social-prescribing/youths/{platform['followed']}")
    form = sara.locator("form[action*='/wellbeing']").first
    form.evaluate("f => f.querySelectorAll('input[type=number]').forEach(i => { i.removeAttribute('max'); })")
    sara.get_by_text("Compila: ").first.click()
    for field, value in zip(form.locator("input[type=number]").all(), (11, 5, 5, 5)):
        field.fill(str(value))
    form.get_by_role("button", name="Salva le risposte").click()
    alert = sara.get_by_role("alert").inner_text()
    assert "Soddisfazione per la vita: risposta fuori dalla scala della domanda" in alert, alert
    assert "11" not in alert, alert


def test_the_youth_s_words_are_shown_only_to_roles_with_need_to_know(platform, browser):
    piero = log_in(browser, platform["base"], "piero")  # an operator of the same association
    piero.goto(f"/social-prescribing/youths/{platform['followed']}")
    assert piero.get_by_role("heading", name="Che cosa conta per il giovane").is_visible()
    assert WORDS not in piero.locator("body").inner_text()
    assert piero.get_by_text("le parole del giovane sono visibili solo a chi ne ha bisogno").first.is_visible()


def test_in_english_on_a_phone_and_axe_finds_nothing(platform, browser):
    sara = log_in(browser, platform["base"], "sara", viewport="phone")
    for path in ("/social-prescribing", f"/social-prescribing/youths/{platform['followed']}",
                 f"/social-prescribing/activities?youth={platform['followed']}&free=true"):
        sara.goto(path + ("&" if "?" in path else "?") + "lang=en")
        assert sara.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
        no_violations(sara, path)
    sara.goto("/social-prescribing?lang=en")
    assert sara.get_by_role("link", name="Referrals to answer").is_visible()


def test_a_referral_made_in_intake_is_answered_on_the_social_prescribing_page_and_intake_hears_it(platform, browser):
    sara = log_in(browser, platform["base"], "sara")
    sara.goto("/referrals")
    row = sara.get_by_role("row").filter(has_text="Giada Colombo")
    assert row.get_by_role("button", name="Accetta").count() == 0  # not answered twice, in two places
    row.get_by_role("link", name="Rispondi e segui in: Prescrizione sociale").click()
    shown_within_seconds(sara, "Vorrebbe fare sport con altri")  # the referral, taken from intake
    sara.get_by_role("button", name="Accetta e segui").click()
    assert "Risposta all'invio registrata" in saved(sara, "answer")

    giulia = log_in(browser, platform["base"], "giulia")
    giulia.goto("/referrals?box=sent")
    shown_within_seconds(giulia, "Accettato")
    assert giulia.get_by_role("row").filter(has_text="Giada Colombo").get_by_text("Accettato").is_visible()
