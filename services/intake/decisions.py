"""Pure intake decisions: (state, command, context) -> events, or reasons the sender can act on.

No I/O here. What needs I/O (unsealing identity, vault keys, index lookups) is done by the
caller, which passes the results in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Callable

from events import intake as ev
from events.receipts import Reason
from shared.roles import may
from services.intake.case import Case, Engagement, consent_of
from shared.consent import ConsentState, Visibility, give, invalidate, may_see, record_override, withdraw
from services.intake.policy import Policy

MIN_AGE, MAX_AGE = 15, 30
ADULT_AGE = 18
TERMINAL_GOAL = frozenset({"completed", "cancelled", "rejected"})
CLOCK_SKEW = timedelta(minutes=5)
FOLLOW_UP_WINDOW_DAYS = 31  # a follow-up within a month of its date counts as on time (and not earlier)
BACKDATE_HORIZON = timedelta(days=2 * 366)  # a contact or the start of a path is recorded within two years
MAX_REVIEW_AHEAD = timedelta(days=2 * 366)  # a Project of Life is reviewed at least every two years

Decision = list[ev.Event] | list[Reason]


@dataclass(frozen=True)
class Context:
    """Who acts, when, under which policy; and what the caller encrypted for the vault (an
    identity, an outreach handle, a case note) as `identity_ciphertext`."""

    agency: str
    role: str
    now: datetime
    policy: Policy
    actor: str | None = None
    identity_ciphertext: str | None = None


def reason(field: str, code: str, message: str) -> Reason:
    return Reason(field=field, code=code, message=message)


def youngest_age(birth_year: int, at: datetime) -> int:
    """Only the birth year is outside the vault: assume the youngest age it allows (fail-closed)."""
    return max(0, at.year - birth_year - 1)


def visibility(case: Case, agency: str, purpose: str, at: datetime, policy: Policy) -> Visibility:
    return may_see(case.consent, agency=agency, agency_category=policy.category_of(agency), purpose=purpose, at=at)


def may_access(case: Case, agency: str, at: datetime, policy: Policy) -> bool:
    """The one question the platform asks before showing or changing a youth's record: a consent
    (or legal basis) in force for case management by this agency, or to share with it, or an
    override recorded for it. Fail-closed."""
    if case.merged_into is not None:
        return False
    return any(visibility(case, agency, purpose, at, policy).allowed for purpose in ("case_management", "sharing"))


# ---------------------------------------------------------------- registration

@dataclass(frozen=True)
class Registration:
    youth_id: str  # the new youth, or the existing one the national id matched
    youth_events: list[ev.Event]
    engagement_events: list[ev.Event]
    notices: list[Reason]
    matched: bool


def decide_register_youth(
    command: ev.RegisterYouth, ctx: Context, *, new_youth_id: str, existing_youth_for_case_ref: str | None,
    matched: Case | None, engagement: Engagement | None,
) -> Registration | list[Reason]:
    reasons: list[Reason] = []
    if existing_youth_for_case_ref is not None:
        reasons.append(reason("data.partner_case_ref", "already_registered",
                              f"this agency already registered this case reference as youth {existing_youth_for_case_ref}"))
    age = ctx.now.year - command.birth_year
    if not MIN_AGE - 1 <= age <= MAX_AGE:  # birth year only: allow the year of the 15th birthday
        reasons.append(reason("data.birth_year", "out_of_target_age",
                              f"the platform serves youths aged {MIN_AGE}-{MAX_AGE}; this birth year gives {age}"))
    if not command.region.startswith(command.country + "-"):
        reasons.append(reason("data.region", "region_country_mismatch",
                              f"region must be a subdivision of {command.country} (e.g. {command.country}-...)"))
    if command.engagement_handle is not None:
        if engagement is None:
            reasons.append(reason("data.engagement_handle", "unknown_engagement",
                                  "no outreach contact was recorded by this agency under this handle"))
        elif engagement.linked_to is not None:
            reasons.append(reason("data.engagement_handle", "engagement_already_linked",
                                  f"this engagement history is already linked to youth {engagement.linked_to}"))
    if command.path_started_at is not None and command.path_started_at > ctx.now + CLOCK_SKEW:
        reasons.append(reason("data.path_started_at", "in_the_future", "a path starts before it is registered"))
    if command.path_started_at is not None and command.path_started_at < ctx.now - BACKDATE_HORIZON:
        reasons.append(reason("data.path_started_at", "too_far_back", "a path started at most two years ago"))
    if matched is not None and ctx.agency in matched.agencies:
        reasons.append(reason("data.sealed_identity", "already_registered",
                              f"your agency already registered this person as youth {matched.youth_id}"))
    if reasons:
        return reasons

    youth_id = matched.youth_id if matched else new_youth_id
    if matched is None:
        outreach = engagement.first_contact_at if engagement and command.engagement_handle else None
        first = min(filter(None, [outreach, command.path_started_at]), default=None)
        head: list[ev.Event] = [ev.YouthRegistered(
            youth_id=youth_id, registering_agency=ctx.agency, partner_case_ref=command.partner_case_ref,
            birth_year=command.birth_year, country=command.country, region=command.region,
            engagement_id=engagement.engagement_id if outreach else None, first_contact_at=first)]
        state = Case(youth_id=youth_id, registering_agency=ctx.agency, country=command.country,
                     region=command.region, birth_year=command.birth_year, registered_at=ctx.now,
                     agencies=frozenset({ctx.agency}))
    else:
        head = [ev.AgencyJoined(youth_id=youth_id, agency=ctx.agency, partner_case_ref=command.partner_case_ref,
                                matched_by="national_id")]
        state = replace(matched, agencies=matched.agencies | {ctx.agency})

    consents: list[ev.Event] = []
    for i, terms in enumerate(command.consents):
        decided = decide_consent(state, terms, ctx, field=f"data.consents.{i}")
        if isinstance(decided, list):
            reasons += decided
            continue
        consents.append(decided)
        state = replace(state, consent=ConsentState(
            consents=(*state.consent.consents, consent_of(decided.consent, decided.recorded_by)), overrides=state.consent.overrides))
    # consents dated a little ahead of our clock (allowed skew) count as given now
    at = max([ctx.now, *(t.given_at for t in command.consents)])
    if not reasons and not visibility(state, ctx.agency, "case_management", at, ctx.policy).allowed:
        reasons.append(reason("data.consents", "consent_required",
                              "registration needs a consent (or other legal basis) in force for case management "
                              "by the registering agency: add it to `consents` (purpose case_management)"))
    if reasons:
        return reasons

    identity = ([ev.IdentityRecorded(youth_id=youth_id, person_id=youth_id, ciphertext=ctx.identity_ciphertext)]
                if ctx.identity_ciphertext and matched is None else [])
    linked = ([ev.EngagementLinked(engagement_id=engagement.engagement_id, youth_id=youth_id)]
              if engagement and command.engagement_handle else [])
    notices = []
    if matched is not None:
        notices.append(reason("data.sealed_identity", "matched_existing_youth",
                              f"this person is already registered as youth {youth_id}; your case reference "
                              "is linked to that record and your agency joined the case (the identity on file is kept)"))
    return Registration(youth_id=youth_id, youth_events=[*head, *identity, *consents], engagement_events=linked,
                        notices=notices, matched=matched is not None)


def decide_outreach_contact(command: ev.RecordOutreachContact, ctx: Context, *, engagement_id: str,
                            engagement: Engagement | None) -> list[ev.Event] | list[Reason]:
    if command.occurred_at > ctx.now + CLOCK_SKEW:
        return [reason("data.occurred_at", "in_the_future", "an outreach contact cannot be recorded before it happens")]
    if command.occurred_at < ctx.now - BACKDATE_HORIZON:
        return [reason("data.occurred_at", "too_far_back", "record an outreach contact within two years of it")]
    if engagement is not None and engagement.linked_to is not None:
        return [reason("data.handle", "engagement_already_linked",
                       f"this handle belongs to registered youth {engagement.linked_to}: log contacts on the youth")]
    if command.territory.country == "CH" and command.territory.canton is None:
        return [reason("data.territory.canton", "missing", "a Swiss territory needs its canton (e.g. CH-TI)")]
    return [ev.OutreachContactRecorded(
        engagement_id=engagement_id, agency=ctx.agency, handle_ciphertext=ctx.identity_ciphertext or "",
        place_type=command.place_type,
        territory=command.territory, channel=command.channel, outcome=command.outcome,
        occurred_at=command.occurred_at)]


# ---------------------------------------------------------------- consent

def decide_consent(case: Case, terms: ev.ConsentTerms, ctx: Context, field: str = "data.consent") -> ev.ConsentRecorded | list[Reason]:
    reasons = []
    if terms.purpose == "sharing" and terms.recipient is None:
        reasons.append(reason(f"{field}.recipient", "missing", "sharing needs a recipient agency or `category:<type>`"))
    if terms.recipient and not terms.recipient.startswith("category:") and ctx.policy.agency(terms.recipient) is None:
        reasons.append(reason(f"{field}.recipient", "unknown_agency", "the recipient is not in the agency register"))
    if terms.given_at > ctx.now + CLOCK_SKEW:
        reasons.append(reason(f"{field}.given_at", "in_the_future", "a consent cannot be recorded before it is given"))
    candidate = consent_of(terms, ctx.agency)
    decided = give(case.consent, candidate, age=youngest_age(case.birth_year, terms.given_at), country=case.country,
                   rules=ctx.policy.consent_rules, current_notice=ctx.policy.notice_versions.get(case.country, ""))
    if isinstance(decided, list):
        reasons += [r.model_copy(update={"field": f"{field}.{r.field}".rstrip(".")}) for r in decided]
    return reasons or ev.ConsentRecorded(youth_id=case.youth_id, consent=terms, recorded_by=ctx.agency)


def _record_consent(case: Case, c: ev.RecordConsent, ctx: Context) -> Decision:
    decided = decide_consent(case, c.consent, ctx)
    return decided if isinstance(decided, list) else [decided]


def _withdraw_consent(case: Case, c: ev.WithdrawConsent, ctx: Context) -> Decision:
    at = c.withdrawn_at or ctx.now
    if at > ctx.now + CLOCK_SKEW:
        return [reason("data.withdrawn_at", "in_the_future", "a withdrawal takes effect when recorded, not later")]
    decided = withdraw(case.consent, c.consent_id, at=at)
    if isinstance(decided, list):
        return [r.model_copy(update={"field": f"data.{r.field}"}) for r in decided]
    return [ev.ConsentWithdrawn(youth_id=case.youth_id, consent_id=c.consent_id, withdrawn_at=at)]


def _invalidate_consent(case: Case, c: ev.InvalidateConsent, ctx: Context) -> Decision:
    decided = invalidate(case.consent, c.consent_id, at=ctx.now, reason=c.reason)
    if isinstance(decided, list):
        return [r.model_copy(update={"field": f"data.{r.field}"}) for r in decided]
    return [ev.ConsentInvalidated(youth_id=case.youth_id, consent_id=c.consent_id, reason=c.reason,
                                  invalidated_at=ctx.now)]


def _override_consent(case: Case, c: ev.OverrideConsent, ctx: Context) -> Decision:
    if ctx.policy.agency(c.agency) is None:
        return [reason("data.agency", "unknown_agency", "the agency is not in the agency register")]
    decided = record_override(agency=c.agency, purpose=c.purpose, reason=c.reason, operator=ctx.actor or ctx.role,
                              may_override=may(ctx.role, "consent.override"), at=ctx.now, expires_at=c.expires_at)
    if isinstance(decided, list):
        return [r.model_copy(update={"field": f"data.{r.field}".rstrip(".")}) for r in decided]
    return [ev.ConsentOverridden(youth_id=case.youth_id, agency=c.agency, purpose=c.purpose, reason=c.reason,
                                 expires_at=c.expires_at, overridden_at=ctx.now, by_agency=ctx.agency,
                                 by_role=ctx.role, by_actor=ctx.actor)]


# ---------------------------------------------------------------- assessment and Project of Life

def _assess(case: Case, c: ev.AssessYouth, ctx: Context) -> Decision:
    reasons = []
    if ctx.policy.agency(c.lead_agency) is None:
        reasons.append(reason("data.lead_agency", "unknown_agency", "the lead agency is not in the agency register"))
    elif case.lead_agency is not None and c.lead_agency != case.lead_agency:
        reasons.append(reason("data.lead_agency", "lead_is_transferred_by_referral",
                              f"the lead agency is {case.lead_agency}; change it with a referral that transfers the lead"))
    elif c.lead_agency != ctx.agency and not may_access(case, c.lead_agency, ctx.now, ctx.policy):
        reasons.append(reason("data.lead_agency", "no_consent_for_lead_agency",
                              "the youth has no consent in force for the lead agency to see the case"))
    if c.neet_since is not None and c.neet_since > ctx.now.date():
        reasons.append(reason("data.neet_since", "in_the_future", "NEET since a date that has not come"))
    if c.neet_since is not None and c.neet_since.year < case.birth_year:
        reasons.append(reason("data.neet_since", "before_birth", "NEET since a date before the youth's birth year"))
    if reasons:
        return reasons
    events: list[ev.Event] = [
        ev.YouthAssessed(youth_id=case.youth_id, neet_status=c.neet_status, neet_since=c.neet_since,
                         education_level=c.education_level, family_context=c.family_context,
                         aspirations=list(c.aspirations)),
        ev.VulnerabilitiesAssessed(youth_id=case.youth_id, vulnerabilities=c.vulnerabilities),
    ]
    if (case.lead_agency, case.key_worker) != (c.lead_agency, c.key_worker):
        events.append(ev.CaseOpened(youth_id=case.youth_id, lead_agency=c.lead_agency, key_worker=c.key_worker))
    return events


def _agree_project(case: Case, c: ev.AgreeProjectOfLife, ctx: Context) -> Decision:
    reasons = []
    if case.lead_agency is None:
        return [reason("data.youth_id", "case_not_open", "assess the youth first: the assessment opens the case")]
    if c.based_on_version != case.project_version:
        reasons.append(reason("data.based_on_version", "stale_version",
                              f"the current Project of Life is version {case.project_version}; revise that one"))
    if not c.agreed_by_youth:
        reasons.append(reason("data.agreed_by_youth", "youth_agreement_required",
                              "the Project of Life is co-produced: record the youth's agreement"))
    if youngest_age(case.birth_year, ctx.now) < ADULT_AGE and not c.agreed_by_guardian:
        reasons.append(reason("data.agreed_by_guardian", "guardian_agreement_required",
                              "the youth may be a minor: the guardian agrees too"))
    ids = [g.goal_id for g in c.goals]
    if len(ids) != len(set(ids)):
        reasons.append(reason("data.goals", "duplicate_goal_id", "each goal needs its own goal_id"))
    if c.next_review_due <= ctx.now.date():
        reasons.append(reason("data.next_review_due", "not_in_the_future", "schedule the next review after today"))
    elif c.next_review_due > (ctx.now + MAX_REVIEW_AHEAD).date():
        reasons.append(reason("data.next_review_due", "too_far_ahead", "schedule the next review within two years"))
    if reasons:
        return reasons
    return [ev.ProjectOfLifeAgreed(youth_id=case.youth_id, version=case.project_version + 1, goals=list(c.goals),
                                   next_review_due=c.next_review_due, agreed_by_youth=c.agreed_by_youth,
                                   agreed_by_guardian=c.agreed_by_guardian)]


def _update_goal(case: Case, c: ev.UpdateGoal, ctx: Context) -> Decision:
    goal = case.goals.get(c.goal_id)
    if goal is None:
        return [reason("data.goal_id", "unknown_goal", "no such goal in the current Project of Life")]
    if goal.lifecycle_status in TERMINAL_GOAL:
        return [reason("data.lifecycle_status", "goal_closed",
                       f"the goal is {goal.lifecycle_status}; add a new goal in a revision instead")]
    # an achievement status left out stays as it was
    achievement = c.achievement_status if "achievement_status" in c.model_fields_set else goal.achievement_status
    if (goal.lifecycle_status, goal.achievement_status) == (c.lifecycle_status, achievement):
        return [reason("data", "no_change", "the goal already has these statuses")]
    return [ev.GoalUpdated(youth_id=case.youth_id, project_version=case.project_version, goal_id=c.goal_id,
                           lifecycle_status=c.lifecycle_status, achievement_status=achievement)]


def _review_project(case: Case, c: ev.RecordProjectReview, ctx: Context) -> Decision:
    reasons = []
    if case.project_version == 0:
        return [reason("data.youth_id", "no_project_of_life", "agree a Project of Life before reviewing it")]
    if c.held_on > ctx.now.date():
        reasons.append(reason("data.held_on", "in_the_future", "record a review once it is held"))
    if c.held_on < case.path_start.date():
        reasons.append(reason("data.held_on", "before_path_start", "a review cannot precede the youth's path"))
    if c.next_review_due <= c.held_on:
        reasons.append(reason("data.next_review_due", "not_after_review", "the next review comes after this one"))
    elif c.next_review_due > c.held_on + MAX_REVIEW_AHEAD:
        reasons.append(reason("data.next_review_due", "too_far_ahead", "schedule the next review within two years"))
    return reasons or [ev.ProjectReviewRecorded(youth_id=case.youth_id, project_version=case.project_version,
                                                held_on=c.held_on, outcome=c.outcome,
                                                next_review_due=c.next_review_due)]


# ---------------------------------------------------------------- referrals (FHIR Task)

REFERRAL_MOVES: dict[str, frozenset[str]] = {
    "requested": frozenset({"accepted", "rejected", "cancelled"}),
    "accepted": frozenset({"in-progress", "completed", "failed", "cancelled"}),
    "in-progress": frozenset({"completed", "failed", "cancelled"}),
}


def referral_move_allowed(current: str, new: str) -> bool:
    return new in REFERRAL_MOVES.get(current, frozenset())


def _request_referral(case: Case, c: ev.RequestReferral, ctx: Context) -> Decision:
    if c.referral_id in case.referrals:
        return [reason("data.referral_id", "duplicate", "this referral id is already used for this youth")]
    if ctx.policy.agency(c.to_agency) is None:
        return [reason("data.to_agency", "unknown_agency", "the receiving agency is not in the agency register")]
    if c.to_agency == ctx.agency:
        return [reason("data.to_agency", "self_referral", "refer to another agency")]
    lead = case.lead_agency or case.registering_agency  # before the assessment, as for the "lead" commands
    if c.transfer_lead and lead != ctx.agency:
        return [reason("data.transfer_lead", "not_lead_agency", f"only the lead agency ({lead}) transfers the lead")]
    sharing = visibility(case, c.to_agency, "sharing", ctx.now, ctx.policy)
    if not sharing.allowed:
        return [reason("data.to_agency", "no_consent_to_share",
                       f"the youth has no consent in force to share with {c.to_agency}: record a consent "
                       "(purpose sharing, recipient that agency or its category) or an override with a reason")]
    return [ev.ReferralRequested(youth_id=case.youth_id, referral_id=c.referral_id, from_agency=ctx.agency,
                                 to_agency=c.to_agency, service=c.service, reason=c.reason,
                                 transfer_lead=c.transfer_lead, basis=sharing.basis)]


def _move_referral(case: Case, referral_id: str, new: str, ctx: Context, *, by: str, note: str | None) -> Decision:
    referral = case.referrals.get(referral_id)
    if referral is None:
        return [reason("data.referral_id", "unknown_referral", "no such referral for this youth")]
    party = referral.to_agency if by == "receiver" else referral.from_agency
    if ctx.agency != party:
        return [reason("data.referral_id", "not_your_referral",
                       f"only the {'receiving' if by == 'receiver' else 'referring'} agency ({party}) may do this")]
    if not referral_move_allowed(referral.status, new):
        return [reason("data.status", "invalid_transition", f"a referral that is {referral.status} cannot become {new}")]
    lead = case.lead_agency or case.registering_agency
    if new == "accepted" and referral.transfer_lead and lead != referral.from_agency:
        return [reason("data.referral_id", "lead_changed",
                       f"the lead agency is now {lead}, not the referring agency: this referral can no longer "
                       "transfer the lead (reject it, or ask the lead agency for a new referral)")]
    events: list[ev.Event] = [ev.ReferralStatusChanged(
        youth_id=case.youth_id, referral_id=referral_id, from_agency=referral.from_agency,
        to_agency=referral.to_agency, previous_status=referral.status, status=new, note=note, by_agency=ctx.agency)]  # type: ignore[arg-type]
    if new == "accepted" and referral.transfer_lead:
        events.append(ev.LeadTransferred(youth_id=case.youth_id, from_agency=lead,
                                         to_agency=referral.to_agency, referral_id=referral_id))
    return events


def _respond_referral(case: Case, c: ev.RespondToReferral, ctx: Context) -> Decision:
    if c.decision == "rejected" and not c.reason:
        return [reason("data.reason", "missing", "say why the referral is rejected (the referrer reads it)")]
    if c.decision == "accepted" and case.closed:
        return [reason("data.decision", "case_closed", "the case is closed: the referral can only be rejected")]
    referral = case.referrals.get(c.referral_id)
    if (c.decision == "accepted" and referral is not None and ctx.agency == referral.to_agency
            and not visibility(case, referral.to_agency, "sharing", ctx.now, ctx.policy).allowed
            and not visibility(case, referral.to_agency, "case_management", ctx.now, ctx.policy).allowed):
        return [reason("data.decision", "consent_no_longer_in_force",
                       "the consent to share with your agency is no longer in force")]
    return _move_referral(case, c.referral_id, c.decision, ctx, by="receiver", note=c.reason)


def _update_referral(case: Case, c: ev.UpdateReferral, ctx: Context) -> Decision:
    return _move_referral(case, c.referral_id, c.status, ctx, by="receiver", note=c.outcome)


def _cancel_referral(case: Case, c: ev.CancelReferral, ctx: Context) -> Decision:
    return _move_referral(case, c.referral_id, "cancelled", ctx, by="referrer", note=c.reason)


# ---------------------------------------------------------------- keep in touch

def _log_contact(case: Case, c: ev.LogContact, ctx: Context) -> Decision:
    if c.contact_id in case.contact_ids:
        return [reason("data.contact_id", "duplicate", "this contact id is already logged for this youth")]
    if c.occurred_at > ctx.now + CLOCK_SKEW:
        return [reason("data.occurred_at", "in_the_future", "log a contact once it happened")]
    if c.occurred_at < case.path_start - CLOCK_SKEW:
        return [reason("data.occurred_at", "before_path_start",
                       "a contact before the youth's path began (first contact or registration) is not the case's")]
    for i, person in enumerate(c.related_person_ids):
        if person not in case.related:
            return [reason(f"data.related_person_ids.{i}", "unknown_related_person", "no such related person")]
        if not case.related[person]:
            return [reason(f"data.related_person_ids.{i}", "no_related_person_consent",
                           "this related person has not consented to be contacted")]
    if (c.contact_type == "family_meeting" or c.related_person_ids) and not visibility(
            case, ctx.agency, "family_contact", ctx.now, ctx.policy).allowed:
        return [reason("data.contact_type", "no_family_contact_consent",
                       "the youth has not consented to family contact by your agency")]
    events: list[ev.Event] = [ev.ContactLogged(
        youth_id=case.youth_id, contact_id=c.contact_id, agency=ctx.agency, contact_type=c.contact_type,
        channel=c.channel, outcome=c.outcome, occurred_at=c.occurred_at, related_person_ids=list(c.related_person_ids))]
    if case.lost_contact and c.outcome == "reached":
        events.append(ev.YouthReengaged(youth_id=case.youth_id, contact_id=c.contact_id, agency=ctx.agency,
                                        days_without_contact=(c.occurred_at - case.contact_clock).days))
    return events


def _set_cadence(case: Case, c: ev.SetContactCadence, ctx: Context) -> Decision:
    lost_after = c.lost_after_days or ctx.policy.lost_contact_days
    if lost_after < c.every_days:
        return [reason("data.lost_after_days", "shorter_than_cadence", "the alert threshold must not be shorter than the cadence")]
    return [ev.ContactCadenceSet(youth_id=case.youth_id, every_days=c.every_days, lost_after_days=lost_after)]


def lost_contact_due(case: Case, now: datetime, policy: Policy) -> int | None:
    """Days without contact if the alert is due now, else None."""
    if case.closed or case.merged_into or case.lost_contact:
        return None
    days = (now - case.contact_clock).days
    return days if days >= (case.lost_after_days or policy.lost_contact_days) else None


def _flag_lost_contact(case: Case, c: ev.FlagLostContact, ctx: Context) -> Decision:
    days = lost_contact_due(case, ctx.now, ctx.policy)
    if days is None:
        return []
    return [ev.ContactLost(youth_id=case.youth_id, last_contact_at=case.contact_clock, days_without_contact=days,
                           lead_agency=case.lead_agency, key_worker=case.key_worker)]


def _add_related_person(case: Case, c: ev.AddRelatedPerson, ctx: Context) -> Decision:
    if c.related_person_id in case.related:
        return [reason("data.related_person_id", "duplicate", "this related person is already recorded")]
    events: list[ev.Event] = [ev.RelatedPersonAdded(youth_id=case.youth_id, related_person_id=c.related_person_id,
                                                    relationship=c.relationship, consents_to_contact=c.consents_to_contact)]
    if ctx.identity_ciphertext:
        events.append(ev.IdentityRecorded(youth_id=case.youth_id, person_id=c.related_person_id,
                                          ciphertext=ctx.identity_ciphertext))
    return events


def _related_person_consent(case: Case, c: ev.RecordRelatedPersonConsent, ctx: Context) -> Decision:
    if c.related_person_id not in case.related:
        return [reason("data.related_person_id", "unknown_related_person", "no such related person")]
    if case.related[c.related_person_id] == c.consents_to_contact:
        return [reason("data.consents_to_contact", "no_change", "this consent is already recorded")]
    return [ev.RelatedPersonConsentChanged(youth_id=case.youth_id, related_person_id=c.related_person_id,
                                           consents_to_contact=c.consents_to_contact)]


def _record_identity(case: Case, c: ev.RecordIdentity, ctx: Context) -> Decision:
    assert ctx.identity_ciphertext, "the caller seals the identity into the vault first"
    return [ev.IdentityRecorded(youth_id=case.youth_id, person_id=case.youth_id, ciphertext=ctx.identity_ciphertext)]


# ---------------------------------------------------------------- case notes

def _add_case_note(case: Case, c: ev.AddCaseNote, ctx: Context) -> Decision:
    """A note sent again (same note_id) is accepted once: nothing new is recorded. The caller
    encrypts the text with the youth's key first; no ciphertext means the key is destroyed."""
    if c.note_id in case.note_ids:
        return []
    if not c.text.strip():
        return [reason("data.text", "empty", "write the note: it holds only spaces")]
    if not ctx.identity_ciphertext:
        return [reason("data.youth_id", "erased", "this youth's personal data was erased; the record is closed")]
    return [ev.CaseNoteAdded(youth_id=case.youth_id, note_id=c.note_id, ciphertext=ctx.identity_ciphertext)]


# ---------------------------------------------------------------- closure and follow-up

def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _close_case(case: Case, c: ev.CloseCase, ctx: Context) -> Decision:
    if c.exited_on > ctx.now.date():
        return [reason("data.exited_on", "in_the_future", "close the case on or after the exit date")]
    if c.exited_on < case.path_start.date():
        return [reason("data.exited_on", "before_path_start",
                       "the exit cannot precede the youth's path (first contact or registration)")]
    follow_ups = [ev.FollowUp(checkpoint_months=m, due_on=add_months(c.exited_on, m))  # type: ignore[arg-type]
                  for m in ctx.policy.follow_up_months]
    return [ev.CaseClosed(youth_id=case.youth_id, destination=c.destination, exited_on=c.exited_on,
                          follow_ups=follow_ups)]


def _record_follow_up(case: Case, c: ev.RecordFollowUp, ctx: Context) -> Decision:
    if not case.closed:
        return [reason("data.youth_id", "case_not_closed", "follow-ups are recorded after the exit")]
    due = case.follow_ups_due.get(c.checkpoint_months)
    if due is None:
        return [reason("data.checkpoint_months", "not_scheduled", "no such checkpoint was scheduled")]
    if c.checkpoint_months in case.follow_ups_recorded:
        return [reason("data.checkpoint_months", "already_recorded", "this checkpoint is already recorded")]
    if c.recorded_on > ctx.now.date() or case.exited_on and c.recorded_on < case.exited_on:
        return [reason("data.recorded_on", "out_of_range", "record a follow-up between the exit and today")]
    if c.recorded_on < due - timedelta(days=FOLLOW_UP_WINDOW_DAYS):
        return [reason("data.recorded_on", "too_early",
                       "a follow-up is recorded from a month before its checkpoint date, not earlier")]
    return [ev.FollowUpRecorded(youth_id=case.youth_id, checkpoint_months=c.checkpoint_months, situation=c.situation,
                                recorded_on=c.recorded_on, on_time=abs((c.recorded_on - due).days) <= FOLLOW_UP_WINDOW_DAYS)]


# ---------------------------------------------------------------- erasure and restriction

def under_legal_hold(case: Case, today: date, policy: Policy) -> bool:
    hold = (policy.legal_hold_years or {}).get(case.country, 0)
    if hold <= 0:
        return False
    return not case.closed or case.exited_on is None or today < add_months(case.exited_on, 12 * hold)


def _erase(case: Case, c: ev.EraseYouth, ctx: Context) -> Decision:
    if not (may(ctx.role, "youth.erase") or ctx.role == "platform"):
        return [reason("", "forbidden", f"role {ctx.role} may not act on erasure requests")]
    if c.mode == "restriction":
        return [ev.ProcessingRestricted(youth_id=case.youth_id, restricted_at=ctx.now, by_agency=ctx.agency,
                                        legal_reason=c.legal_reason)]
    if under_legal_hold(case, ctx.now.date(), ctx.policy):
        return [reason("data.mode", "retention_duty",
                       "the record is under a legal retention duty: restrict processing instead (mode restriction)")]
    return [ev.YouthErased(youth_id=case.youth_id, erased_at=ctx.now, by_agency=ctx.agency,
                           legal_reason=c.legal_reason, keys_destroyed=sorted({case.youth_id, *case.engagement_ids}))]


def _apply_retention(case: Case, c: ev.ApplyRetention, ctx: Context) -> Decision:
    """The scheduler's retention check, in two steps a person can see and stop: when the retention
    period of a closed case has ended its erasure is scheduled `erasure_notice_days` ahead; on that
    day it runs, if it is still due and no agency admin stopped it."""
    if case.retention_stopped or not erasure_due(case, ctx.now.date(), ctx.policy):
        return []
    years = (ctx.policy.erase_after_closure_years or {}).get(case.country, 0)
    legal_reason = f"retention period ended: {years} years after the exit"
    if case.erasure_scheduled_for is None:
        return [ev.ErasureScheduled(youth_id=case.youth_id, legal_reason=legal_reason,
                                    scheduled_for=ctx.now.date() + timedelta(days=ctx.policy.erasure_notice_days))]
    if ctx.now.date() < case.erasure_scheduled_for:
        return []
    return [ev.YouthErased(youth_id=case.youth_id, erased_at=ctx.now, by_agency=ctx.agency, legal_reason=legal_reason,
                           keys_destroyed=sorted({case.youth_id, *case.engagement_ids}))]


def _cancel_scheduled_erasure(case: Case, c: ev.CancelScheduledErasure, ctx: Context) -> Decision:
    if not may(ctx.role, "youth.erase"):
        return [reason("", "forbidden", f"role {ctx.role} may not act on erasures (agency admins do)")]
    if case.erasure_scheduled_for is None:
        return [reason("data.youth_id", "not_scheduled", "no erasure is scheduled for this youth")]
    return [ev.ScheduledErasureCancelled(youth_id=case.youth_id, by_agency=ctx.agency, reason=c.reason,
                                         cancelled_at=ctx.now)]


def erasure_due(case: Case, today: date, policy: Policy) -> bool:
    """Retention: a closed case is erased the configured number of years after the exit."""
    years = (policy.erase_after_closure_years or {}).get(case.country, 0)
    return (years > 0 and case.closed and case.exited_on is not None and not case.erased
            and today >= add_months(case.exited_on, 12 * years) and not under_legal_hold(case, today, policy))


# ---------------------------------------------------------------- merge

def decide_merge(survivor: Case, duplicate: Case, c: ev.MergeYouths, ctx: Context
                 ) -> tuple[list[ev.Event], list[ev.Event]] | list[Reason]:
    """(events for the surviving record, events for the duplicate), or reasons."""
    if not may(ctx.role, "youth.merge"):
        return [reason("", "forbidden", f"role {ctx.role} may not merge youth records")]
    if survivor.youth_id == duplicate.youth_id:
        return [reason("data.duplicate_youth_id", "same_youth", "a record cannot be merged into itself")]
    if duplicate.merged_into:
        return [reason("data.duplicate_youth_id", "already_merged", f"already merged into {duplicate.merged_into}")]
    if survivor.merged_into:
        return [reason("data.youth_id", "already_merged", f"this record was merged into {survivor.merged_into}")]
    if not may_access(survivor, ctx.agency, ctx.now, ctx.policy):
        return [reason("data.youth_id", "not_visible", "your agency may not see this record")]
    if not may_access(duplicate, ctx.agency, ctx.now, ctx.policy):
        return [reason("data.duplicate_youth_id", "not_visible", "your agency may not see the duplicate record")]
    joined: list[ev.Event] = [
        ev.AgencyJoined(youth_id=survivor.youth_id, agency=a, partner_case_ref="merged", matched_by="merge")
        for a in sorted(duplicate.agencies - survivor.agencies)]
    carried: list[ev.Event] = [
        ev.ConsentRecorded(youth_id=survivor.youth_id, recorded_by=ctx.agency, consent=ev.ConsentTerms(
            consent_id=k.consent_id, purpose=k.purpose, recipient=k.recipient, legal_basis=k.legal_basis,
            given_by=k.given_by, notice_version=k.notice_version, given_at=k.given_at, expires_at=k.expires_at))
        for k in duplicate.consent.consents
        if k.in_force(ctx.now) and all(k.consent_id != s.consent_id for s in survivor.consent.consents)]
    return [*joined, *carried], [ev.YouthMerged(youth_id=duplicate.youth_id, merged_into=survivor.youth_id,
                                                reason=c.reason, by_agency=ctx.agency)]


# ---------------------------------------------------------------- dispatch and common guards

Rule = Callable[[Case, ev.Command, Context], Decision]

# command -> (decision, who may issue it): "case" = an agency that may access the record,
# "involved" = an agency that took part in the path (consent is theirs to record or withdraw),
# "platform" = the platform's own scheduler.
RULES: dict[type[ev.Command], tuple[Rule, str, bool]] = {  # (rule, access, allowed after closure)
    ev.RecordConsent: (_record_consent, "involved", True),
    ev.WithdrawConsent: (_withdraw_consent, "involved", True),
    ev.InvalidateConsent: (_invalidate_consent, "involved", True),
    ev.OverrideConsent: (_override_consent, "involved", True),
    ev.AssessYouth: (_assess, "lead", False),
    ev.AgreeProjectOfLife: (_agree_project, "lead", False),
    ev.UpdateGoal: (_update_goal, "lead", False),
    ev.RecordProjectReview: (_review_project, "lead", False),
    ev.RequestReferral: (_request_referral, "case", False),
    ev.RespondToReferral: (_respond_referral, "case", True),
    ev.UpdateReferral: (_update_referral, "case", True),
    ev.CancelReferral: (_cancel_referral, "involved", True),
    ev.LogContact: (_log_contact, "case", True),
    ev.SetContactCadence: (_set_cadence, "case", False),
    ev.FlagLostContact: (_flag_lost_contact, "platform", True),
    ev.AddRelatedPerson: (_add_related_person, "case", True),
    ev.RecordRelatedPersonConsent: (_related_person_consent, "case", True),
    ev.RecordIdentity: (_record_identity, "case", True),
    ev.AddCaseNote: (_add_case_note, "case", True),
    ev.CloseCase: (_close_case, "lead", False),
    ev.RecordFollowUp: (_record_follow_up, "case", True),
    ev.EraseYouth: (_erase, "involved", True),
    ev.ApplyRetention: (_apply_retention, "platform", True),
    ev.CancelScheduledErasure: (_cancel_scheduled_erasure, "involved", True),
}


def knows_of(case: Case, agency: str) -> bool:
    """The agency has been told of this youth: it is in the path, or a referral or a consent or
    an override names it. Only such an agency learns why a command on the youth is refused."""
    return (agency in case.agencies or any(agency in (r.from_agency, r.to_agency) for r in case.referrals.values())
            or any(c.recipient == agency for c in case.consent.consents)
            or any(o.agency == agency for o in case.consent.overrides))


def unknown_youth(field: str = "data.youth_id") -> Reason:
    return reason(field, "unknown_youth", "no youth with this id")


def decide(case: Case, command: ev.Command, ctx: Context) -> Decision:
    """Common guards (role, access, the record's state, closure), then the command's own rule.
    An agency that may not see the youth and has no part in its path gets the answer a youth that
    does not exist gets: the platform does not tell it the youth is there."""
    rule, access, after_closure = RULES[type(command)]
    by_agency = access != "platform" and ctx.role != "platform"
    if by_agency:
        if not may(ctx.role, "case.write"):
            return [reason("", "forbidden", f"role {ctx.role} may not change case records")]
        known = knows_of(case, ctx.agency)
        if case.merged_into is not None and known:  # a record merged away is seen by no one
            return [reason("data.youth_id", "merged", f"this record was merged into youth {case.merged_into}: use that id")]
        if access == "involved" and ctx.agency not in case.agencies and not may_access(case, ctx.agency, ctx.now,
                                                                                      ctx.policy):
            return [reason("data.youth_id", "not_involved", "your agency has no part in this youth's path")
                    ] if known else [unknown_youth()]
        if access in ("case", "lead") and not may_access(case, ctx.agency, ctx.now, ctx.policy):
            return [reason("data.youth_id", "no_consent",
                           "your agency has no consent in force (or override) to see this youth's record")
                    ] if known else [unknown_youth()]
    if case.erased:
        return [reason("data.youth_id", "erased", "this youth's personal data was erased; the record is closed")]
    if case.restricted and not isinstance(command, ev.EraseYouth):
        return [reason("data.youth_id", "restricted", "processing of this youth's data is restricted")]
    if by_agency:
        if access == "lead" and (case.lead_agency or case.registering_agency) != ctx.agency:
            return [reason("data.youth_id", "not_lead_agency",
                           f"only the lead agency ({case.lead_agency or case.registering_agency}) may do this")]
        if case.closed and not after_closure:
            return [reason("data.youth_id", "case_closed", "the case is closed")]
    return rule(case, command, ctx)
