"""The intake service's event store: an eventsourcing Application in the `intake` schema."""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError
from psycopg import sql

from services.intake.aggregates import CaseReference, IngestReceipt, PersonKey, case_reference_id, person_key_id, receipt_id

SCHEMA = "intake"


class IntakeApplication(Application[uuid.UUID]):
    name = "intake"
    is_snapshotting_enabled = False

    def existing_receipt(self, agency: str, ingest_id: str) -> dict[str, Any] | None:
        try:
            receipt: IngestReceipt = self.repository.get(receipt_id(agency, ingest_id))
        except AggregateNotFoundError:
            return None
        return receipt.receipt

    def youth_for_case_ref(self, agency: str, case_ref: str) -> str | None:
        try:
            ref: CaseReference = self.repository.get(case_reference_id(agency, case_ref))
        except AggregateNotFoundError:
            return None
        return ref.youth_id

    def youth_for_person(self, pseudonym: str) -> str | None:
        try:
            key: PersonKey = self.repository.get(person_key_id(pseudonym))
        except AggregateNotFoundError:
            return None
        return key.youth_id

    def existing_ids(self, ids: list[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these aggregates exist, in one query."""
        if not ids:
            return set()
        recorder = self.recorder
        query = sql.SQL("SELECT DISTINCT originator_id FROM {} WHERE originator_id = ANY(%s)").format(
            sql.Identifier(recorder.datastore.schema, recorder.events_table_name))  # type: ignore[attr-defined]
        with recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            return {row["originator_id"] for row in conn.execute(query, (ids,))}

    def record(self, *aggregates: Any) -> bool:
        """Save all in one transaction; False if one of them already existed (a concurrent twin)."""
        try:
            self.save(*aggregates)
        except IntegrityError:
            return False
        return True
