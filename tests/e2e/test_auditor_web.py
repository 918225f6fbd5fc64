"""The auditor's pages from outside: `kit up`, a youth's path written by a partner and a key worker,
then an auditor signed in to the web app (no API client) sees whether the log verifies, replays the
path in words, reads the case at a date, downloads the signed bundle that `kit audit verify-bundle`
accepts, filters the access log and downloads it as CSV; every one of these reads is itself in
the access log. A key worker gets the 403 page, an unknown youth the 404 page, in Italian and in
English; no auditor page posts anything."""

import asyncio
import re
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from shared.web.session import PAGE_SIZE
from shared.access_log import COLUMNS
from tests.e2e.test_audit_trail import register
from tests.e2e.test_intake_journey import MILANO, Operator
from tests.e2e.test_thin_path import add_users, platform_env, start_platform, stop_platform, wait_healthy

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"
MILANO_NAME = "Comune di Milano - Municipio 7, servizi giovani"


class WebSession(Operator):
    """An operator in the web app: the session cookie the login form sets (posted from the site's
    own page, as a browser does), sent with every page asked for."""

    def __init__(self, base: str, username: str):
        response = httpx.post(f"{base}/login", data={"username": username, "password": PASSWORD},
                              headers={"Origin": base})
        assert response.status_code == 303, response.text
        self.base, self.headers = base, {"Cookie": f"kit_session={response.cookies['kit_session']}"}


def seed_path(base: str, nats_at) -> str:
    """A youth's path: outreach and registration by the partner's system, then the key worker
    `giulia` assesses, records a contact and reads the record. Returns the youth's id."""
    public_key = httpx.get(f"{base}/api/v1/ingest-key").json()["public_key"]
    youth = asyncio.run(register(nats_at, public_key))
    giulia = Operator(base, "giulia")
    assert giulia.command("assess_youth", youth_id=youth, neet_status="neet", education_level="upper_secondary",
                          family_context="with_parents", lead_agency=MILANO, key_worker="giulia").status_code == 200
    assert giulia.command("log_contact", youth_id=youth, contact_id=str(uuid.uuid4()), contact_type="meeting",
                          channel="in_person", outcome="reached",
                          occurred_at=datetime.now(timezone.utc).isoformat()).status_code == 200
    giulia.eventually(f"/api/v1/youths/{youth}", lambda r: r.status_code == 200 and r.json().get("lead_agency"))
    return youth


def posting_forms(html: str) -> list[str]:
    """The actions of the forms that post, but signing out (the header every signed-in page shares)."""
    forms = re.findall(r"<form\b[^>]*>", html, flags=re.IGNORECASE)
    return [f for f in forms if re.search(r"method=[\"']?post", f, re.IGNORECASE) and 'action="/logout"' not in f]


def test_an_auditor_replays_a_path_and_downloads_the_proofs_from_the_web_app(tmp_path: Path):
    data_dir = tmp_path / "kit-data"
    env, base, nats_at = platform_env(data_dir, KIT_CHECKPOINT_INTERVAL="1")
    proc = start_platform(env)
    try:
        wait_healthy(base, proc)
        add_users(env, [(MILANO, "key_worker", "giulia"), (MILANO, "auditor", "anna")], PASSWORD)
        youth = seed_path(base, nats_at)
        anna_api = Operator(base, "anna")
        pages: list[str] = []

        # not signed in: to the login page
        assert httpx.get(f"{base}/audit").headers["location"] == "/login?lang=it"
        anna = WebSession(base, "anna")

        # the landing page: the log verifies, with its latest signed checkpoint and public key
        home = anna.eventually("/audit", lambda r: r.status_code == 200 and "Ultimo checkpoint firmato" in r.text
                          and "Nessun checkpoint firmato" not in r.text)
        assert 'id="verified"' in home.text and "Il registro è integro" in home.text
        assert "kit audit verify-bundle" in home.text and 'href="/audit/access?lang=it"' in home.text
        assert "Ultima verifica" in home.text and "audit service" in home.text  # verified by the service at its start
        pages.append(home.text)
        # verify now: the whole log re-read for the auditor, a read recorded with who asked
        again = anna.get("/audit?verify=now")
        assert again.status_code == 200 and 'id="verified"' in again.text and "· anna" in again.text
        assert {r["what"] for r in anna_api.get("/api/v1/audit/access?operator=anna").json()} >= {
            "audit verify: log", "audit: verification status"}
        pages.append(again.text)
        opened = anna.get(f"/audit/youths?youth_id={youth.upper()}")
        assert opened.status_code == 303 and opened.headers["location"] == f"/audit/youths/{youth}?lang=it"
        bad = anna.get("/audit/youths?youth_id=Mario+Rossi")
        assert bad.status_code == 303 and "Mario" not in bad.headers["location"]
        bad = anna.get(bad.headers["location"])
        assert bad.status_code == 200 and "Identificativo non valido" in bad.text

        # the path in words, the reads among them, agencies by name; reading it is itself logged
        path = anna.eventually(f"/audit/youths/{youth}", lambda r: r.status_code == 200
                          and "Consultazione della scheda" in r.text)
        for words in ("Contatto di prossimità registrato", "Giovane registrato", "Dati anagrafici registrati",
                      MILANO_NAME, "giulia", "Operatore di riferimento", "Percorso del giovane"):
            assert words in path.text, words
        assert "kit.intake." not in path.text and "youth_registered" not in path.text
        pages.append(path.text)
        english = anna.get(f"/audit/youths/{youth}?lang=en")
        assert "Youth registered" in english.text and "Record read" in english.text and 'lang="en"' in english.text
        logged = anna_api.get(f"/api/v1/audit/access?youth_id={youth}&operator=anna").json()
        assert {(r["purpose"], r["what"]) for r in logged} >= {("audit", "audit replay: path")}

        # the case at a date: today (as typed, dd/mm/yyyy, or as a date input sends it), and before it began
        today = datetime.now(ZoneInfo("Europe/Rome")).date()
        state = anna.get(f"/audit/youths/{youth}/state?at={today.strftime('%d/%m/%Y')}")
        assert state.status_code == 200, state.text
        for words in ("Presa in carico e percorso", "Ente capofila", MILANO_NAME, "Gestione del caso", "Consensi"):
            assert words in state.text, words
        pages.append(state.text)
        assert anna.get(f"/audit/youths/{youth}/state?at={today.isoformat()}").status_code == 200
        before = anna.get(f"/audit/youths/{youth}/state?at=01/01/2020")
        assert before.status_code == 404 and "Nessuno stato al 01/01/2020" in before.text
        wrong = anna.get(f"/audit/youths/{youth}/state?at=31/02/2026")
        assert wrong.status_code == 422 and "Data non valida" in wrong.text
        pages += [before.text, wrong.text]
        assert any(r["what"].startswith("audit replay: state at") for r in anna_api.get(
            f"/api/v1/audit/access?youth_id={youth}&operator=anna").json())

        # the signed bundle, a file that verifies offline with the public key alone
        steps = anna_api.get(f"/api/v1/audit/youths/{youth}/path").json()
        anna_api.eventually("/api/v1/audit/checkpoints/latest", lambda r: r.status_code == 200
                            and r.json()["checkpoint"]["size"] >= steps[-1]["seq"])
        bundle = anna.get(f"/audit/youths/{youth}/bundle")
        assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("application/json")
        assert bundle.headers["content-disposition"] == f'attachment; filename="kit-audit-bundle-{youth}.json"'
        assert len(bundle.json()["entries"]) >= 5
        file = tmp_path / "bundle.json"
        file.write_bytes(bundle.content)
        log_key = anna_api.get("/api/v1/audit/checkpoints/latest").json()["public_key"]
        assert log_key in home.text
        offline = subprocess.run([sys.executable, "-m", "entrypoints.cli", "audit", "verify-bundle", str(file),
                                  f"--public-key={log_key}"], capture_output=True, text=True, timeout=60)
        assert offline.returncode == 0, offline.stdout + offline.stderr

        # the access log: filters, pages, CSV
        for _ in range(PAGE_SIZE + 5):  # enough of anna's reads for a second page
            assert anna_api.get("/api/v1/audit/checkpoints/latest").status_code == 200
        mine = anna.get(f"/audit/access?operator=anna&purpose=audit&agency={MILANO}")
        assert mine.status_code == 200 and re.search(rf"1–{PAGE_SIZE} di \d+", mine.text), mine.text
        assert "Successivi" in mine.text and "page=2" in mine.text and "giulia" not in mine.text
        second = anna.get("/audit/access?operator=anna&purpose=audit&page=2")
        assert re.search(rf"{PAGE_SIZE + 1}–\d+ di \d+", second.text) and "Precedenti" in second.text
        pages += [mine.text, second.text]
        who_read = anna.get(f"/audit/access?youth={youth}&purpose=case_management")
        assert "giulia" in who_read.text and "gestione del caso" in who_read.text and "anna" not in who_read.text.split(
            "<tbody>")[1]
        since = anna.get("/audit/access?since=01/01/2020&until=31/12/2020")
        assert "Nessuna consultazione con questi filtri." in since.text
        refused = anna.get("/audit/access?youth=Mario+Rossi&since=ieri")
        assert refused.status_code == 422 and "Identificativo non valido" in refused.text and "Data non valida" in refused.text
        assert "Mario" not in refused.text and "ieri" not in refused.text  # what was typed wrong is not echoed
        pages.append(refused.text)
        csv = anna.get(f"/audit/access?youth={youth}&format=csv")
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert csv.headers["content-disposition"] == 'attachment; filename="kit-access-log.csv"'
        lines = csv.text.splitlines()
        assert lines[0] == ",".join(COLUMNS) and len(lines) >= 3 and any(",giulia," in line for line in lines)
        assert all(youth in line for line in lines[1:])

        # no page of the auditor posts anything (but signing out), none misses a word
        assert [posting_forms(p) for p in pages] == [[] for _ in pages]
        assert [p for p in pages if "⟦" in p] == []

        # an unknown youth, a malformed id: the 404 page
        for missing in (f"/audit/youths/{uuid.uuid4()}", "/audit/youths/not-an-id", f"/audit/youths/{uuid.uuid4()}/bundle"):
            response = anna.get(missing)
            assert response.status_code == 404 and "Pagina non trovata" in response.text, missing

        # a key worker: the 403 page, in Italian, and in English on request
        keyworker = WebSession(base, "giulia")
        for path in ("/audit", "/audit/access", f"/audit/youths/{youth}", f"/audit/youths/{youth}/state",
                     f"/audit/youths/{youth}/bundle", "/audit/access?format=csv"):
            response = keyworker.get(path)
            assert response.status_code == 403 and "Accesso non consentito" in response.text, path
            assert "kit-audit-bundle" not in response.headers.get("content-disposition", "")
        english = keyworker.get("/audit?lang=en")
        assert english.status_code == 403 and "Not allowed" in english.text and 'lang="en"' in english.text
        assert not any(r["operator_id"] and r["username"] == "giulia" and r["purpose"] == "audit"
                       for r in anna_api.get("/api/v1/audit/access?operator=giulia").json())
    finally:
        stop_platform(proc, data_dir)
