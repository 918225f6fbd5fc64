"""Verification of the audit log: re-derive everything from the stored entry bytes and check it
against the signed checkpoints. Stops at the first problem and names its position.

What each check catches:
- positions must run 1, 2, 3, ... : a deleted row shows as the first missing position;
- an entry's bytes start with its own position: a moved or swapped row shows where it lies;
- the stored leaf hash must be the hash of the bytes: an edited entry (or hash) shows;
- the tree head at each checkpoint's size must be the signed one: a consistent rewrite of an
  entry and its hash shows as the first checkpoint it breaks (the entry is after the previous one);
- a log shorter than a checkpoint: entries at its end were deleted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import psycopg

from kit.checkpoints import SignedCheckpoint
from kit.merkle import Frontier, Tree, leaf_hash, verify_inclusion
from services.audit import log


@dataclass
class Report:
    entries: int = 0
    checkpoints: int = 0
    problem: str | None = None
    position: int | None = None
    unsigned: int = 0  # entries after the last checkpoint: hashed, not yet signed

    @property
    def ok(self) -> bool:
        return self.problem is None

    def fail(self, position: int | None, problem: str) -> Report:
        self.position, self.problem = position, problem
        return self

    def to_json(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "checkpoints": self.checkpoints,
                "first_bad_position": self.position, "problem": self.problem, "unsigned_entries": self.unsigned}


def load_checkpoints(conn: psycopg.Connection) -> list[SignedCheckpoint | int]:
    """The signed checkpoints in size order; the size alone where a stored one is unreadable."""
    loaded: list[SignedCheckpoint | int] = []
    for size, signed in conn.execute("SELECT size, signed FROM audit.checkpoints ORDER BY size"):
        try:
            loaded.append(SignedCheckpoint.from_json(signed))
        except (KeyError, TypeError, ValueError):
            loaded.append(size)
    return loaded


def verify_log(conn: psycopg.Connection, public_key: str) -> Report:
    report = Report()
    checkpoints = load_checkpoints(conn)
    for signed in checkpoints:
        if isinstance(signed, int):
            return report.fail(None, f"the checkpoint at size {signed} is unreadable (altered)")
        if not signed.verify(public_key):
            return report.fail(None, f"the checkpoint at size {signed.checkpoint.size} has no valid signature "
                                     "for this public key")
    pending = [s.checkpoint for s in checkpoints if isinstance(s, SignedCheckpoint)]
    frontier, previous = Frontier(), 0
    for row in log.rows(conn):
        expected = report.entries + 1
        if row.seq != expected:
            return report.fail(expected, f"entry {expected} is missing (deleted); the next one is {row.seq}")
        if not row.entry.startswith(log.index_prefix(row.seq)):
            return report.fail(*misplaced(conn, row))
        hashed = leaf_hash(row.entry)
        if hashed != row.leaf_hash:
            return report.fail(row.seq, f"entry {row.seq} was modified: its bytes do not match its leaf hash")
        frontier.append(hashed)
        report.entries = row.seq
        while pending and pending[0].size == row.seq:
            checkpoint = pending.pop(0)
            if frontier.root() != checkpoint.root:
                return report.fail(previous + 1, f"the tree head at size {checkpoint.size} differs from the signed "
                                                 f"checkpoint: an entry between {previous + 1} and {checkpoint.size} "
                                                 "was rewritten together with its hash")
            report.checkpoints += 1
            previous = checkpoint.size
    if pending:
        return report.fail(report.entries + 1, f"the log ends at {report.entries} but a checkpoint signed size "
                                               f"{pending[0].size}: entries from {report.entries + 1} were deleted")
    report.unsigned = report.entries - previous
    return report


def misplaced(conn: psycopg.Connection, row: log.Row) -> tuple[int, str]:
    """The position an entry's bytes claim, and what the row there claims, tell what happened."""
    claimed = log.claimed_position(row.entry)
    there = conn.execute("SELECT entry FROM audit.log WHERE seq = %s", (claimed,)).fetchone() if claimed else None
    claimed_there = log.claimed_position(bytes(there[0])) if there else None
    if claimed_there == row.seq:
        return row.seq, f"entries {row.seq} and {claimed} were swapped: each holds the content of the other position"
    if claimed == row.seq - 1:
        return row.seq - 1, (f"an entry was inserted at position {row.seq - 1}: the entries after it are shifted "
                             "by one")
    if claimed == row.seq + 1:
        return row.seq, f"entry {row.seq} was deleted and the entries after it renumbered"
    return row.seq, (f"entry {row.seq} holds the content of position {claimed} (rows moved or reordered)"
                     if claimed else f"entry {row.seq} was modified: it does not start with its position")


@dataclass
class Proven:
    seq: int
    entry: bytes
    proof: list[bytes] = field(default_factory=list)


def prove_youth(conn: psycopg.Connection, youth_id: str, signed: SignedCheckpoint) -> list[Proven] | str:
    """The youth's entries covered by the checkpoint, each with its inclusion proof; or what is wrong."""
    size = signed.checkpoint.size
    tree = Tree([row.leaf_hash for row in log.rows(conn, upto=size)])
    if tree.size != size or tree.root(size) != signed.checkpoint.root:
        return f"the stored log does not match the checkpoint at size {size}: run `kit audit verify`"
    proven = []
    for row in log.youth_rows(conn, youth_id):
        if row.seq > size:
            break
        if not row.entry.startswith(log.index_prefix(row.seq)) or leaf_hash(row.entry) != row.leaf_hash:
            return f"entry {row.seq} of this youth was modified"
        proven.append(Proven(row.seq, row.entry, tree.inclusion_proof(row.seq - 1, size)))
    return proven


def verify_youth(conn: psycopg.Connection, youth_id: str, public_key: str) -> Report:
    report = Report()
    checkpoints = load_checkpoints(conn)
    if not checkpoints:
        return report.fail(None, "no signed checkpoint yet: run `kit audit checkpoint`")
    signed = checkpoints[-1]
    if isinstance(signed, int) or not signed.verify(public_key):
        return report.fail(None, f"the checkpoint at size {signed.checkpoint.size} has no valid signature")
    proven = prove_youth(conn, youth_id, signed)
    if isinstance(proven, str):  # the log does not match what was signed: where, as the whole check says
        whole = verify_log(conn, public_key)
        return report.fail(whole.position, whole.problem or proven)
    for item in proven:
        if not verify_inclusion(leaf_hash(item.entry), item.seq - 1, signed.checkpoint.size, item.proof,
                                signed.checkpoint.root):
            return report.fail(item.seq, f"entry {item.seq} is not in the signed log")
    report.entries, report.checkpoints = len(proven), 1
    report.unsigned = sum(1 for row in log.youth_rows(conn, youth_id) if row.seq > signed.checkpoint.size)
    return report


# Each whole verification, when and by whom, with its report: the auditor's page shows the latest
# one instead of re-reading the whole log on every visit (seconds for a large log).
VERIFICATIONS_SQL = """
CREATE TABLE IF NOT EXISTS audit.verifications (
  id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), by text NOT NULL, report jsonb NOT NULL)
"""


def create_verifications_table(conn: psycopg.Connection) -> None:
    conn.execute(VERIFICATIONS_SQL)


def verify_and_record(conn: psycopg.Connection, public_key: str, by: str) -> Report:
    """Verify the whole log now and record the result (`by`: the service, or an auditor's username)."""
    report = verify_log(conn, public_key)
    conn.execute("INSERT INTO audit.verifications (by, report) VALUES (%s, %s)", (by, json.dumps(report.to_json())))
    return report


def last_verification(conn: psycopg.Connection) -> dict[str, Any] | None:
    """The latest recorded verification: its report, `at` and `by`; None if there is none yet."""
    try:
        with conn.transaction():  # a savepoint: the table may not exist yet (the audit service makes it)
            row = conn.execute("SELECT at, by, report FROM audit.verifications ORDER BY id DESC LIMIT 1").fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return None if row is None else {**row[2], "at": row[0], "by": row[1]}
