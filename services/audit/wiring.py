"""Composition root of the audit service: every integration event and every read of a youth's
record into the one append-only log; signed checkpoints at an interval, published on NATS."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence

import nats
import psycopg
from psycopg.rows import dict_row

from events.envelope import CloudEvent
from kit.config import Settings, database_url, nats_url
from kit.checkpoints import public_key_of
from kit.keys import audit_signing_key
from kit.nats_auth import connect
from kit.nats_permissions import service_user
from kit.service import Platform
from kit.streams import CHECKPOINT_SUBJECT
from projections.integration_event import IntegrationEvent
from services.audit import log, verify
from services.audit.checkpointing import make_checkpoint
from projections.runner import ProjectionRunner
from shared import accounts

logger = logging.getLogger("kit.audit")


class AuditTrail:
    """The integration events, as a projection: each event once, in each stream's order."""

    name = "audit_log"
    sources = None  # every service's events

    def create_tables(self, conn: psycopg.Connection) -> None:
        log.create_tables(conn)

    # how far each stream is in the log: positions in the audit schema, beside the access log's
    def load_position(self, conn: psycopg.Connection, stream: str) -> int:
        return log.position(conn, f"stream:{stream}", lock=True)

    def save_position(self, conn: psycopg.Connection, stream: str, sequence: int) -> None:
        log.set_position(conn, f"stream:{stream}", sequence)

    def apply_page(self, conn: psycopg.Connection, events: Sequence[IntegrationEvent]) -> None:
        log.append(conn, [self.item(event.envelope()) for event in events])

    @staticmethod
    def item(event: CloudEvent) -> log.Item:
        """The whole envelope, validated again: the log keeps what it proves exactly as published."""
        youth = event.data.get("youth_id") if isinstance(event.data.get("youth_id"), str) else None
        return log.Item(source=f"event:{event.id}", kind="event", youth_id=youth or event.subject,
                        recorded_at=event.kitrecordedtime or event.time,
                        payload=event.model_dump(mode="json", exclude_none=True))


def append_access_log(db_url: str, limit: int = 1000) -> int:
    """Reads of youths' records, from the API's access log: the rows of the transactions that ended
    since the last call. Taken by transaction, not by id: ids are drawn before commit, so a row
    with a lower id can commit after a higher one was appended (a position by id would skip it).
    `horizon` is the oldest transaction still running: every row of an older one is visible now."""
    with psycopg.connect(db_url) as conn, conn.transaction():
        since = log.position(conn, log.ACCESS_SOURCE, lock=True)  # the horizon of the last call
        after_id = log.position(conn, log.ACCESS_SOURCE + "/id")  # within `since`: the rows taken (a full page)
        horizon = conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").fetchone()[0]
        rows = conn.cursor(row_factory=dict_row).execute(
            "SELECT *, txid::text::bigint AS tx FROM api.access_log"
            " WHERE (txid, id) > (%(since)s::text::xid8, %(after)s) AND txid < %(horizon)s::text::xid8"
            " ORDER BY txid, id LIMIT %(limit)s",
            {"since": since, "after": after_id, "horizon": horizon, "limit": limit}).fetchall()
        items = [log.Item(source=f"access:{r['id']}", kind="access",
                          youth_id=str(r["youth_id"]) if r["youth_id"] else None, recorded_at=r["at"],
                          payload={"operator_id": str(r["operator_id"]), "agency": r["agency"], "role": r["role"],
                                   "purpose": r["purpose"], "what": r["what"],
                                   "youth_id": str(r["youth_id"]) if r["youth_id"] else None,
                                   "at": r["at"].isoformat()})
                 for r in rows]
        appended = log.append(conn, items) if items else 0
        full = len(rows) == limit  # it may stop inside a transaction's rows: continue after the last one
        log.set_position(conn, log.ACCESS_SOURCE, rows[-1]["tx"] if full else horizon)
        log.set_position(conn, log.ACCESS_SOURCE + "/id", rows[-1]["id"] if full else 0)
        return appended


class AuditService:
    def __init__(self, settings: Settings, platform: Platform):
        self.settings = settings
        self.db_url = database_url(settings)
        self.nats_url = nats_url(settings, service_user(platform.service("audit")))
        self.events = ProjectionRunner(settings, platform, projections=(AuditTrail(),), name="audit",
                                       user=service_user(platform.service("audit")))

    def prepare(self) -> None:
        with psycopg.connect(self.db_url) as conn, conn.transaction():
            log.create_tables(conn)
            verify.create_verifications_table(conn)
            accounts.create_tables(conn)

    async def tail_access_log(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            appended = await asyncio.to_thread(append_access_log, self.db_url)
            if not appended:
                try:
                    await asyncio.wait_for(stop.wait(), 0.5)
                except asyncio.TimeoutError:
                    pass

    async def checkpoints(self, stop: asyncio.Event, nc: nats.NATS) -> None:
        """Sign the tree head every `KIT_CHECKPOINT_INTERVAL` seconds if the log grew; publish it."""
        key = audit_signing_key(self.settings.data_dir)
        js = nc.jetstream()
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.settings.checkpoint_interval)
            except asyncio.TimeoutError:
                pass
            signed = await asyncio.to_thread(make_checkpoint, self.db_url, key)
            if signed is not None:
                await js.publish(CHECKPOINT_SUBJECT, json.dumps(signed.to_json()).encode(),
                                 headers={"Nats-Msg-Id": f"checkpoint:{signed.checkpoint.size}"})
                logger.info("checkpoint signed at size %d", signed.checkpoint.size)

    async def verifications(self, stop: asyncio.Event) -> None:
        """Verify the whole log at start and every `KIT_AUDIT_VERIFY_INTERVAL` seconds, and record
        the result (the auditor's page shows the latest; an auditor may verify again at once)."""
        public_key = public_key_of(audit_signing_key(self.settings.data_dir))
        while not stop.is_set():
            report = await asyncio.to_thread(self._verify, public_key)
            if not report.ok:
                logger.error("the audit log does not verify: %s (position %s)", report.problem, report.position)
            try:
                await asyncio.wait_for(stop.wait(), self.settings.verify_interval)
            except asyncio.TimeoutError:
                pass

    def _verify(self, public_key: str) -> verify.Report:
        with psycopg.connect(self.db_url) as conn, conn.transaction():
            return verify.verify_and_record(conn, public_key, "audit service")

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.to_thread(self.prepare)
        nc = await connect(self.nats_url, name="kit-audit")
        try:
            await asyncio.gather(self.events.run(stop), self.tail_access_log(stop), self.checkpoints(stop, nc),
                                 self.verifications(stop))
        finally:
            await nc.close()


async def main(settings: Settings, stop: asyncio.Event, platform: Platform) -> None:
    await AuditService(settings, platform).run(stop)

