"""Run services in the test's event loop, against the real servers of the `platform` fixture."""

from __future__ import annotations

import asyncio
import contextlib
import json

import nats
from nats.js.errors import NotFoundError
from nats.js.api import ConsumerConfig, DeliverPolicy

from kit.config import Settings
from kit.service import Platform
from kit.streams import receipt_subject
from tests.conftest import PLATFORM


class Service:
    """A declared service run in the test's event loop, as `kit run <name>` runs it."""

    def __init__(self, name: str, settings: Settings, platform: Platform = PLATFORM):
        self.name, self.settings, self.platform = name, settings, platform

    async def run(self, stop: asyncio.Event) -> None:
        await self.platform.service(self.name).run()(self.settings, stop, self.platform)


def services(settings: Settings, *names: str, platform: Platform = PLATFORM) -> list[Service]:
    return [Service(name, settings, platform) for name in names]


def ingest_path(settings: Settings) -> list[Service]:
    """What a partner's message goes through up to the views: gateway, intake, views."""
    return services(settings, "gateway", "intake", "views")


@contextlib.asynccontextmanager
async def running(*services):
    """Start each service's `run(stop)` as a task; stop them all on exit."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.run(stop)) for s in services]
    try:
        yield tasks
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)


async def publish_ingest(js, agency: str, payload: bytes, subject: str | None = None):
    return await js.publish(subject or f"kit.ingest.{agency}", payload, stream="KIT_INGEST")


async def receipts(js, agency: str, expected: int, timeout: float = 15.0, until=None) -> list[dict]:
    """Read receipts for an agency from the start of the receipts stream (as an offline partner would),
    until `expected` are read, `until(found)` holds, or the timeout."""
    for _ in range(int(timeout * 10)):  # the receipts stream may be created a moment after the ingest stream
        try:
            sub = await js.subscribe(receipt_subject(agency), ordered_consumer=True,
                                     config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
            break
        except NotFoundError:
            await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"no stream holds {receipt_subject(agency)} after {timeout} s")
    found = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found) < expected and not (until and until(found)):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                msg = await sub.next_msg(timeout=remaining)
            except (asyncio.TimeoutError, nats.errors.TimeoutError):
                break
            found.append(json.loads(msg.data))
    finally:
        await sub.unsubscribe()
    return found
