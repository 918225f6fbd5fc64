"""Case notes as the operators' pages read them: `views.case_notes` (kept by the views service,
`projections/case_notes.py`) holds only each note's ciphertext under the youth's vault key, and
who wrote it, when and for which agency; the text is opened here, per read, with the key.

A youth erased (crypto-shredding: the key destroyed, the view's ciphertext purged) keeps the
notes' rows, returned as erased: `text` None, `erased` True. The caller checks that the operator
may see the youth and read case records (`case.read`), and logs the read, as for any youth record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypedDict

from kit.vault import decrypt_for

TABLE = "views.case_notes"
NOTES_SQL = f"""
SELECT note_id::text, owner::text, ciphertext, at, actor, role, agency FROM {TABLE}
 WHERE youth_id = %s::uuid ORDER BY at DESC, note_id
"""


class Keys(Protocol):
    """What opens a note: `kit.vault.VaultKeys` (the API's), or any owner -> key (None: destroyed)."""

    def get(self, youth_id: str) -> bytes | None: ...


class Note(TypedDict):
    note_id: str
    text: str | None  # None: erased (or unreadable)
    erased: bool
    at: datetime  # when it was recorded
    actor: str | None  # the operator (pseudonymous id) or None for a partner's system
    role: str | None
    agency: str


def notes_of(conn: Any, vault_keys: Keys, youth_id: str) -> list[Note]:
    """The youth's case notes, newest first (notes of a record merged into this one included)."""
    rows = conn.execute(NOTES_SQL, (youth_id,)).fetchall()
    keys: dict[str, bytes | None] = {}
    notes: list[Note] = []
    for note_id, owner, ciphertext, at, actor, role, agency in rows:
        if owner not in keys:
            keys[owner] = vault_keys.get(owner)
        notes.append(Note(note_id=note_id, text=open_note(keys[owner], owner, ciphertext), erased=False, at=at,
                          actor=actor, role=role, agency=agency))
        notes[-1]["erased"] = notes[-1]["text"] is None
    return notes


def open_note(key: bytes | None, owner: str, ciphertext: str | None) -> str | None:
    if key is None or ciphertext is None:
        return None
    try:
        return decrypt_for(key, owner, ciphertext).decode()
    except (ValueError, UnicodeDecodeError):
        return None
