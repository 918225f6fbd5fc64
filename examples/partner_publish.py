"""What a partner agency's system does: register a youth with plain nats-py, identity sealed for
the platform's vault, and read the platform's receipt. Run it while `kit up` is running, as the
agency's NATS user (on the embedded server, `kit nats url --user agency-comune-milano-m7` prints
its URL with its password):

    KIT_PARTNER_NATS_URL=$(.venv/bin/kit nats url --user agency-comune-milano-m7) \
        .venv/bin/python examples/partner_publish.py [path/to/cloudevent.json]

The user may read replies only under its own prefix, `_INBOX_agency-<agency>`: connect with it.

The identity (name, birth date, codice fiscale) never travels in clear: it is sealed with the
platform's public key (`GET /api/v1/ingest-key`, or `KIT_INGEST_PUBLIC_KEY`) by `kit.vault.seal`,
the small helper partners get with the platform.
"""

import asyncio
import json
import os
import sys
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

import nats

from kit.vault import seal

AGENCY = "comune-milano-m7"


def platform_public_key() -> str:
    if os.environ.get("KIT_INGEST_PUBLIC_KEY"):
        return os.environ["KIT_INGEST_PUBLIC_KEY"]
    url = f"http://127.0.0.1:{os.environ.get('KIT_HTTP_PORT', '8000')}/api/v1/ingest-key"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["public_key"]


def registration() -> bytes:
    now = datetime.now(timezone.utc).isoformat()
    identity = {"given_names": "Mario", "family_name": "Rossi", "birth_date": "2005-12-10", "sex": "male",
                "municipality": "Milano", "region": "IT-25", "country": "IT",
                "national_id_scheme": "IT-CF", "national_id": "RSSMRA05T10F205Z"}
    return json.dumps({
        "specversion": "1.0", "id": "mi7-ingest-0001", "source": f"urn:kit:agency:{AGENCY}",
        "type": "kit.intake.register_youth.v1", "time": now, "datacontenttype": "application/json",
        "dataschema": "https://kit-platform.eu/contracts/schemas/kit.intake.register_youth.v1.json",
        "kitagency": AGENCY, "kitcorrelationid": "mi7-ingest-0001", "kitclassification": "pseudonymous",
        "data": {
            "partner_case_ref": "MI7-2026-0042", "birth_year": 2005, "country": "IT", "region": "IT-25",
            "sealed_identity": seal(platform_public_key(), json.dumps(identity).encode()),
            "consents": [{"consent_id": str(uuid.uuid4()), "purpose": "case_management", "legal_basis": "consent",
                          "given_by": "youth", "notice_version": "2026-1", "given_at": now}],
        },
    }).encode()


async def main(message: bytes) -> None:
    agency = json.loads(message)["kitagency"]
    if not os.environ.get("KIT_PARTNER_NATS_URL"):
        sys.exit("KIT_PARTNER_NATS_URL: the URL of the agency's NATS user, with its password "
                 "(`kit nats url --user agency-comune-milano-m7` on the platform's machine)")
    nc = await nats.connect(os.environ["KIT_PARTNER_NATS_URL"], inbox_prefix=f"_INBOX_agency-{agency}")
    js = nc.jetstream()
    ack = await js.publish(f"kit.ingest.{agency}", message, stream="KIT_INGEST")
    print(f"published: stream {ack.stream}, sequence {ack.seq}")

    # Receipts are kept on kit.receipts.<agency>; a durable consumer remembers what was read.
    name = f"receipts-{agency}"
    await js.add_consumer("KIT_RECEIPTS", nats.js.api.ConsumerConfig(
        name=name, durable_name=name, filter_subject=f"kit.receipts.{agency}"))
    receipts = await js.pull_subscribe_bind(durable=name, stream="KIT_RECEIPTS")
    ingest_id = json.loads(message)["id"]
    while True:
        for msg in await receipts.fetch(10, timeout=30):
            await msg.ack()
            receipt = json.loads(msg.data)
            if receipt["ingest_id"] == ingest_id:
                print(json.dumps(receipt, indent=2))
                await nc.close()
                return


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]).read_bytes() if len(sys.argv) > 1 else registration()))
