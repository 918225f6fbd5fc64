"""Youth directory: the youths each agency registered (the thin path's view).

Consent-scoped visibility for other agencies comes with the intake and agency-views issues.
"""

from __future__ import annotations

import psycopg

from events.envelope import CloudEvent
from events.intake import YouthRegistered


class YouthDirectory:
    name = "youth_directory"

    def create_tables(self, conn: psycopg.Connection) -> None:
        conn.execute("""
            CREATE TABLE IF NOT EXISTS views.youths (
                youth_id uuid PRIMARY KEY,
                registering_agency text NOT NULL,
                partner_case_ref text NOT NULL,
                birth_year int NOT NULL,
                country text NOT NULL,
                region text NOT NULL,
                registered_at timestamptz NOT NULL,
                source_seq bigint NOT NULL
            )""")
        conn.execute("CREATE INDEX IF NOT EXISTS youths_agency ON views.youths (registering_agency, registered_at)")

    def apply(self, conn: psycopg.Connection, event: CloudEvent) -> None:
        if event.type == YouthRegistered.type_name:
            data = YouthRegistered.model_validate(event.data)
            conn.execute(
                "INSERT INTO views.youths VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (youth_id) DO NOTHING",
                (data.youth_id, data.registering_agency, data.partner_case_ref, data.birth_year,
                 data.country, data.region, event.time, event.kitseq),
            )
        # other types are not part of this view; their position is recorded all the same