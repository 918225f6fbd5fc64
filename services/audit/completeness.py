"""Is everything that should be in the audit log there, exactly once? The log's own checks (dense
positions, hashes, signed tree heads) cannot see rows deleted after the last checkpoint when later
entries took their positions: those are only missed against the sources. So the sources are read
again: every integration event each service's stream holds, and every row of the API's access
log, up to where the audit service says it has taken them (what it has not reached yet is
pending, not missing), each must be an entry; and no entry may stand for an event or a read the
sources do not hold. The comparison runs in PostgreSQL (the stream ids are copied into a temporary
table): a million events are a join, not a Python set.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import nats.errors
import psycopg
from nats.js.api import ConsumerConfig, DeliverPolicy

from kit.nats_auth import connect
from kit.streams import events_stream
from services.audit import log

@dataclass
class Completeness:
    events: int = 0  # integration events checked
    reads: int = 0  # access-log rows checked
    pending: int = 0  # in the sources, not yet reached by the audit service
    problem: str | None = None

    def to_json(self) -> dict:
        return {"events_checked": self.events, "reads_checked": self.reads, "pending": self.pending,
                "problem": self.problem}


async def stream_ids(nats_url: str, services: list[str]) -> dict[str, list[tuple[int, str]]]:
    """(sequence, CloudEvent id) of every message of each service's events stream."""
    nc = await connect(nats_url, name="kit-audit-verify", allow_reconnect=False)
    try:
        js = nc.jetstream()
        found: dict[str, list[tuple[int, str]]] = {}
        for service in services:
            stream = events_stream(service)
            last = (await js.stream_info(stream)).state.last_seq
            found[stream] = []
            if last == 0:
                continue
            sub = await js.subscribe(f"kit.events.{service}.>", ordered_consumer=True,
                                     config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
            try:
                while True:
                    msg = await sub.next_msg(timeout=10)
                    try:
                        event_id = json.loads(msg.data).get("id")
                    except ValueError:
                        event_id = None
                    found[stream].append((msg.metadata.sequence.stream, event_id if isinstance(event_id, str) else ""))
                    if msg.metadata.sequence.stream >= last:
                        break
            finally:
                await sub.unsubscribe()
        return found
    finally:
        await nc.close()


def check(conn: psycopg.Connection, streams: dict[str, list[tuple[int, str]]]) -> Completeness:
    result = Completeness()
    conn.execute("CREATE TEMP TABLE expected_events (stream text, seq bigint, source text) ON COMMIT DROP")
    reached = {stream: log.position(conn, f"stream:{stream}") for stream in streams}
    with conn.cursor().copy("COPY expected_events (stream, seq, source) FROM STDIN") as copy:
        for stream, messages in streams.items():
            for seq, event_id in messages:
                if seq <= reached[stream]:
                    copy.write_row((stream, seq, f"event:{event_id}"))
                    result.events += 1
                else:
                    result.pending += 1
    missing = conn.execute(
        "SELECT e.stream, e.seq, count(*) OVER () FROM expected_events e"
        " WHERE NOT EXISTS (SELECT 1 FROM audit.log l WHERE l.source = e.source) ORDER BY e.stream, e.seq LIMIT 1"
    ).fetchone()
    if missing:
        result.problem = (f"{missing[2]} integration event(s) are not in the audit log, the first {missing[0]} "
                          f"#{missing[1]}: entries were deleted (positions reused after the last checkpoint?)")
        return result
    extra = conn.execute(
        "SELECT l.seq, count(*) OVER () FROM audit.log l WHERE l.kind = 'event'"
        " AND NOT EXISTS (SELECT 1 FROM expected_events e WHERE e.source = l.source) ORDER BY l.seq LIMIT 1"
    ).fetchone()
    if extra:
        result.problem = (f"{extra[1]} audit entr(y/ies) stand for events no stream holds, the first at position "
                          f"{extra[0]}: entries were inserted")
        return result

    since, after = log.position(conn, log.ACCESS_SOURCE), log.position(conn, log.ACCESS_SOURCE + "/id")
    taken = ("(a.txid < %(since)s::text::xid8 OR (a.txid = %(since)s::text::xid8 AND a.id <= %(after)s))")
    args = {"since": since, "after": after}
    result.reads = conn.execute(f"SELECT count(*) FROM api.access_log a WHERE {taken}", args).fetchone()[0]
    result.pending += conn.execute(f"SELECT count(*) FROM api.access_log a WHERE NOT {taken}", args).fetchone()[0]
    missing = conn.execute(
        f"SELECT a.id, count(*) OVER () FROM api.access_log a WHERE {taken}"
        " AND NOT EXISTS (SELECT 1 FROM audit.log l WHERE l.source = 'access:' || a.id) ORDER BY a.id LIMIT 1",
        args).fetchone()
    if missing:
        result.problem = (f"{missing[1]} read(s) of the access log are not in the audit log, the first access-log "
                          f"row {missing[0]}: entries were deleted")
        return result
    extra = conn.execute(
        "SELECT l.seq, count(*) OVER () FROM audit.log l WHERE l.kind = 'access'"
        " AND NOT EXISTS (SELECT 1 FROM api.access_log a WHERE 'access:' || a.id = l.source) ORDER BY l.seq LIMIT 1"
    ).fetchone()
    if extra:
        result.problem = (f"{extra[1]} audit entr(y/ies) stand for reads the access log does not hold (rows deleted "
                          f"from the access log, or entries inserted), the first at position {extra[0]}")
    return result


def verify_sources(db_url: str, nats_url: str, services: list[str]) -> Completeness:
    try:
        streams = asyncio.run(stream_ids(nats_url, services))
    except (OSError, nats.errors.Error) as e:
        return Completeness(problem=f"the integration streams could not be read ({type(e).__name__}): is NATS "
                                    "running and KIT_NATS_URL the platform's? (--log-only skips this check)")
    with psycopg.connect(db_url) as conn, conn.transaction():
        return check(conn, streams)
