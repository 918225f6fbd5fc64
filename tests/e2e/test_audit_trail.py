"""The audit trail from outside: `kit up`, a youth's path written by a partner and operators, then
an auditor replays it over HTTP, exports a signed bundle that verifies offline with only the public
key, non-auditors are refused everywhere, and after an erasure by crypto-shredding the replay shows
tombstones, nothing readable is left, and verification (old checkpoints included) still passes."""

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import psycopg
import pytest

from kit.checkpoints import SignedCheckpoint
from kit.merkle import Tree, verify_consistency
from kit.vault import seal
from services.audit import log
from tests.e2e.test_intake_journey import (IDENTITY, MILANO, SECRETS, Operator, Partner, consent, scan_files,
                                           scan_jetstream)
from tests.e2e.test_thin_path import EmbeddedNatsOf, add_users, kit, platform_env, start_platform, stop_platform, wait_healthy

pytestmark = pytest.mark.e2e


def test_an_auditor_replays_proves_and_survives_an_erasure(tmp_path: Path):
    data_dir = tmp_path / "kit-data"
    env, base, nats_at = platform_env(data_dir, KIT_CHECKPOINT_INTERVAL="1")
    db_url = f"postgresql://postgres:@/postgres?host={data_dir / 'postgres'}"
    proc = start_platform(env)
    try:
        wait_healthy(base, proc)
        add_users(env, [(MILANO, "key_worker", "giulia"), (MILANO, "auditor", "anna"), (MILANO, "agency_admin", "ada")])
        public_key = httpx.get(f"{base}/api/v1/ingest-key").json()["public_key"]
        youth = asyncio.run(register(nats_at, public_key))
        giulia, anna, ada = Operator(base, "giulia"), Operator(base, "anna"), Operator(base, "ada")
        before_assessment = datetime.now(timezone.utc)
        time.sleep(1.1)
        assert giulia.command("assess_youth", youth_id=youth, neet_status="neet", education_level="upper_secondary",
                              family_context="with_parents", lead_agency=MILANO, key_worker="giulia").status_code == 200
        assert giulia.command("log_contact", youth_id=youth, contact_id=str(uuid.uuid4()), contact_type="meeting",
                              channel="in_person", outcome="reached",
                              occurred_at=datetime.now(timezone.utc).isoformat()).status_code == 200
        giulia.eventually(f"/api/v1/youths/{youth}", lambda r: r.status_code == 200 and r.json().get("lead_agency"))

        # the whole path, reads included, in order, with who and for which agency
        steps = anna.eventually(f"/api/v1/audit/youths/{youth}/path", lambda r: r.status_code == 200 and any(
            s["type"] == "read" for s in r.json()) and any(s["type"].endswith("contact_logged.v1") for s in r.json())).json()
        types = [s["type"] for s in steps]
        assert types.index("kit.intake.outreach_contact_recorded.v1") < types.index("kit.intake.youth_registered.v1")
        assert [s["seq"] for s in steps] == sorted(s["seq"] for s in steps)
        identity = next(s for s in steps if s["type"] == "kit.intake.identity_recorded.v1")
        assert identity["data"]["ciphertext"] == "[sealed in the vault]" and identity["agency"] == MILANO
        read = next(s for s in steps if s["type"] == "read")
        assert read["role"] == "key_worker" and read["agency"] == MILANO
        contact = next(s for s in steps if s["type"] == "kit.intake.contact_logged.v1")
        assert contact["role"] == "key_worker" and contact["actor"]
        # the case as it was before the assessment, and now
        earlier = anna.get(f"/api/v1/audit/youths/{youth}/state?at={before_assessment.isoformat().replace('+', '%2B')}")
        assert earlier.status_code == 200 and earlier.json()["services"]["intake"]["lead_agency"] is None
        now = anna.get(f"/api/v1/audit/youths/{youth}/state?at={datetime.now(timezone.utc).isoformat().replace('+', '%2B')}")
        assert now.json()["services"]["intake"]["lead_agency"] == MILANO
        # another service's part of the same youth: Milan's own social prescribing takes the youth on
        referral = str(uuid.uuid4())
        for name, body in (("refer", {"referral_id": referral, "to_agency": MILANO, "birth_year": 2005,
                                      "reason": "isolamento"}),
                           ("answer_referral", {"referral_id": referral, "decision": "accepted",
                                                "link_worker": "giulia"})):
            sent = httpx.post(f"{base}/api/v1/social_prescribing/commands/{name}", json={"youth_id": youth, **body},
                              headers=giulia.headers, timeout=30)
            assert sent.status_code == 200, sent.text
        later = anna.eventually(
            f"/api/v1/audit/youths/{youth}/state?at={(datetime.now(timezone.utc) + timedelta(seconds=5)).isoformat().replace('+', '%2B')}",
            lambda r: r.status_code == 200 and "social_prescribing" in r.json()["services"], timeout=30).json()
        assert later["services"]["social_prescribing"]["referral_status"] == "accepted"
        assert later["services"]["intake"]["lead_agency"] == MILANO  # each service's state beside the other's
        # access-log queries, exportable
        who = anna.get(f"/api/v1/audit/access?youth_id={youth}").json()
        assert {r["username"] for r in who} >= {"giulia"}
        csv = anna.get("/api/v1/audit/access?operator=giulia&format=csv")
        assert csv.headers["content-type"].startswith("text/csv") and "giulia" in csv.text

        # a signed bundle verifies offline with only the public key; a modified one does not
        old = anna.eventually("/api/v1/audit/checkpoints/latest",
                              lambda r: r.status_code == 200 and r.json()["checkpoint"]["size"] >= steps[-1]["seq"]).json()
        published = asyncio.run(last_published_checkpoint(nats_at))  # what partners and witnesses keep
        assert published.verify(old["public_key"]) and published.checkpoint.size >= 1
        bundle = anna.get(f"/api/v1/audit/youths/{youth}/bundle").json()
        path = tmp_path / "bundle.json"
        path.write_text(json.dumps(bundle))
        audit_key = old["public_key"]
        offline = subprocess.run([sys.executable, "-m", "entrypoints.cli", "audit", "verify-bundle", str(path),
                                  f"--public-key={audit_key}"], capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
        assert offline.returncode == 0, offline.stdout + offline.stderr
        bundle["entries"][0]["seq"] += 1
        path.write_text(json.dumps(bundle))
        assert subprocess.run([sys.executable, "-m", "entrypoints.cli", "audit", "verify-bundle", str(path),
                               f"--public-key={audit_key}"], capture_output=True, text=True).returncode == 1

        # only auditors: every audit endpoint refuses a key worker
        audit_paths = [p for p in httpx.get(f"{base}/openapi.json").json()["paths"] if p.startswith("/api/v1/audit")]
        assert len(audit_paths) >= 6
        for template in audit_paths:
            url = template.replace("{youth_id}", youth) + "?at=2026-01-01T00:00:00Z"
            assert giulia.get(url).status_code == 403, url

        # erasure by crypto-shredding
        erased = ada.command("erase_youth", youth_id=youth, mode="erasure", legal_reason="Art. 17 request DPO-7")
        assert erased.status_code == 200, erased.text
        giulia.eventually(f"/api/v1/youths/{youth}", lambda r: r.status_code == 404)
        steps = anna.eventually(f"/api/v1/audit/youths/{youth}/path", lambda r: any(
            s["type"] == "kit.intake.youth_erased.v1" for s in r.json())).json()
        identity = next(s for s in steps if s["type"] == "kit.intake.identity_recorded.v1")
        outreach = next(s for s in steps if s["type"] == "kit.intake.outreach_contact_recorded.v1")
        assert identity["data"]["ciphertext"] == outreach["data"]["handle_ciphertext"] == "[erased]"
        last = steps[-1]["seq"]
        anna.eventually("/api/v1/audit/checkpoints/latest", lambda r: r.json()["checkpoint"]["size"] >= last)
        verified = kit(env, "audit", "verify")
        assert verified.returncode == 0 and json.loads(verified.stdout)["checkpoints"] >= 2, verified.stdout
        sources = json.loads(verified.stdout)["sources"]  # every event and every read in it, exactly once
        assert sources["events_checked"] > 0 and sources["reads_checked"] > 0 and sources["problem"] is None
        assert kit(env, "audit", "verify", "--youth", youth).returncode == 0
        with psycopg.connect(db_url) as conn:  # the old checkpoint is a prefix of today's log
            new = conn.execute("SELECT size, root FROM audit.checkpoints ORDER BY size DESC LIMIT 1").fetchone()
            tree = Tree([row.leaf_hash for row in log.rows(conn, upto=new[0])])
            old_size = old["checkpoint"]["size"]
            old_root = tree.root(old_size)
            assert verify_consistency(old_size, new[0], old_root, bytes(new[1]), tree.consistency_proof(old_size, new[0]))
            assert conn.execute("SELECT wrapped FROM intake.youth_keys WHERE youth_id = %s", (youth,)).fetchone()[0] is None
            assert conn.execute("SELECT count(*) FROM views.vault WHERE youth_id = %s", (youth,)).fetchone()[0] == 0
        messages = asyncio.run(scan_jetstream(nats_at))
        on_disk = scan_files(data_dir / "postgres") + scan_files(data_dir / "nats")
    finally:
        stop_platform(proc, data_dir)
    assert messages == [] and on_disk == []
    assert [s for s in SECRETS if s in (tmp_path / "kit-up.log").read_text()] == []


async def last_published_checkpoint(nats_at: EmbeddedNatsOf) -> SignedCheckpoint:
    nc = await nats_at.connect()
    try:
        js = nc.jetstream()
        info = await js.stream_info("KIT_AUDIT")
        return SignedCheckpoint.from_json(json.loads((await js.get_msg("KIT_AUDIT", info.state.last_seq)).data))
    finally:
        await nc.close()


async def register(nats_at: EmbeddedNatsOf, public_key: str) -> str:
    nc = await nats_at.connect()
    try:
        milano = Partner(nc, MILANO)
        outreach = await milano.send("kit.intake.record_outreach_contact.v1", {
            "handle": "Ziggy", "place_type": "youth_centre", "channel": "in_person", "outcome": "hooked",
            "territory": {"country": "IT", "municipality": "Milano", "district": "Municipio 7"},
            "occurred_at": (datetime.now(timezone.utc) - timedelta(days=3)).isoformat()})
        assert outreach["status"] == "accepted", outreach
        registered = await milano.send("kit.intake.register_youth.v1", {
            "partner_case_ref": "MI7-A-1", "birth_year": 2005, "country": "IT", "region": "IT-25",
            "sealed_identity": seal(public_key, json.dumps(IDENTITY).encode()), "engagement_handle": "Ziggy",
            "consents": [consent()]})
        assert registered["status"] == "accepted", registered
        return registered["subject"]
    finally:
        await nc.close()
