"""A youth's path through intake, from outside only: `kit up`, partners publishing CloudEvents with
raw nats-py (identity sealed with the platform's public key), operators over HTTP. Then a scan of
every JetStream message, subject and header, the logs and the files NATS and PostgreSQL left on
disk: no name, national id, birth date or contact anywhere in clear."""

import asyncio
import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import nats
import pytest

from kit.vault import seal
from tests.e2e.test_thin_path import (EmbeddedNatsOf, add_users, login, platform_env, start_platform, stop_platform,
                                     wait_healthy)

pytestmark = pytest.mark.e2e

MILANO, AFOL, LUGANO = "comune-milano-m7", "afol-milano", "ngo-lugano"
CF = "RSSMRA05T10F205Z"
IDENTITY = {"given_names": "Mariangela", "family_name": "Zambrotti", "birth_date": "2005-12-10", "sex": "female",
            "phone": "+39 347 555 0199", "email": "mariangela.zambrotti@example.org",
            "national_id_scheme": "IT-CF", "national_id": CF}
SECRETS = ["Mariangela", "Zambrotti", CF, "VRDLCU04M15L682Q", "2005-12-10", "347 555 0199", "mariangela.zambrotti",
           "756.9217.0769.85", "7569217076985", "Ziggy"]  # Ziggy: the outreach nickname


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def cloudevent(agency: str, type_name: str, data: dict) -> dict:
    event_id = str(uuid.uuid4())
    return {"specversion": "1.0", "id": event_id, "source": f"urn:kit:agency:{agency}", "type": type_name,
            "time": now(), "dataschema": f"https://kit-platform.eu/contracts/schemas/{type_name}.json",
            "kitagency": agency, "kitcorrelationid": event_id, "kitclassification": "pseudonymous", "data": data}


def consent(purpose: str = "case_management", recipient: str | None = None) -> dict:
    return {"consent_id": str(uuid.uuid4()), "purpose": purpose, "recipient": recipient, "legal_basis": "consent",
            "given_by": "youth", "notice_version": "2026-1", "given_at": now()}


class Partner:
    """A partner agency's system: plain nats-py, its own subjects."""

    def __init__(self, nc, agency: str):
        self.js, self.agency = nc.jetstream(), agency

    async def send(self, type_name: str, data: dict) -> dict:
        message = cloudevent(self.agency, type_name, data)
        sub = await self.js.subscribe(f"kit.receipts.{self.agency}", ordered_consumer=True)
        try:
            await self.js.publish(f"kit.ingest.{self.agency}", json.dumps(message).encode(), stream="KIT_INGEST")
            while True:
                receipt = json.loads((await sub.next_msg(timeout=20)).data)
                if receipt["ingest_id"] == message["id"]:
                    return receipt
        finally:
            await sub.unsubscribe()


class Operator:
    def __init__(self, base: str, username: str):
        self.base, self.headers = base, {"Authorization": f"Bearer {login(base, username)}"}

    def command(self, name: str, **body) -> httpx.Response:
        return httpx.post(f"{self.base}/api/v1/intake/commands/{name}", json=body, headers=self.headers, timeout=30)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", headers=self.headers, timeout=30)

    def eventually(self, path: str, predicate, timeout: float = 15.0) -> httpx.Response:
        deadline = time.monotonic() + timeout
        while True:
            response = self.get(path)
            if predicate(response):
                return response
            if time.monotonic() > deadline:
                raise AssertionError(f"{path}: {response.status_code} {response.text}")
            time.sleep(0.1)


def codes(response: httpx.Response) -> list[tuple[str, str]]:
    return [(r["field"], r["code"]) for r in response.json()["reasons"]]


def test_a_youth_path_from_first_contact_to_referral_leaves_no_identity_in_clear(tmp_path: Path):
    data_dir = tmp_path / "kit-data"
    env, base, nats_at = platform_env(data_dir, KIT_ALERT_INTERVAL="1")
    proc = start_platform(env)
    try:
        wait_healthy(base, proc)
        add_users(env, [(MILANO, "key_worker", "giulia"), (MILANO, "operator", "piero"),
                        (AFOL, "employment_specialist", "luca"), (MILANO, "auditor", "anna")])
        public_key = httpx.get(f"{base}/api/v1/ingest-key").json()["public_key"]
        asyncio.run(journey(base, nats_at, public_key))
        on_disk = scan_files(data_dir / "nats") + scan_files(data_dir / "postgres")
        messages = asyncio.run(scan_jetstream(nats_at))
    finally:
        stop_platform(proc, data_dir)
    control = tmp_path / "control"
    control.mkdir()
    (control / "planted").write_bytes(b"..." + CF.encode() + b"...")
    assert scan_files(control) == [f"planted: {CF}"]  # the scanner does find what is there
    assert on_disk == [], f"identity in clear on disk: {on_disk}"
    assert messages == [], f"identity in JetStream: {messages}"
    assert [s for s in SECRETS if s in (tmp_path / "kit-up.log").read_text()] == []


async def journey(base: str, nats_at: EmbeddedNatsOf, public_key: str) -> None:
    nc = await nats_at.connect()
    milano, lugano = Partner(nc, MILANO), Partner(nc, LUGANO)
    try:
        # engaged anonymously: two outreach contacts under a nickname
        street = {"handle": "Ziggy", "place_type": "street", "channel": "in_person",
                  "territory": {"country": "IT", "municipality": "Milano", "district": "Municipio 7"}}
        first = await milano.send("kit.intake.record_outreach_contact.v1",
                                  {**street, "outcome": "first_contact", "occurred_at": (datetime.now(timezone.utc) - timedelta(days=20)).isoformat()})
        again = await milano.send("kit.intake.record_outreach_contact.v1",
                                  {**street, "outcome": "hooked", "occurred_at": now()})
        assert first["status"] == again["status"] == "accepted" and first["subject"] == again["subject"]

        # registered with consent, identity sealed, the engagement history linked
        registered = await milano.send("kit.intake.register_youth.v1", {
            "partner_case_ref": "MI7-J-1", "birth_year": 2005, "country": "IT", "region": "IT-25",
            "sealed_identity": seal(public_key, json.dumps(IDENTITY).encode()), "engagement_handle": "Ziggy",
            "consents": [consent()]})
        assert registered["status"] == "accepted", registered
        youth = registered["subject"]

        # an invalid codice fiscale is refused, naming the field but not the value
        wrong = {**IDENTITY, "national_id": CF[:-1] + ("A" if CF[-1] != "A" else "B")}
        refused = await milano.send("kit.intake.register_youth.v1", {
            "partner_case_ref": "MI7-J-2", "birth_year": 2005, "country": "IT", "region": "IT-25",
            "sealed_identity": seal(public_key, json.dumps(wrong).encode()), "consents": [consent()]})
        assert refused["status"] == "rejected"
        assert [(r["field"], r["code"]) for r in refused["reasons"]] == [
            ("data.sealed_identity.national_id", "invalid_checksum")]
        assert wrong["national_id"] not in json.dumps(refused)

        # an AHV number from an agency not authorised to use it is refused
        ahv = {**IDENTITY, "national_id_scheme": "CH-AHV", "national_id": "756.9217.0769.85"}
        refused = await lugano.send("kit.intake.register_youth.v1", {
            "partner_case_ref": "LUG-J-1", "birth_year": 2005, "country": "CH", "region": "CH-TI",
            "sealed_identity": seal(public_key, json.dumps(ahv).encode()), "consents": [consent()]})
        assert [r["code"] for r in refused["reasons"]] == ["ahv_not_authorised"]

        # a second agency registering the same codice fiscale gets the existing youth
        matched = await lugano.send("kit.intake.register_youth.v1", {
            "partner_case_ref": "LUG-J-2", "birth_year": 2005, "country": "IT", "region": "IT-25",
            "sealed_identity": seal(public_key, json.dumps(IDENTITY).encode()), "consents": [consent()]})
        assert matched["status"] == "accepted" and matched["subject"] == youth
        assert [n["code"] for n in matched["notices"]] == ["matched_existing_youth"]

        giulia, piero, luca = Operator(base, "giulia"), Operator(base, "piero"), Operator(base, "luca")
        # an operator registers over HTTP: the API seals the identity before it enters NATS
        other = {**IDENTITY, "national_id": "VRDLCU04M15L682Q", "given_names": "Mariangela"}
        by_http = piero.command("register_youth", partner_case_ref="MI7-J-3", birth_year=2004, country="IT",
                                region="IT-25", identity=other, consents=[consent()])
        assert by_http.status_code == 200 and by_http.json()["status"] == "accepted", by_http.text
        bad = piero.command("register_youth", partner_case_ref="MI7-J-4", birth_year=2004, country="IT",
                            region="IT-25", identity={**other, "national_id": "VRDLCU04M15L682A"}, consents=[consent()])
        assert bad.status_code == 422 and codes(bad) == [("identity.national_id", "invalid_checksum")]
        # assessed, given a Project of Life, contacts logged: operators over HTTP
        assessed = giulia.command("assess_youth", youth_id=youth, neet_status="neet", neet_since="2025-06-01",
                                  education_level="lower_secondary", family_context="single_parent",
                                  vulnerabilities={"psycho_social": True}, aspirations=["work"],
                                  lead_agency=MILANO, key_worker="giulia")
        assert assessed.status_code == 200, assessed.text
        goal = {"goal_id": str(uuid.uuid4()), "description": "Trovare un tirocinio", "category": "employment",
                "lifecycle_status": "active"}
        review = (datetime.now(timezone.utc) + timedelta(days=60)).date().isoformat()
        project = giulia.command("agree_project_of_life", youth_id=youth, based_on_version=0, goals=[goal],
                                 next_review_due=review, agreed_by_youth=True)
        assert project.status_code == 200, project.text
        stale = giulia.command("agree_project_of_life", youth_id=youth, based_on_version=0, goals=[goal],
                               next_review_due=review, agreed_by_youth=True)
        assert stale.status_code == 422 and codes(stale) == [("based_on_version", "stale_version")]
        contact = giulia.command("log_contact", youth_id=youth, contact_id=str(uuid.uuid4()), contact_type="meeting",
                                 channel="in_person", outcome="reached",
                                 occurred_at=(datetime.now(timezone.utc) - timedelta(days=3)).isoformat())
        assert contact.status_code == 200, contact.text
        cadence = giulia.command("set_contact_cadence", youth_id=youth, every_days=1, lost_after_days=2)
        assert cadence.status_code == 200, cadence.text

        # the key worker sees identity and vulnerabilities; a plain operator sees neither
        record = giulia.eventually(f"/api/v1/youths/{youth}", lambda r: r.status_code == 200
                                   and r.json().get("project_version") == 1).json()
        assert record["identity"]["family_name"] == "Zambrotti" and record["vulnerabilities"]["psycho_social"]
        assert record["first_contact_at"] and sorted(record["agencies"]) == [MILANO, LUGANO]
        anna = Operator(base, "anna")  # an auditor reads the audit trail, not case records, and changes nothing
        assert anna.get(f"/api/v1/youths/{youth}").status_code == 403
        assert anna.command("log_contact", youth_id=youth, contact_id=str(uuid.uuid4()), contact_type="meeting",
                            channel="phone", outcome="reached", occurred_at=now()).status_code == 403
        assert httpx.post(f"{base}/api/v1/intake/commands/log_contact", json={}).status_code == 401
        plain = piero.get(f"/api/v1/youths/{youth}").json()
        assert "identity" not in plain and "vulnerabilities" not in plain
        assert set(plain["withheld"]) == {"identity", "vulnerabilities"}
        # 3 days without contact > 2: the scheduler raises the lost-contact alert
        giulia.eventually(f"/api/v1/youths/{youth}", lambda r: r.json().get("lost_contact") is True, timeout=30)

        # a referral to an agency without consent to share is refused
        referral = {"youth_id": youth, "referral_id": str(uuid.uuid4()), "to_agency": AFOL,
                    "service": "ips_placement", "reason": "Vuole lavorare: IPS"}
        refused = giulia.command("request_referral", **referral)
        assert refused.status_code == 422 and codes(refused) == [("to_agency", "no_consent_to_share")]
        assert luca.get(f"/api/v1/youths/{youth}").status_code == 404

        share = consent("sharing", AFOL)
        assert giulia.command("record_consent", youth_id=youth, consent=share).status_code == 200
        assert giulia.command("request_referral", **referral).status_code == 200
        luca.eventually(f"/api/v1/youths/{youth}", lambda r: r.status_code == 200)
        inbox = luca.eventually("/api/v1/referrals?direction=inbox", lambda r: len(r.json()) == 1).json()
        assert inbox[0]["status"] == "requested" and inbox[0]["youth_id"] == youth
        accepted = luca.command("respond_to_referral", youth_id=youth, referral_id=referral["referral_id"],
                                decision="accepted")
        assert accepted.status_code == 200, accepted.text
        sent = giulia.eventually("/api/v1/referrals?direction=sent",
                                 lambda r: [x["status"] for x in r.json()] == ["accepted"])  # closed loop
        assert sent.json()[0]["to_agency"] == AFOL
        access = giulia.get(f"/api/v1/youths/{youth}/access?purpose=sharing").json()
        assert access["allowed"] is False  # sharing was given *to* AFOL, not to Milano
        assert giulia.get(f"/api/v1/youths/{youth}/access?purpose=case_management").json()["allowed"] is True

        # after withdrawal the receiving agency no longer sees the youth
        withdrawn = giulia.command("withdraw_consent", youth_id=youth, consent_id=share["consent_id"])
        assert withdrawn.status_code == 200, withdrawn.text
        luca.eventually(f"/api/v1/youths/{youth}", lambda r: r.status_code == 404)
        assert luca.get("/api/v1/youths").json()["total"] == 0
        assert luca.get("/api/v1/referrals?direction=inbox").json() == []
        # every youth-level endpoint refuses the agency that may no longer see the youth: never data
        paths = [p for p, ops in httpx.get(f"{base}/openapi.json").json()["paths"].items()
                 if "{youth_id}" in p and "get" in ops]
        assert len(paths) >= 7
        for template in paths:
            response = luca.get(template.replace("{youth_id}", youth) + "?at=2026-11-01T00:00:00Z")
            assert response.status_code in (403, 404) and "Zambrotti" not in response.text, template
        late = luca.command("update_referral", youth_id=youth, referral_id=referral["referral_id"], status="in-progress")
        assert late.status_code == 422 and codes(late) == [("youth_id", "no_consent")]
    finally:
        await nc.close()


async def scan_jetstream(nats_at: EmbeddedNatsOf) -> list[str]:
    """Every message kept in every stream: subject, headers and body."""
    nc = await nats_at.connect()
    found = []
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.state.messages == 0:
                continue
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                try:
                    msg = await js.get_msg(info.config.name, seq)
                except nats.js.errors.NotFoundError:
                    continue
                text = msg.subject + json.dumps(msg.headers or {}) + (msg.data or b"").decode(errors="replace")
                found += [f"{info.config.name}#{seq}: {s}" for s in SECRETS if s in text]
    finally:
        await nc.close()
    return found


def scan_files(root: Path) -> list[str]:
    found = []
    needles = [s.encode() for s in SECRETS]
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                content = path.read_bytes()
            except OSError:
                continue
            found += [f"{path.relative_to(root)}: {n.decode()}" for n in needles if n in content]
    return found
