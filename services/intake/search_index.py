"""The keyed blind index that lets operators find a youth by name or nickname (`shared/search_tokens.py`),
kept by intake from its own log: intake is where the plaintext can be read (it holds the vault
keys), and the index is derived from what its log holds, so it can be rebuilt from it.

- `identity_recorded` of the youth (not of a related person): the name's tokens, replacing the
  youth's earlier ones (a corrected identity);
- `outreach_contact_recorded`: the nickname's tokens, under the engagement;
- `engagement_linked`: the engagement's tokens move to the youth;
- `youth_merged`: the duplicate's tokens move to the surviving record;
- `youth_erased`: every token of the youth and of its engagements is deleted.

The ciphertext is opened with the owner's key as it is when the page is applied: a key destroyed
since (an erasure) leaves nothing to index. Nothing here logs a value.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import psycopg

from events import intake as ev
from kit.vault import Keyring, decrypt_for
from services.intake.aggregates import EngagementHistory, YouthCase
from services.intake.store import SCHEMA
from shared.search_tokens import TABLE, create_table, index_tokens, search_key

log = logging.getLogger("kit.intake.search_index")
assert TABLE == f"{SCHEMA}.search_tokens"

ADD = (f"INSERT INTO {TABLE} (owner, kind, token) SELECT %s::uuid, %s, unnest(%s::bytea[])"
       " ON CONFLICT DO NOTHING")
DROP_NAMES = f"DELETE FROM {TABLE} WHERE owner = %s::uuid AND kind = 'name'"
MOVE = (f"INSERT INTO {TABLE} (owner, kind, token) SELECT %(to)s::uuid, kind, token FROM {TABLE}"
        " WHERE owner = %(from)s::uuid ON CONFLICT DO NOTHING")
DROP_OWNER = f"DELETE FROM {TABLE} WHERE owner = %s::uuid"
DROP_OWNERS = f"DELETE FROM {TABLE} WHERE owner = ANY(%s::uuid[])"
KEYS = f"SELECT youth_id::text, wrapped FROM {SCHEMA}.youth_keys WHERE youth_id = ANY(%s::uuid[]) AND wrapped IS NOT NULL"

IDENTITY = ev.IdentityRecorded.type_name
OUTREACH = ev.OutreachContactRecorded.type_name
LINKED = ev.EngagementLinked.type_name
MERGED = ev.YouthMerged.type_name
ERASED = ev.YouthErased.type_name
TYPES = frozenset({IDENTITY, OUTREACH, LINKED, MERGED, ERASED})


def name_text(identity_json: bytes) -> str:
    """The words of an identity the index keeps: given names and family name (nothing else)."""
    identity = json.loads(identity_json)
    return f"{identity.get('given_names', '')} {identity.get('family_name', '')}"


class SearchIndex:
    """A log view (`kit.log_views`) of intake's own log: `intake.search_tokens`."""

    name = "search_index"
    topics = (YouthCase.Started.TOPIC, YouthCase.Recorded.TOPIC,
              EngagementHistory.Started.TOPIC, EngagementHistory.Recorded.TOPIC)

    def __init__(self, keyring: Keyring, pseudonym_key: bytes):
        self.keyring = keyring
        self.keys = {kind: search_key(pseudonym_key, kind) for kind in ("name", "nickname")}

    def create_tables(self, conn: psycopg.Connection) -> None:
        create_table(conn)

    def apply(self, conn: psycopg.Connection, events: Sequence[object]) -> None:
        mine = [(e.type_name, e.data) for e in events if getattr(e, "type_name", None) in TYPES]  # type: ignore[attr-defined]
        owners = {d["youth_id"] for t, d in mine if t == IDENTITY and d["person_id"] == d["youth_id"]}
        owners |= {d["engagement_id"] for t, d in mine if t == OUTREACH}
        keys = self._keys(conn, owners)
        for type_name, d in mine:
            if type_name == IDENTITY and d["person_id"] == d["youth_id"]:
                plain = self._open(keys, d["youth_id"], d["ciphertext"])
                conn.execute(DROP_NAMES, (d["youth_id"],))
                if plain is not None:
                    self._add(conn, d["youth_id"], "name", name_text(plain))
            elif type_name == OUTREACH:
                plain = self._open(keys, d["engagement_id"], d["handle_ciphertext"])
                if plain is not None:
                    self._add(conn, d["engagement_id"], "nickname", plain.decode())
            elif type_name == LINKED:
                self._move(conn, d["engagement_id"], d["youth_id"])
            elif type_name == MERGED:
                self._move(conn, d["youth_id"], d["merged_into"])
            elif type_name == ERASED:
                conn.execute(DROP_OWNERS, (sorted({d["youth_id"], *d.get("keys_destroyed", ())}),))

    def _keys(self, conn: psycopg.Connection, owners: set[str]) -> dict[str, bytes]:
        if not owners:
            return {}
        return {owner: self.keyring.unwrap(wrapped) for owner, wrapped in conn.execute(KEYS, (sorted(owners),))}

    @staticmethod
    def _open(keys: dict[str, bytes], owner: str, ciphertext: str) -> bytes | None:
        key = keys.get(owner)
        if key is None:
            return None  # erased: nothing to index
        try:
            return decrypt_for(key, owner, ciphertext)
        except ValueError:
            log.warning("a ciphertext of %s does not open with its key: not indexed", owner)
            return None

    def _add(self, conn: psycopg.Connection, owner: str, kind: str, text: str) -> None:
        tokens = sorted(index_tokens(self.keys[kind], text))
        if tokens:
            conn.execute(ADD, (owner, kind, tokens))

    @staticmethod
    def _move(conn: psycopg.Connection, old: str, new: str) -> None:
        if old != new:
            conn.execute(MOVE, {"from": old, "to": new})
            conn.execute(DROP_OWNER, (old,))
