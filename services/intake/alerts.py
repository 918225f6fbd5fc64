"""Scheduled work of the platform itself: a youth not reached for the configured number of days
gets a ContactLost event (the key worker's alert); a closed case past its retention period is
erased. Candidates come from the directory view; the decision is made
again on the youth's own history, so a stale view can delay an alert, never invent one.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import psycopg
from eventsourcing.application import AggregateNotFoundError

from events.intake import EraseYouth, FlagLostContact, YouthErased
from events.receipts import Reason
from services.intake.aggregates import YouthCase, integration_event_id
from services.intake.decisions import Context, decide, erasure_due
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


def apply_as_platform(intake: Intake, youth_id: str, make_command, now: datetime, correlation: str) -> str | None:
    """Decide a command of the platform's own (scheduler) on the youth's history and save it;
    the id of the last event recorded, or None if nothing was due. Retries a concurrent write."""
    ctx = Context(agency=PLATFORM_AGENCY, role="platform", now=now, policy=intake.policy, actor="kit-scheduler")
    for _attempt in range(3):
        try:
            history: YouthCase = intake.app.repository.get(uuid.UUID(youth_id))
        except AggregateNotFoundError:
            return None
        command = make_command(history.state)
        if command is None:
            return None
        events = decide(history.state, command, ctx)
        if not events or isinstance(events[0], Reason):
            return None
        meta = {"agency": PLATFORM_AGENCY, "actor": ctx.actor, "role": ctx.role, "ingest_id": None,
                "correlation_id": correlation, "causation_id": None}
        for event in events:
            if isinstance(event, YouthErased):  # destroy first, as for an operator's request
                for owner in event.keys_destroyed:
                    intake.vault.keys.destroy(owner)
            history.record(event, meta)  # type: ignore[arg-type]
        if intake.app.record(history):
            return integration_event_id(history.id, history.version)
    return None


def flag_lost_contacts(intake: Intake, youth_ids: list[str], now: datetime) -> list[str]:
    """Record ContactLost where it is due; returns the event ids recorded."""
    recorded = [apply_as_platform(intake, youth_id, lambda case: FlagLostContact(youth_id=youth_id), now,
                                  f"lost-contact:{youth_id}:{now.date().isoformat()}") for youth_id in youth_ids]
    return [r for r in recorded if r]


def erasure_candidates(db_url: str) -> list[str]:
    try:
        with psycopg.connect(db_url) as conn:
            return [str(r[0]) for r in conn.execute(
                "SELECT youth_id FROM views.youths WHERE closed_on IS NOT NULL AND erased_at IS NULL ORDER BY closed_on"
                " LIMIT 1000")]
    except psycopg.errors.UndefinedTable:
        return []


def erase_on_schedule(intake: Intake, youth_ids: list[str], now: datetime) -> list[str]:
    """Retention: erase the closed cases whose retention period has ended (decided on each history)."""
    def command(case):
        if not erasure_due(case, now.date(), intake.policy):
            return None
        years = (intake.policy.erase_after_closure_years or {}).get(case.country, 0)
        return EraseYouth(youth_id=case.youth_id, mode="erasure",
                          legal_reason=f"retention period ended: {years} years after the exit")
    recorded = [apply_as_platform(intake, youth_id, command, now, f"retention:{youth_id}") for youth_id in youth_ids]
    return [r for r in recorded if r]
