"""Finding youths by name or nickname through the keyed blind index, and case notes kept only
encrypted, on real PostgreSQL (and, end to end, real NATS): commands go through intake's runtime,
the index is intake's own log view, the notes' view is fed from the integration stream."""

import json
import uuid
from datetime import timedelta

import psycopg
import pytest
from nats import errors as nats_errors
from psycopg import sql

from events import intake as ev
from events.builders import command, register_youth
from kit.keys import ingest_private_key, ingest_public_key, master_keys, pseudonym_key
from kit.log_views import apply_next_page, create_positions_table
from kit.vault import VaultKeys, seal
from services.intake.search_index import SearchIndex
from services.intake.store import SCHEMA
from shared.case_notes import notes_of
from shared.search_tokens import search_filter
from tests.conftest import eventually
from tests.integration.harness import ingest_path, publish_ingest, receipts, running
from tests.integration.test_intake_store import NOW, handle_ingest, incoming, open_for_test

pytestmark = pytest.mark.integration
AGENCY = "comune-milano-m7"
TERRITORY = ev.Territory(country="IT", municipality="Milano", district="Municipio 7")


@pytest.fixture
def intake(database_url, tmp_path):
    opened = open_for_test(database_url, tmp_path)
    yield opened
    opened.store.close()
    opened.vault.keys.close()


class Steps:
    """Commands through intake's runtime, one batch each; the index's log view run to the end."""

    def __init__(self, intake, database_url, data_dir):
        self.intake, self.url, self.seq = intake, database_url, 0
        self.public = ingest_public_key(ingest_private_key(data_dir))
        self.key = pseudonym_key(data_dir)
        self.view = SearchIndex(intake.vault.keys.keyring, self.key)

    def send(self, message, expect: str = "accepted") -> dict:
        self.seq += 1
        [(receipt, _)] = handle_ingest(self.intake, [incoming(message, self.seq)], NOW)
        assert receipt["status"] == expect, receipt
        return receipt

    def sealed(self, given: str, family: str) -> str:
        return seal(self.public, json.dumps({"given_names": given, "family_name": family}).encode())

    def register(self, given: str, family: str, **kw) -> str:
        return self.send(register_youth(AGENCY, sealed_identity=self.sealed(given, family), **kw))["subject"]

    def outreach(self, handle: str) -> str:
        return self.send(command(ev.RecordOutreachContact, sender=AGENCY, handle=handle, place_type="street",
                                 territory=TERRITORY, channel="in_person", outcome="first_contact",
                                 occurred_at=NOW - timedelta(days=3)))["subject"]

    def index(self) -> None:
        with psycopg.connect(self.url) as conn:
            with conn.transaction():
                create_positions_table(conn, SCHEMA)
                self.view.create_tables(conn)
            while apply_next_page(conn, self.intake.store, SCHEMA, self.view):
                pass

    def find(self, youths: list[str], text: str, identity_allowed: bool = True) -> set[str]:
        """Which of these youths the caseload's search condition keeps."""
        fragment, params = search_filter(self.key, text, identity_allowed=identity_allowed)
        query = f"SELECT y.youth_id::text FROM unnest(%(ids)s::uuid[]) AS y(youth_id) WHERE {fragment}"
        with psycopg.connect(self.url) as conn:
            return {r[0] for r in conn.execute(query, {"ids": youths, **params})}

    def tokens(self, owner: str) -> list[tuple[str, bytes]]:
        with psycopg.connect(self.url) as conn:
            return conn.execute("SELECT kind, token FROM intake.search_tokens WHERE owner = %s ORDER BY kind, token",
                                (owner,)).fetchall()


@pytest.fixture
def steps(intake, database_url, tmp_path):
    return Steps(intake, database_url, tmp_path)


def clear_text_anywhere(database_url: str, *texts: str) -> list[str]:
    """Tables of the intake and views schemas where any of the texts appears in clear (rows as text,
    bytea as hex too)."""
    found = []
    with psycopg.connect(database_url) as conn:
        tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables"
                              " WHERE table_schema IN ('intake', 'views')").fetchall()
        for schema, table in tables:
            rows = conn.execute(sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(schema, table))).fetchall()
            blob = "\n".join(r[0] for r in rows).casefold()
            if any(t.casefold() in blob or t.encode().hex() in blob for t in texts):
                found.append(f"{schema}.{table}")
    return found


# ---------------------------------------------------------------- the index

def test_a_youth_is_found_by_a_partial_name_whatever_its_case_and_accents_and_by_nickname(steps, database_url):
    engagement = steps.outreach("Skater Gio")
    giulia = steps.register("Giùlia Maria", "D'Amico", engagement_handle="Skater Gio")
    luca = steps.register("Luca", "Bianchi")
    steps.index()
    youths = [giulia, luca]

    assert steps.find(youths, "giu") == {giulia}
    assert steps.find(youths, "GIULIA") == {giulia}
    assert steps.find(youths, "giù d'am") == {giulia}
    assert steps.find(youths, "damico mar") == {giulia}
    assert steps.find(youths, "bian Luc") == {luca}
    assert steps.find(youths, "giu bian") == set()  # every word must be found
    assert steps.find(youths, "iul") == set()  # the start of a word, not its middle
    assert steps.find(youths, "skat") == {giulia}  # the nickname moved from the engagement to the youth
    assert steps.tokens(engagement) == []

    # roles without identity.read find by nickname only
    assert steps.find(youths, "giu", identity_allowed=False) == set()
    assert steps.find(youths, "skater gio", identity_allowed=False) == {giulia}

    # no name or nickname in clear in any table of intake or the views; the index holds 16-byte tokens
    assert clear_text_anywhere(database_url, "Giùlia", "Giulia", "Amico", "Bianchi", "Skater") == []
    assert clear_text_anywhere(database_url, AGENCY)  # (the scan does find what is there)
    assert {len(token) for _, token in steps.tokens(giulia)} == {16}


def test_a_corrected_identity_replaces_the_name_in_the_index(steps):
    youth = steps.register("Giulia", "Rossi")
    steps.send(command(ev.RecordIdentity, sender=AGENCY, youth_id=youth, sealed_identity=steps.sealed("Giuliana", "Russo")))
    steps.index()
    assert steps.find([youth], "russo giuliana") == {youth}
    assert steps.find([youth], "rossi") == set()


def test_an_erased_youth_is_no_longer_found_and_its_tokens_are_gone(steps):
    steps.outreach("Skater Gio")
    youth = steps.register("Giulia", "Rossi", engagement_handle="Skater Gio")
    steps.index()
    assert steps.find([youth], "giu") == steps.find([youth], "skat") == {youth}

    steps.send(command(ev.EraseYouth, sender=AGENCY, youth_id=youth, mode="erasure", legal_reason="Art. 17 request",
                       role="agency_admin"))
    steps.index()
    assert steps.find([youth], "giu") == steps.find([youth], "skat") == set()
    assert steps.tokens(youth) == []


def test_the_index_rebuilt_from_the_log_leaves_an_erased_youth_out(steps, database_url):
    kept, erased = steps.register("Giulia", "Rossi"), steps.register("Giulia", "Verdi")
    steps.send(command(ev.EraseYouth, sender=AGENCY, youth_id=erased, mode="erasure", legal_reason="Art. 17 request",
                       role="agency_admin"))
    steps.index()
    before = steps.tokens(kept)
    with psycopg.connect(database_url) as conn:
        conn.execute("TRUNCATE intake.search_tokens")
        conn.execute("UPDATE intake.log_view_positions SET notification_id = 0 WHERE view = 'search_index'")
    steps.index()
    assert steps.tokens(kept) == before and steps.tokens(erased) == []
    assert steps.find([kept, erased], "giu") == {kept}


def test_merged_youths_are_found_by_either_name_as_the_surviving_record(steps):
    survivor = steps.register("Marta", "Verdi")
    duplicate = steps.register("Martina", "Verdi")
    steps.send(command(ev.MergeYouths, sender=AGENCY, youth_id=survivor, duplicate_youth_id=duplicate,
                       reason="Same person registered twice", role="supervisor"))
    steps.index()
    assert steps.find([survivor, duplicate], "martina") == {survivor}
    assert steps.find([survivor, duplicate], "marta verdi") == {survivor}
    assert steps.tokens(duplicate) == []


# ---------------------------------------------------------------- case notes, end to end

NOTE_TEXT = "Ha chiesto di essere richiamato lunedì (Zanzibar-7)"
OTHER_NOTE = "Preferisce WhatsApp (Quokka-3)"


async def send(js, messages, sent: list[str], expect: str = "accepted") -> dict[str, dict]:
    for message in messages:
        await publish_ingest(js, AGENCY, message.to_json_bytes())
        sent.append(message.id)
    got = {r["ingest_id"]: r for r in await receipts(js, AGENCY, len(sent), timeout=30)}
    for message in messages:
        assert got[message.id]["status"] == expect, got[message.id]
    return {m.id: got[m.id] for m in messages}


async def streams_ready(js) -> bool:
    """Every stream the test uses exists (they are created one after the other)."""
    try:
        for stream in ("KIT_INGEST", "KIT_RECEIPTS", "KIT_EVENTS_INTAKE"):
            await js.stream_info(stream)
        return True
    except nats_errors.Error:
        return False


def note(youth: str, text: str, note_id: str | None = None):
    return command(ev.AddCaseNote, sender=AGENCY, youth_id=youth, note_id=note_id or str(uuid.uuid4()), text=text,
                   role="key_worker", actor="op-giulia")


def rows(database_url: str, query: str, *args) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        try:
            return conn.execute(query, args).fetchall()
        except psycopg.errors.UndefinedTable:
            return []


def read_notes(database_url: str, keys: VaultKeys, youth: str) -> list[dict]:
    with psycopg.connect(database_url) as conn:
        return notes_of(conn, keys, youth)


async def test_notes_are_stored_encrypted_read_with_the_youths_key_follow_a_merge_and_die_with_an_erasure(platform, nc):
    js = nc.jetstream()
    sent: list[str] = []
    url = platform.database_url
    keys = VaultKeys(url, master_keys(platform.settings.data_dir))
    key = pseudonym_key(platform.settings.data_dir)
    async with running(*ingest_path(platform.settings)):
        await eventually(lambda: streams_ready(js))
        public = ingest_public_key(ingest_private_key(platform.settings.data_dir))
        registration = register_youth(AGENCY, sealed_identity=seal(public, json.dumps(
            {"given_names": "Giulia", "family_name": "Rossi"}).encode()))
        duplicate_registration = register_youth(AGENCY)
        got = await send(js, [registration, duplicate_registration], sent)
        youth, duplicate = got[registration.id]["subject"], got[duplicate_registration.id]["subject"]

        # the index, kept by the intake service itself, finds her in the directory the API reads
        fragment, params = search_filter(key, "giu ROSS", identity_allowed=True)
        found = f"SELECT y.youth_id::text FROM views.youths y WHERE {fragment}"
        await eventually(lambda: _found(url, found, params) == [(youth,)])

        first = note(youth, NOTE_TEXT)
        [accepted] = (await send(js, [first], sent)).values()
        assert len(accepted["event_ids"]) == 1
        # sent again with the same note id (a new message): accepted, nothing new recorded
        again = note(youth, NOTE_TEXT, note_id=first.data["note_id"])
        [same] = (await send(js, [again], sent)).values()
        assert same["event_ids"] == []
        await send(js, [note(duplicate, OTHER_NOTE)], sent)
        await eventually(lambda: len(rows(url, "SELECT 1 FROM views.case_notes")) == 2)

        notes = read_notes(url, keys, youth)
        assert [(n["note_id"], n["text"], n["erased"], n["agency"], n["actor"], n["role"]) for n in notes] == [
            (first.data["note_id"], NOTE_TEXT, False, AGENCY, "op-giulia", "key_worker")]
        assert notes[0]["at"].tzinfo is not None
        assert clear_text_anywhere(url, "Zanzibar", "Quokka", "richiamato") == []  # ciphertext only at rest
        timeline = rows(url, "SELECT data FROM views.timeline WHERE type = %s", ev.CaseNoteAdded.type_name)
        assert len(timeline) == 2 and all(d["ciphertext"] == "[vault]" for (d,) in timeline)

        # merged: the duplicate's note is read with the surviving record (opened with the duplicate's key)
        await send(js, [command(ev.MergeYouths, sender=AGENCY, youth_id=youth, duplicate_youth_id=duplicate,
                                reason="Same person registered twice", role="supervisor")], sent)
        await eventually(lambda: len(read_notes(url, keys, youth)) == 2)
        assert {n["text"] for n in read_notes(url, keys, youth)} == {NOTE_TEXT, OTHER_NOTE}
        assert read_notes(url, keys, duplicate) == []

        # erased: the key destroyed, the view's ciphertext purged; the notes read as erased
        await send(js, [command(ev.EraseYouth, sender=AGENCY, youth_id=youth, mode="erasure",
                                legal_reason="Art. 17 request of the data subject", role="agency_admin")], sent)
        await eventually(lambda: rows(url, "SELECT 1 FROM views.case_notes WHERE ciphertext IS NOT NULL") == [])
        await eventually(lambda: _found(url, found, params) == [])
        [refused] = (await send(js, [note(youth, "troppo tardi")], sent, expect="rejected")).values()
        assert [r["code"] for r in refused["reasons"]] == ["erased"]
    erased = read_notes(url, keys, youth)
    assert [(n["text"], n["erased"]) for n in erased] == [(None, True), (None, True)]
    assert keys.get(youth) is None
    keys.close()


def _found(url: str, query: str, params: dict) -> list[tuple]:
    with psycopg.connect(url) as conn:
        try:
            return conn.execute(query, params).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
