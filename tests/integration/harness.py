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
from events.envelope import CloudEvent
from kit.streams import COMMANDS_STREAM, receipt_subject
from tests.conftest import PLATFORM, eventually


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


async def consumers_ready(js, names: set[str]) -> bool:
    """Whether these services' command consumers exist (their services are up)."""
    try:
        return {c.name for c in await js.consumers_info(COMMANDS_STREAM)} >= names
    except Exception:  # noqa: BLE001 - the stream is not there yet
        return False


async def stream_events(js, stream: str, timeout: float = 20.0) -> list[CloudEvent]:
    """Every integration event of a stream, in order, once it has any."""
    async def some() -> bool:
        try:
            return (await js.stream_info(stream)).state.messages > 0
        except Exception:  # noqa: BLE001 - not created yet
            return False
    await eventually(some, timeout=timeout)
    info = await js.stream_info(stream)
    return [CloudEvent.model_validate_json((await js.get_msg(stream, seq)).data)
            for seq in range(1, info.state.last_seq + 1)]


async def receipt_of(js, agency: str, ingest_id: str, timeout: float = 30.0) -> dict:
    """The receipt of one message the agency sent, among all it has."""
    found = await receipts(js, agency, 10_000, timeout=timeout,
                           until=lambda got: any(r["ingest_id"] == ingest_id for r in got))
    matching = [r for r in found if r["ingest_id"] == ingest_id]
    assert matching, f"no receipt for {ingest_id} ({agency}) within {timeout}s"
    return matching[-1]
