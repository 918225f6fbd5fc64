"""Builders for the intake decision tests: a case folded from events, a context, terms, outcomes.

`given(*events)` folds events with `case.evolve` (the only way state changes), so the tests set
up state exactly as the store would; no mocks.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from events import intake as ev
from events.receipts import Reason
from services.intake.case import Case, evolve
from services.intake.decisions import Context, decide
from services.intake.policy import parse_policy

POLICY_FILE = Path(__file__).resolve().parents[2] / "deploy" / "policy.toml"
POLICY = parse_policy(POLICY_FILE.read_text(encoding="utf-8"))
NOTICE = "2026-1"  # the current privacy notice in IT and CH (deploy/policy.toml)

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
REGISTERED_AT = NOW - 10 * DAY

# Agencies of the register (deploy/policy.toml) and their categories.
MILANO = "comune-milano-m7"      # municipal_youth_service, IT
AFOL = "afol-milano"             # employment_service, IT
TORINO = "cfp-torino"            # training_body, IT
LUGANO = "ngo-lugano"            # ngo, CH
TICINO = "ufficio-giovani-ti"    # cantonal_youth_service, CH
EMPLOYMENT = "employment-service"  # employment_service, IT
OTHER = "other-agency"           # ngo, IT


def uid(n: int) -> str:
    """A deterministic UUID (the ids of youths, consents, referrals, contacts...)."""
    return f"00000000-0000-4000-8000-{n:012d}"


YOUTH = uid(1)
DUPLICATE = uid(2)
CM_CONSENT = uid(100)  # the registering agency's case-management consent


def ctx(agency: str = MILANO, role: str = "key_worker", now: datetime = NOW, policy=POLICY, **kw) -> Context:
    return Context(agency=agency, role=role, now=now, policy=policy, **kw)


def terms(cid: str = CM_CONSENT, purpose: str = "case_management", recipient: str | None = None, *,
          legal_basis: str = "consent", given_by: str = "youth", notice: str = NOTICE,
          given_at: datetime = REGISTERED_AT, expires_at: datetime | None = None) -> ev.ConsentTerms:
    return ev.ConsentTerms(consent_id=cid, purpose=purpose, recipient=recipient, legal_basis=legal_basis,
                           given_by=given_by, notice_version=notice, given_at=given_at, expires_at=expires_at)


# ---------------------------------------------------------------- events (the "given" part)

def registered(youth_id: str = YOUTH, agency: str = MILANO, *, birth_year: int = 2000, country: str = "IT",
               region: str = "IT-25", case_ref: str = "MI7-1") -> ev.YouthRegistered:
    return ev.YouthRegistered(youth_id=youth_id, registering_agency=agency, partner_case_ref=case_ref,
                              birth_year=birth_year, country=country, region=region)


def consented(cid: str = CM_CONSENT, purpose: str = "case_management", recipient: str | None = None, *,
              by: str = MILANO, youth_id: str = YOUTH, **kw) -> ev.ConsentRecorded:
    return ev.ConsentRecorded(youth_id=youth_id, consent=terms(cid, purpose, recipient, **kw), recorded_by=by)


def shares_with(agency: str, cid: str, *, by: str = MILANO, **kw) -> ev.ConsentRecorded:
    return consented(cid, "sharing", agency, by=by, **kw)


def opened(lead: str = MILANO, key_worker: str = "kw-1", youth_id: str = YOUTH) -> ev.CaseOpened:
    return ev.CaseOpened(youth_id=youth_id, lead_agency=lead, key_worker=key_worker)


def withdrawn(cid: str, at: datetime, youth_id: str = YOUTH) -> ev.ConsentWithdrawn:
    return ev.ConsentWithdrawn(youth_id=youth_id, consent_id=cid, withdrawn_at=at)


def overridden(agency: str, *, purpose: str = "sharing", at: datetime = NOW - DAY, expires_at: datetime = NOW + DAY,
               youth_id: str = YOUTH) -> ev.ConsentOverridden:
    return ev.ConsentOverridden(youth_id=youth_id, agency=agency, purpose=purpose, reason="risk of harm: see file 12",
                                expires_at=expires_at, overridden_at=at, by_agency=MILANO, by_role="supervisor")


def referred(referral_id: str, to: str, *, by: str = MILANO, transfer_lead: bool = False,
             youth_id: str = YOUTH) -> ev.ReferralRequested:
    return ev.ReferralRequested(youth_id=youth_id, referral_id=referral_id, from_agency=by, to_agency=to,
                                service="ips_placement", reason="job search support", transfer_lead=transfer_lead,
                                basis="consent:x")


def referral_moved(referral_id: str, to: str, previous: str, status: str, *, by: str = MILANO,
                   youth_id: str = YOUTH) -> ev.ReferralStatusChanged:
    return ev.ReferralStatusChanged(youth_id=youth_id, referral_id=referral_id, from_agency=by, to_agency=to,
                                    previous_status=previous, status=status, by_agency=to)


def goal(goal_id: str, lifecycle: str = "active", achievement: str | None = None) -> ev.Goal:
    return ev.Goal(goal_id=goal_id, description="find an apprenticeship", category="employment",
                   lifecycle_status=lifecycle, achievement_status=achievement)


def given(*events: ev.Event, at: datetime = REGISTERED_AT) -> Case:
    """The case folded from these events, all recorded at `at`."""
    case = None
    for event in events:
        case = evolve(case, event, at)
    assert case is not None
    return case


def then(case: Case, events: list, at: datetime = NOW) -> Case:
    """Fold decided events into the case (what the store does once they are recorded)."""
    assert_events(events)
    for event in events:
        case = evolve(case, event, at)
    return case


# A registered youth whose registering agency has a case-management consent in force.
def registered_with_consent(**kw) -> tuple[ev.Event, ...]:
    return registered(**kw), consented()


# ... and whose case is opened by the assessment (lead: the registering agency).
def open_case(*more: ev.Event, at: datetime = REGISTERED_AT, **kw) -> Case:
    return given(*registered_with_consent(**kw), opened(), *more, at=at)


# ---------------------------------------------------------------- when / then

def when(case: Case, command: ev.Command, **context) -> list:
    return decide(case, command, ctx(**context))


def codes(outcome) -> list[str]:
    assert isinstance(outcome, list) and outcome and all(isinstance(r, Reason) for r in outcome), outcome
    return [r.code for r in outcome]


def rejected(outcome) -> list[tuple[str, str]]:
    """(field, code) of each reason."""
    codes(outcome)
    return [(r.field, r.code) for r in outcome]


def assert_events(outcome) -> list[ev.Event]:
    assert isinstance(outcome, list) and all(isinstance(e, ev.Event) for e in outcome), outcome
    return outcome


def types(outcome) -> list[type]:
    return [type(e) for e in assert_events(outcome)]
