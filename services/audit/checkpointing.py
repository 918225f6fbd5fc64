"""Signed checkpoints: the log's tree head at a size, signed with the log's Ed25519 key."""

from __future__ import annotations

from datetime import datetime, timezone

import psycopg
from psycopg.types.json import Jsonb

from kit.checkpoints import Checkpoint, SignedCheckpoint, sign
from kit.merkle import Frontier
from services.audit import log

ORIGIN = "kit-platform/audit"


def make_checkpoint(db_url: str, private_key: str, *, force: bool = False) -> SignedCheckpoint | None:
    """Sign the current tree head; None if nothing was appended since the last checkpoint (unless forced)."""
    with psycopg.connect(db_url) as conn, conn.transaction(), conn.cursor() as cur:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (log.APPEND_LOCK,))  # a stable size while we hash
        size = log.size(conn)
        last = conn.execute("SELECT max(size) FROM audit.checkpoints").fetchone()[0]
        if size == 0 or (last == size and not force):
            return None
        frontier = resume(conn)
        for row in log.rows(conn, after=frontier.size, upto=size):
            frontier.append(row.leaf_hash)
        signed = sign(private_key, Checkpoint(origin=ORIGIN, size=size, root=frontier.root(),
                                              timestamp=datetime.now(timezone.utc).replace(microsecond=0)))
        cur.execute("INSERT INTO audit.checkpoints VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (size) DO NOTHING",
                    (size, signed.checkpoint.root, signed.checkpoint.timestamp, signed.key_id, Jsonb(signed.to_json()),
                     frontier.stack))
        return signed


def resume(conn: psycopg.Connection) -> Frontier:
    """The tree state at the last checkpoint, so a new checkpoint hashes only what came since.
    Trusted only if it folds to the root that checkpoint signed (a forged state would need a
    hash collision); otherwise start from the first entry."""
    row = conn.execute("SELECT size, root, frontier FROM audit.checkpoints WHERE frontier IS NOT NULL"
                       " ORDER BY size DESC LIMIT 1").fetchone()
    if row is not None:
        try:
            frontier = Frontier.resume(row[0], [bytes(h) for h in row[2]])
        except ValueError:
            return Frontier()
        if frontier.root() == bytes(row[1]):
            return frontier
    return Frontier()


def latest(conn: psycopg.Connection) -> SignedCheckpoint | None:
    row = conn.execute("SELECT signed FROM audit.checkpoints ORDER BY size DESC LIMIT 1").fetchone()
    return SignedCheckpoint.from_json(row[0]) if row else None
