"""A partner's developer integrates from docs/contracts.md alone: the seal and the CloudEvent are
built below with the standard library, `cryptography` and `nats-py` only (nothing of the
platform's code), the registration is accepted, and the key worker reads the identity the vault
opened. (The platform's services are started with the test harness.)"""

import base64
import json
import os
import uuid
from datetime import datetime, timezone

import httpx
import nats
import psycopg
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kit.nats_setup import prepare
from shared import accounts
from tests.conftest import PLATFORM, eventually
from tests.integration.harness import running, services

pytestmark = pytest.mark.integration
AGENCY = "comune-milano-m7"


# ---------------------------------------------------------------- the partner's code, from the docs

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def seal(public_key: str, plaintext: bytes) -> str:
    p = base64.urlsafe_b64decode(public_key + "=" * (-len(public_key) % 4))
    ephemeral = X25519PrivateKey.generate()
    e = ephemeral.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    z = ephemeral.exchange(X25519PublicKey.from_public_bytes(p))
    k = HKDF(hashes.SHA256(), 32, salt=e + p, info=b"kit-seal-v1").derive(z)
    n = os.urandom(12)
    return "v1." + b64url(e + n + AESGCM(k).encrypt(n, plaintext, b"kit-seal-v1"))


def registration(public_key: str) -> tuple[str, bytes]:
    now = datetime.now(timezone.utc).isoformat()
    identity = {"given_names": "Aurora", "family_name": "Bianchi", "birth_date": "2006-03-14", "country": "IT",
                "national_id_scheme": "IT-CF", "national_id": "BNCRRA06C54F205O"}
    event_id = f"mi7-{uuid.uuid4().hex[:12]}"
    message = {
        "specversion": "1.0", "id": event_id, "source": f"urn:kit:agency:{AGENCY}",
        "type": "kit.intake.register_youth.v1", "time": now, "datacontenttype": "application/json",
        "dataschema": "https://kit-platform.eu/contracts/schemas/kit.intake.register_youth.v1.json",
        "kitagency": AGENCY, "kitcorrelationid": event_id, "kitclassification": "pseudonymous",
        "data": {"partner_case_ref": "MI7-SEAL-1", "birth_year": 2006, "country": "IT", "region": "IT-25",
                 "sealed_identity": seal(public_key, json.dumps(identity).encode()),
                 "consents": [{"consent_id": str(uuid.uuid4()), "purpose": "case_management", "legal_basis": "consent",
                               "given_by": "youth", "notice_version": "2026-1", "given_at": now}]}}
    return event_id, json.dumps(message).encode()


# ---------------------------------------------------------------- the platform, and the check

async def test_an_identity_sealed_from_the_docs_alone_is_accepted_and_opened(platform):
    await prepare(platform.nats_url, PLATFORM)
    settings = platform.settings
    async with running(*services(settings, "gateway", "intake", "views", "api")):
        base = f"http://127.0.0.1:{settings.http_port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as api:
            async def up():
                try:
                    return (await api.get("/api/v1/ingest-key")).status_code == 200
                except httpx.HTTPError:
                    return False
            await eventually(up, timeout=30)
            public_key = (await api.get("/api/v1/ingest-key")).json()["public_key"]

            nc = await nats.connect(platform.nats_url)
            try:
                js = nc.jetstream()
                event_id, message = registration(public_key)
                sub = await js.subscribe(f"kit.receipts.{AGENCY}", ordered_consumer=True)
                await js.publish(f"kit.ingest.{AGENCY}", message, stream="KIT_INGEST")
                while (receipt := json.loads((await sub.next_msg(timeout=30)).data))["ingest_id"] != event_id:
                    pass
            finally:
                await nc.close()
            assert receipt["status"] == "accepted", receipt["reasons"]

            with psycopg.connect(platform.database_url, autocommit=True) as conn:
                accounts.add_operator(conn, agency=AGENCY, role="key_worker", username="giulia",
                                      password="correct horse battery")
            token = (await api.post("/api/v1/token", data={"username": "giulia", "password": "correct horse battery"})
                     ).json()["access_token"]
            record = (await api.get(f"/api/v1/youths/{receipt['subject']}",
                                    headers={"Authorization": f"Bearer {token}"})).json()
            assert record["identity"]["family_name"] == "Bianchi"
