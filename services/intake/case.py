"""The state of a youth's case and of an engagement, folded from their events (pure).

`evolve(state, event, at)` is the only way state changes; decisions read it, never write it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Mapping

from events import intake as ev
from shared.consent import Consent, ConsentState, Override
from shared.consent import evolve as evolve_consent

TERMINAL_REFERRAL = frozenset({"rejected", "completed", "failed", "cancelled"})


def frozen(mapping: dict) -> Mapping:
    return MappingProxyType(mapping)


@dataclass(frozen=True)
class Referral:
    referral_id: str
    from_agency: str
    to_agency: str
    service: str
    status: str
    transfer_lead: bool


@dataclass(frozen=True)
class Case:
    youth_id: str
    registering_agency: str
    country: str
    region: str
    birth_year: int
    registered_at: datetime
    agencies: frozenset[str]  # agencies that registered the youth or lead the case (they answer for its consents)
    consent: ConsentState = ConsentState()
    lead_agency: str | None = None
    key_worker: str | None = None
    assessed: bool = False
    project_version: int = 0
    goals: Mapping[str, ev.Goal] = field(default_factory=lambda: frozen({}))
    referrals: Mapping[str, Referral] = field(default_factory=lambda: frozen({}))
    contact_ids: frozenset[str] = frozenset()
    last_contact_at: datetime | None = None
    lost_contact: bool = False
    every_days: int | None = None
    lost_after_days: int | None = None
    related: Mapping[str, bool] = field(default_factory=lambda: frozen({}))  # id -> consents to contact
    closed: bool = False
    exited_on: date | None = None
    follow_ups_due: Mapping[int, date] = field(default_factory=lambda: frozen({}))
    follow_ups_recorded: frozenset[int] = frozenset()
    merged_into: str | None = None
    has_identity: bool = False  # the vault holds the youth's identity (replay and views show it sealed)
    engagement_ids: frozenset[str] = frozenset()  # outreach histories linked at registration
    erased: bool = False
    restricted: bool = False
    started_at: datetime | None = None  # the path's start: first outreach contact, else registration
    erasure_scheduled_for: date | None = None  # retention: the day the erasure runs unless stopped
    retention_stopped: bool = False  # an agency admin stopped a scheduled erasure: kept until asked again
    note_ids: frozenset[str] = frozenset()  # case notes added (their text is only in the vault's ciphertext)

    @property
    def path_start(self) -> datetime:
        return self.started_at or self.registered_at

    @property
    def contact_clock(self) -> datetime:
        """Since when the youth has not been reached: last successful contact, else registration."""
        return self.last_contact_at or self.registered_at


@dataclass(frozen=True)
class Engagement:
    engagement_id: str
    agency: str
    first_contact_at: datetime
    contacts: int = 0
    linked_to: str | None = None


def consent_of(terms: ev.ConsentTerms, recorded_by: str) -> Consent:
    """Recorded terms as the consent rule sees them: no recipient means the recording agency."""
    return Consent(consent_id=terms.consent_id, purpose=terms.purpose, recipient=terms.recipient or recorded_by,
                   legal_basis=terms.legal_basis, given_by=terms.given_by, notice_version=terms.notice_version,
                   given_at=terms.given_at, expires_at=terms.expires_at)


def evolve(case: Case | None, event: ev.Event, at: datetime) -> Case:
    """Apply one recorded event of a youth's case."""
    if isinstance(event, ev.YouthRegistered):
        return Case(youth_id=event.youth_id, registering_agency=event.registering_agency, country=event.country,
                    region=event.region, birth_year=event.birth_year, registered_at=at,
                    started_at=min(event.first_contact_at, at) if event.first_contact_at else at,
                    agencies=frozenset({event.registering_agency}),
                    engagement_ids=frozenset({event.engagement_id} if event.engagement_id else ()))
    assert case is not None, f"{type(event).__name__} before YouthRegistered"
    match event:
        case ev.AgencyJoined():
            return replace(case, agencies=case.agencies | {event.agency})
        case ev.IdentityRecorded():
            return replace(case, has_identity=case.has_identity or event.person_id == case.youth_id)
        case ev.YouthMerged():
            return replace(case, merged_into=event.merged_into)
        case ev.ConsentRecorded():
            return replace(case, consent=evolve_consent(case.consent, consent_of(event.consent, event.recorded_by)))
        case ev.ConsentWithdrawn():
            return _change_consent(case, event.consent_id, withdrawn_at=event.withdrawn_at)
        case ev.ConsentInvalidated():
            return _change_consent(case, event.consent_id, invalidated_at=event.invalidated_at)
        case ev.ConsentOverridden():
            override = Override(agency=event.agency, purpose=event.purpose, reason=event.reason,
                                operator=event.by_role, at=event.overridden_at, expires_at=event.expires_at)
            return replace(case, consent=evolve_consent(case.consent, override))
        case ev.YouthAssessed() | ev.VulnerabilitiesAssessed():
            return replace(case, assessed=True)
        case ev.CaseOpened():
            return replace(case, lead_agency=event.lead_agency, key_worker=event.key_worker,
                           agencies=case.agencies | {event.lead_agency})
        case ev.ProjectOfLifeAgreed():
            return replace(case, project_version=event.version, goals=frozen({g.goal_id: g for g in event.goals}))
        case ev.GoalUpdated():
            goal = case.goals[event.goal_id].model_copy(update={
                "lifecycle_status": event.lifecycle_status, "achievement_status": event.achievement_status})
            return replace(case, goals=frozen({**case.goals, event.goal_id: goal}))
        case ev.ProjectReviewRecorded():
            return case
        case ev.ReferralRequested():
            referral = Referral(event.referral_id, event.from_agency, event.to_agency, event.service, "requested",
                                event.transfer_lead)
            return replace(case, referrals=frozen({**case.referrals, event.referral_id: referral}))
        case ev.ReferralStatusChanged():
            referral = replace(case.referrals[event.referral_id], status=event.status)
            return replace(case, referrals=frozen({**case.referrals, event.referral_id: referral}))
        case ev.LeadTransferred():  # the new lead names its own key worker (assessing the youth)
            return replace(case, lead_agency=event.to_agency, key_worker=None)
        case ev.ContactLogged():
            reached = event.outcome == "reached"
            last = max(filter(None, [case.last_contact_at, event.occurred_at])) if reached else case.last_contact_at
            return replace(case, contact_ids=case.contact_ids | {event.contact_id}, last_contact_at=last,
                           lost_contact=case.lost_contact and not reached)
        case ev.YouthReengaged():
            return case
        case ev.ContactCadenceSet():
            return replace(case, every_days=event.every_days, lost_after_days=event.lost_after_days)
        case ev.ContactLost():
            return replace(case, lost_contact=True)
        case ev.RelatedPersonAdded():
            return replace(case, related=frozen({**case.related, event.related_person_id: event.consents_to_contact}))
        case ev.RelatedPersonConsentChanged():
            return replace(case, related=frozen({**case.related, event.related_person_id: event.consents_to_contact}))
        case ev.CaseClosed():
            return replace(case, closed=True, exited_on=event.exited_on,
                           follow_ups_due=frozen({f.checkpoint_months: f.due_on for f in event.follow_ups}))
        case ev.ErasureScheduled():
            return replace(case, erasure_scheduled_for=event.scheduled_for)
        case ev.ScheduledErasureCancelled():
            return replace(case, erasure_scheduled_for=None, retention_stopped=True)
        case ev.YouthErased():
            return replace(case, erased=True, erasure_scheduled_for=None)
        case ev.ProcessingRestricted():
            return replace(case, restricted=True)
        case ev.CaseNoteAdded():
            return replace(case, note_ids=case.note_ids | {event.note_id})
        case ev.FollowUpRecorded():
            return replace(case, follow_ups_recorded=case.follow_ups_recorded | {event.checkpoint_months})
    raise TypeError(f"a youth's case has no rule for {type(event).__name__}")


def _change_consent(case: Case, consent_id: str, **change) -> Case:
    consent = next(c for c in case.consent.consents if c.consent_id == consent_id)
    return replace(case, consent=evolve_consent(case.consent, replace(consent, **change)))


def evolve_engagement(state: Engagement | None, event: ev.Event, at: datetime) -> Engagement:
    if isinstance(event, ev.OutreachContactRecorded):
        if state is None:
            return Engagement(engagement_id=event.engagement_id, agency=event.agency,
                              first_contact_at=event.occurred_at, contacts=1)
        return replace(state, contacts=state.contacts + 1, first_contact_at=min(state.first_contact_at, event.occurred_at))
    if isinstance(event, ev.EngagementLinked):
        assert state is not None
        return replace(state, linked_to=event.youth_id)
    raise TypeError(f"an engagement has no rule for {type(event).__name__}")


def audit_summary(case: Case, at: datetime) -> dict[str, Any]:
    """The case as an auditor's replay shows it at an instant."""
    return {
        "youth_id": case.youth_id, "as_of": at.isoformat(), "registering_agency": case.registering_agency,
        "country": case.country, "region": case.region, "agencies": sorted(case.agencies),
        "lead_agency": case.lead_agency, "key_worker": case.key_worker, "assessed": case.assessed,
        "consents": [{"consent_id": c.consent_id, "purpose": c.purpose, "recipient": c.recipient,
                      "legal_basis": c.legal_basis, "given_by": c.given_by, "in_force": c.in_force(at)}
                     for c in case.consent.consents],
        "overrides": [{"agency": o.agency, "purpose": o.purpose, "reason": o.reason,
                       "in_force": o.at <= at < o.expires_at} for o in case.consent.overrides],
        "project_of_life_version": case.project_version,
        "goals": {gid: {"lifecycle_status": g.lifecycle_status, "achievement_status": g.achievement_status}
                  for gid, g in case.goals.items()},
        "referrals": {rid: {"to_agency": r.to_agency, "service": r.service, "status": r.status}
                      for rid, r in case.referrals.items()},
        "last_contact_at": case.last_contact_at.isoformat() if case.last_contact_at else None,
        "lost_contact": case.lost_contact, "closed": case.closed,
        "exited_on": case.exited_on.isoformat() if case.exited_on else None,
        "merged_into": case.merged_into, "erased": case.erased, "restricted": case.restricted,
        "erasure_scheduled_for": case.erasure_scheduled_for.isoformat() if case.erasure_scheduled_for else None,
        "retention_stopped": case.retention_stopped,
    }
