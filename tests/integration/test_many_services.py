"""A second service that handles commands, declared in this file only, beside intake: nothing of
intake or of the plumbing changes for it. Both consumers read the commands stream on disjoint
subjects; the gateway routes each partner's command to the service that owns its type, answers a
type no service owns, and refuses an agency that claims to be another; every receipt goes to the
agency that sent the message, where its own consumer reads it."""

import json
import uuid
from datetime import datetime

import pytest
from pydantic import Field

from events.base import Message
from events.builders import envelope, register_youth
from events.envelope import CloudEvent
from kit.command_service import CommandService
from kit.config import Settings, database_url
from kit.db import ensure_schema, eventsourcing_env
from kit.runtime import Accepted, Rejected, Runtime, Sender, Work
from kit.service import Platform, Service
from kit.store import History, Store
from kit.streams import COMMANDS_STREAM, events_stream
from events.receipts import Reason
from shared.agencies import load_register
from shared.roles import ROLES
from tests.conftest import PLATFORM, eventually
from tests.integration.harness import consumers_ready, publish_ingest, receipts, running, services, stream_events

pytestmark = pytest.mark.integration
MILANO, LUGANO = "comune-milano-m7", "ngo-lugano"


class PinNote(Message):
    """Pin a note on the agency's board."""

    kind = "command"
    context = "pinboard"
    type_name = "kit.pinboard.pin_note.v1"
    summary = "Pin a note."
    note_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    text: str = Field(min_length=1, max_length=200)


class NotePinned(Message):
    kind = "event"
    context = "pinboard"
    type_name = "kit.pinboard.note_pinned.v1"
    summary = "A note was pinned."
    note_id: str
    text: str
    agency: str


class Note(History):
    TOPIC = "test.pinboard:Note"
    messages = {m.type_name: m for m in (NotePinned,)}

    class Created(History.Created):
        TOPIC = "test.pinboard:Note.Created"

    class Started(History.Started):
        TOPIC = "test.pinboard:Note.Started.v1"

    class Recorded(History.Recorded):
        TOPIC = "test.pinboard:Note.Recorded.v1"

    def _fold(self, message, at: datetime) -> None:
        self.state = message


def decide(existing: Note | None, command: PinNote, sender: Sender) -> list[Message] | list[Reason]:
    """Pure: a note is pinned once."""
    if existing is not None:
        return [Reason(field="data.note_id", code="duplicate", message="this note is already pinned")]
    return [NotePinned(note_id=command.note_id, text=command.text, agency=sender.agency)]


def handle(work: Work, event: CloudEvent, command: PinNote, sender: Sender, now: datetime) -> Accepted | Rejected:
    note_id = uuid.UUID(command.note_id)
    decided = decide(work.get(note_id), command, sender)
    if decided and isinstance(decided[0], Reason):
        return Rejected(decided)  # type: ignore[arg-type]
    return Accepted(work.start(Note, note_id, decided, sender), command.note_id)


async def main(settings: Settings, stop, platform: Platform) -> None:
    url = database_url(settings)
    ensure_schema(url, "pinboard")
    store = Store("pinboard", env=eventsourcing_env(url, "pinboard"))
    register = load_register()
    runtime = Runtime(store=store, commands={PinNote.type_name: PinNote}, handler=handle,
                      is_known_agency=lambda code: register.agency(code) is not None, roles=ROLES)
    await CommandService(settings, platform, platform.service("pinboard"), store, runtime).run(stop)


PINBOARD = Service(name="pinboard", summary="notes on a board", main=f"{__name__}:main",
                   messages=(PinNote, NotePinned), schema="pinboard")
WITH_PINBOARD = Platform((*PLATFORM.services, PINBOARD))


def pin(agency: str, text: str, id: str, **ext) -> bytes:
    return envelope(PinNote(note_id=str(uuid.uuid4()), text=text), agency=agency, id=id, **ext).to_json_bytes()


async def test_two_services_take_their_own_commands_and_every_receipt_reaches_its_sender(platform, nc):
    js = nc.jetstream()
    async with running(*services(platform.settings, "gateway", "intake", "pinboard", platform=WITH_PINBOARD)):
        await eventually(lambda: consumers_ready(js, {"intake-commands", "pinboard-commands"}), timeout=20)
        await publish_ingest(js, MILANO, pin(MILANO, "Open day on Friday", id="pin-1"))
        await publish_ingest(js, MILANO, register_youth(MILANO, id="reg-1").to_json_bytes())
        nobodys = json.loads(pin(MILANO, "x", id="nobody-1"))
        nobodys["type"] = "kit.nobody.do_something.v1"
        await publish_ingest(js, MILANO, json.dumps(nobodys).encode())
        # Milano's system publishes a message that claims to come from Lugano
        await publish_ingest(js, MILANO, pin(LUGANO, "Not ours to pin", id="claims-lugano"))
        got = {r["ingest_id"]: r for r in await receipts(js, MILANO, 4)}
        events = await stream_events(js, events_stream("pinboard"))

    assert got["pin-1"]["status"] == "accepted" and got["reg-1"]["status"] == "accepted"
    assert [(r["field"], r["code"]) for r in got["nobody-1"]["reasons"]] == [("type", "unknown_type")]
    assert "kit.pinboard.pin_note.v1" in got["nobody-1"]["reasons"][0]["message"]  # what it may send instead
    assert [(r["field"], r["code"]) for r in got["claims-lugano"]["reasons"]] == [("kitagency", "agency_mismatch")]
    assert await receipts(js, LUGANO, 1, timeout=1) == []  # nothing went to the agency it claimed to be
    assert [(e.type, e.kitagency, e.data["text"]) for e in events] == [
        ("kit.pinboard.note_pinned.v1", MILANO, "Open day on Friday")]
    consumers = {c.name: c.config.filter_subject for c in await js.consumers_info(COMMANDS_STREAM)}
    assert consumers == {"intake-commands": "kit.commands.intake.*", "pinboard-commands": "kit.commands.pinboard.*"}


def test_the_http_service_gets_the_new_services_command_routes_from_its_declaration():
    from services.api.commands import command_router

    router = command_router(PINBOARD, gateway=None, reads=None)
    assert [route.path for route in router.routes] == ["/api/v1/pinboard/commands/pin_note"]
