"""Scheduled alerts: a youth not reached for the configured number of days gets a ContactLost
event (the key worker's alert). Candidates come from the directory view; the decision is made
again on the youth's own history, so a stale view can delay an alert, never invent one.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import psycopg
from eventsourcing.application import AggregateNotFoundError

from events.intake import FlagLostContact
from services.intake.aggregates import YouthCase, integration_event_id
from services.intake.decisions import Context, decide
from services.intake.ingest import Intake

log = logging.getLogger("kit.intake.alerts")
PLATFORM_AGENCY = "kit-platform"

CANDIDATES = """
SELECT youth_id FROM views.youths
WHERE closed_on IS NULL AND merged_into IS NULL AND NOT lost_contact
  AND coalesce(last_contact_at, registered_at) <= %(now)s - make_interval(days => coalesce(lost_after_days, %(days)s))
ORDER BY youth_id LIMIT 1000
"""


def lost_contact_candidates(db_url: str, now: datetime, default_days: int) -> list[str]:
    try:
        with psycopg.connect(db_url) as conn:
            return [str(r[0]) for r in conn.execute(CANDIDATES, {"now": now, "days": default_days})]
    except psycopg.errors.UndefinedTable:
        return []  # the views service has not created its tables yet


def flag_lost_contacts(intake: Intake, youth_ids: list[str], now: datetime) -> list[str]:
    """Record ContactLost where it is due; returns the event ids recorded."""
    ctx = Context(agency=PLATFORM_AGENCY, role="platform", now=now, policy=intake.policy, actor="kit-scheduler")
    recorded = []
    for youth_id in youth_ids:
        for _attempt in range(3):
            try:
                history: YouthCase = intake.app.repository.get(uuid.UUID(youth_id))
            except AggregateNotFoundError:
                break
            events = decide(history.state, FlagLostContact(youth_id=youth_id), ctx)
            if not events:
                break
            correlation = f"lost-contact:{youth_id}:{now.date().isoformat()}"
            meta = {"agency": PLATFORM_AGENCY, "actor": ctx.actor, "role": ctx.role, "ingest_id": None,
                    "correlation_id": correlation, "causation_id": None}
            for event in events:
                history.record(event, meta)  # type: ignore[arg-type]
            if intake.app.record(history):
                recorded.append(integration_event_id(history.id, history.version))
                break
    return recorded
