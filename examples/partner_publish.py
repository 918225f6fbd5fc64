"""What a partner agency's system does: publish the checked-in example CloudEvent with plain nats-py
and read the platform's receipt. Run it while `kit up` is running.

    .venv/bin/python examples/partner_publish.py [path/to/cloudevent.json]
"""

import asyncio
import json
import os
import sys
from pathlib import Path

import nats

EXAMPLE = Path(__file__).resolve().parent.parent / "contracts" / "examples" / "kit.intake.register_youth.v1.json"


async def main(path: Path) -> None:
    message = path.read_bytes()
    agency = json.loads(message)["kitagency"]
    nc = await nats.connect(os.environ.get("KIT_NATS_URL", f"nats://127.0.0.1:{os.environ.get('KIT_NATS_PORT', '4222')}"))
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
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else EXAMPLE))
