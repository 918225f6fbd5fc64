"""Given/when/then for every pure intake decision: the common guards of `decide`, each command's
accepted path (the exact events) and each reason it can be refused for; outreach and merge."""

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from events import intake as ev
from services.intake.case import Engagement
from services.intake.decisions import (RULES, add_months, decide, decide_merge, decide_outreach_contact,
                                       lost_contact_due, may_access)
from tests.unit.intake_given import (AFOL, CM_CONSENT, REGISTERED_AT, DAY, DUPLICATE, EMPLOYMENT, HOUR, LUGANO, MILANO, NOW, OTHER,
                                     POLICY, TICINO, TORINO, YOUTH, codes, consented, ctx, given, goal, open_case,
                                     opened, overridden, referral_moved, referred, registered, registered_with_consent,
                                     rejected, shares_with, terms, then, types, uid, when, withdrawn)

TODAY = NOW.date()
LONG_AGO = datetime(2025, 1, 10, 9, 0, tzinfo=timezone.utc)  # a registration before the 2025 exits below
MINUTE = timedelta(minutes=1)
SEALED = "v1." + "A" * 48
G1, G2 = uid(300), uid(301)
R1, R2 = uid(400), uid(401)
C1, C2 = uid(500), uid(501)
P1, P2 = uid(600), uid(601)
S_AFOL, S_TORINO, S_OTHER = uid(700), uid(701), uid(702)


# ---------------------------------------------------------------- commands

def record_consent(t=None) -> ev.RecordConsent:
    return ev.RecordConsent(youth_id=YOUTH, consent=t or terms(uid(120), "sharing", AFOL, given_at=NOW - HOUR))


def withdraw(cid=CM_CONSENT, at=None) -> ev.WithdrawConsent:
    return ev.WithdrawConsent(youth_id=YOUTH, consent_id=cid, withdrawn_at=at)


def invalidate(cid=CM_CONSENT, why="recorded for the wrong agency") -> ev.InvalidateConsent:
    return ev.InvalidateConsent(youth_id=YOUTH, consent_id=cid, reason=why)


def override(agency=AFOL, purpose="sharing", why="risk of harm: see the file", expires_at=NOW + 2 * DAY):
    return ev.OverrideConsent(youth_id=YOUTH, agency=agency, purpose=purpose, reason=why, expires_at=expires_at)


def assess(lead=MILANO, key_worker="kw-1", **kw) -> ev.AssessYouth:
    return ev.AssessYouth(youth_id=YOUTH, neet_status="neet", education_level="lower_secondary",
                          family_context="with_parents", aspirations=["work"], lead_agency=lead,
                          key_worker=key_worker, **kw)


def agree(based_on=0, goals=None, next_review=TODAY + 30 * DAY, youth=True, guardian=False):
    return ev.AgreeProjectOfLife(youth_id=YOUTH, based_on_version=based_on, goals=goals or [goal(G1)],
                                 next_review_due=next_review, agreed_by_youth=youth, agreed_by_guardian=guardian)


def update_goal(goal_id=G1, lifecycle="completed", achievement="achieved") -> ev.UpdateGoal:
    return ev.UpdateGoal(youth_id=YOUTH, goal_id=goal_id, lifecycle_status=lifecycle, achievement_status=achievement)


def review(held_on=TODAY, next_review=TODAY + 90 * DAY, outcome="on_track") -> ev.RecordProjectReview:
    return ev.RecordProjectReview(youth_id=YOUTH, held_on=held_on, outcome=outcome, next_review_due=next_review)


def request(referral_id=R1, to=AFOL, transfer_lead=False) -> ev.RequestReferral:
    return ev.RequestReferral(youth_id=YOUTH, referral_id=referral_id, to_agency=to, service="ips_placement",
                              reason="job search support", transfer_lead=transfer_lead)


def respond(referral_id=R1, decision="accepted", why=None) -> ev.RespondToReferral:
    return ev.RespondToReferral(youth_id=YOUTH, referral_id=referral_id, decision=decision, reason=why)


def update(referral_id=R1, status="in-progress", outcome=None) -> ev.UpdateReferral:
    return ev.UpdateReferral(youth_id=YOUTH, referral_id=referral_id, status=status, outcome=outcome)


def cancel(referral_id=R1, why="the youth found a job") -> ev.CancelReferral:
    return ev.CancelReferral(youth_id=YOUTH, referral_id=referral_id, reason=why)


def log_contact(contact_id=C1, contact_type="meeting", outcome="reached", occurred_at=NOW - HOUR, related=()):
    return ev.LogContact(youth_id=YOUTH, contact_id=contact_id, contact_type=contact_type, channel="in_person",
                         outcome=outcome, occurred_at=occurred_at, related_person_ids=list(related))


def cadence(every=7, lost_after=None) -> ev.SetContactCadence:
    return ev.SetContactCadence(youth_id=YOUTH, every_days=every, lost_after_days=lost_after)


def flag() -> ev.FlagLostContact:
    return ev.FlagLostContact(youth_id=YOUTH)


def retention() -> ev.ApplyRetention:
    return ev.ApplyRetention(youth_id=YOUTH)


def add_related(person=P1, consents=True) -> ev.AddRelatedPerson:
    return ev.AddRelatedPerson(youth_id=YOUTH, related_person_id=person, relationship="parent",
                               consents_to_contact=consents)


def related_consent(person=P1, consents=False) -> ev.RecordRelatedPersonConsent:
    return ev.RecordRelatedPersonConsent(youth_id=YOUTH, related_person_id=person, consents_to_contact=consents)


def record_identity() -> ev.RecordIdentity:
    return ev.RecordIdentity(youth_id=YOUTH, sealed_identity=SEALED)


def close(exited_on=TODAY, destination="employment") -> ev.CloseCase:
    return ev.CloseCase(youth_id=YOUTH, destination=destination, exited_on=exited_on)


def follow_up(months=6, recorded_on=TODAY, situation="employment") -> ev.RecordFollowUp:
    return ev.RecordFollowUp(youth_id=YOUTH, checkpoint_months=months, situation=situation, recorded_on=recorded_on)


def closed(exited_on=TODAY, months=(6, 12, 18)) -> ev.CaseClosed:
    return ev.CaseClosed(youth_id=YOUTH, destination="employment", exited_on=exited_on, follow_ups=[
        ev.FollowUp(checkpoint_months=m, due_on=add_months(exited_on, m)) for m in months])


def agreed(version=1, goals=None) -> ev.ProjectOfLifeAgreed:
    return ev.ProjectOfLifeAgreed(youth_id=YOUTH, version=version, goals=goals or [goal(G1)],
                                  next_review_due=TODAY + 30 * DAY, agreed_by_youth=True, agreed_by_guardian=False)


def contact_lost(at=NOW - DAY) -> ev.ContactLost:
    return ev.ContactLost(youth_id=YOUTH, last_contact_at=at, days_without_contact=30, lead_agency=MILANO,
                          key_worker="kw-1")


def merged(into=DUPLICATE) -> ev.YouthMerged:
    return ev.YouthMerged(youth_id=YOUTH, merged_into=into, reason="same person", by_agency=MILANO)


def erase(mode="erasure", why="Request of the data subject (art. 17)") -> ev.EraseYouth:
    return ev.EraseYouth(youth_id=YOUTH, mode=mode, legal_reason=why)


# One sample of every command the common guards see.
SAMPLES: dict[type, ev.Command] = {type(c): c for c in [
    record_consent(), withdraw(), invalidate(), override(), assess(), agree(), update_goal(), review(), request(),
    respond(), update(), cancel(), log_contact(), cadence(), flag(), retention(), add_related(), related_consent(),
    record_identity(), close(), follow_up(), erase(),
    ev.CancelScheduledErasure(youth_id=YOUTH, reason="litigation pending"),
    ev.AddCaseNote(youth_id=YOUTH, note_id=uid(800), text="asked to be called back on Monday")]}

# The access table, as the specification states it (and as RULES must implement it).
INVOLVED = {ev.RecordConsent, ev.WithdrawConsent, ev.InvalidateConsent, ev.OverrideConsent, ev.CancelReferral,
            ev.EraseYouth, ev.CancelScheduledErasure}
LEAD = {ev.AssessYouth, ev.AgreeProjectOfLife, ev.UpdateGoal, ev.RecordProjectReview, ev.CloseCase}
PLATFORM = {ev.FlagLostContact, ev.ApplyRetention}
CASE = set(SAMPLES) - INVOLVED - LEAD - PLATFORM
NOT_AFTER_CLOSURE = {ev.AssessYouth, ev.AgreeProjectOfLife, ev.UpdateGoal, ev.RecordProjectReview,
                     ev.RequestReferral, ev.SetContactCadence, ev.CloseCase}
PARTNER_COMMANDS = sorted(set(SAMPLES) - PLATFORM, key=lambda t: t.__name__)


def by_name(types_):
    return pytest.mark.parametrize("kind", sorted(types_, key=lambda t: t.__name__), ids=lambda t: t.__name__)


def outcome_codes(outcome) -> list[str]:
    """Codes if refused, [] if accepted."""
    return [r.code for r in outcome if not isinstance(r, ev.Event)]


def test_every_rule_has_a_sample_and_the_access_table_is_the_specified_one():
    assert set(SAMPLES) == set(RULES)
    access = {kind: RULES[kind][1] for kind in RULES}
    assert {k for k, a in access.items() if a == "involved"} == INVOLVED
    assert {k for k, a in access.items() if a == "lead"} == LEAD
    assert {k for k, a in access.items() if a == "platform"} == PLATFORM
    assert {k for k, a in access.items() if a == "case"} == CASE
    assert {k for k in RULES if not RULES[k][2]} == NOT_AFTER_CLOSURE


# ---------------------------------------------------------------- common guards of `decide`

@by_name(PARTNER_COMMANDS)
@pytest.mark.parametrize("role", ["auditor", "observatory_analyst"])
def test_given_a_role_without_case_write_when_any_command_then_forbidden(kind, role):
    outcome = when(open_case(), SAMPLES[kind], role=role)
    assert rejected(outcome) == [("", "forbidden")]


@by_name(PARTNER_COMMANDS)
def test_given_a_merged_record_when_any_command_then_refused_naming_the_surviving_record(kind):
    outcome = when(open_case(merged()), SAMPLES[kind], role="supervisor")
    assert rejected(outcome) == [("data.youth_id", "merged")]
    assert DUPLICATE in outcome[0].message


@by_name(CASE | LEAD)
def test_given_an_agency_in_the_path_without_consent_when_a_case_command_then_no_consent(kind):
    lost = open_case(withdrawn(CM_CONSENT, NOW - HOUR))  # Milan registered the youth: it knows the youth is there
    outcome = when(lost, SAMPLES[kind], identity_ciphertext="ct")
    assert rejected(outcome) == [("data.youth_id", "no_consent")]


@by_name(CASE | LEAD | INVOLVED)
def test_given_an_agency_that_may_not_see_the_youth_when_any_command_then_the_answer_for_a_youth_that_does_not_exist(
        kind):
    outcome = when(open_case(), SAMPLES[kind], agency=OTHER, role="agency_admin", identity_ciphertext="ct")
    assert rejected(outcome) == [("data.youth_id", "unknown_youth")]
    assert outcome[0].message == "no youth with this id"
    merged_away = when(open_case(merged()), SAMPLES[kind], agency=OTHER, role="agency_admin", identity_ciphertext="ct")
    assert rejected(merged_away) == [("data.youth_id", "unknown_youth")]  # nor that it was merged, into whom


@by_name(LEAD)
def test_given_an_agency_with_consent_but_not_the_lead_when_a_lead_command_then_not_lead_agency(kind):
    case = open_case(consented(uid(130), "case_management", AFOL))
    outcome = when(case, SAMPLES[kind], agency=AFOL)
    assert rejected(outcome) == [("data.youth_id", "not_lead_agency")]
    assert MILANO in outcome[0].message


def test_given_a_case_not_yet_assessed_then_the_registering_agency_is_the_lead():
    case = given(*registered_with_consent(), consented(uid(130), "case_management", AFOL))
    assert codes(when(case, close(), agency=AFOL)) == ["not_lead_agency"]
    assert types(when(case, close())) == [ev.CaseClosed]


@by_name(NOT_AFTER_CLOSURE)
def test_given_a_closed_case_when_a_command_for_open_cases_then_case_closed(kind):
    outcome = when(open_case(closed()), SAMPLES[kind])
    assert rejected(outcome) == [("data.youth_id", "case_closed")]


@by_name(set(SAMPLES) - NOT_AFTER_CLOSURE)
def test_given_a_closed_case_when_a_command_allowed_after_exit_then_not_refused_for_closure(kind):
    sample = SAMPLES[kind]
    if kind is ev.RespondToReferral:  # after the exit a referral can still be rejected (not accepted)
        sample = sample.model_copy(update={"decision": "rejected", "reason": "case closed"})
    outcome = when(open_case(closed()), sample, role="supervisor", identity_ciphertext="ct")
    assert "case_closed" not in outcome_codes(outcome)


def test_the_scheduler_command_is_not_subject_to_the_partner_guards():
    due = given(*registered_with_consent(), opened(), at=NOW - 30 * DAY)
    assert types(when(due, flag(), role="auditor", agency=OTHER)) == [ev.ContactLost]


def test_given_a_withdrawal_when_the_agency_acts_next_then_it_is_refused():
    case = open_case()
    assert types(when(case, log_contact())) == [ev.ContactLogged]
    case = then(case, when(case, withdraw()))
    assert codes(when(case, log_contact())) == ["no_consent"]  # from the instant of the withdrawal
    assert codes(when(case, log_contact(), now=NOW + MINUTE)) == ["no_consent"]
    assert codes(when(case, close(), now=NOW + MINUTE)) == ["no_consent"]
    # still involved: it may record the consent the youth gives anew, and then act again
    renewed = when(case, record_consent(terms(uid(121), given_at=NOW)), now=NOW + MINUTE)
    case = then(case, renewed, at=NOW + MINUTE)
    assert types(when(case, log_contact(), now=NOW + 2 * MINUTE)) == [ev.ContactLogged]


def test_given_a_withdrawal_of_the_consent_to_share_then_the_receiving_agency_is_refused():
    case = open_case(shares_with(AFOL, S_AFOL), referred(R1, AFOL))
    assert types(when(case, log_contact(), agency=AFOL)) == [ev.ContactLogged]
    case = then(case, when(case, withdraw(S_AFOL)))
    assert codes(when(case, log_contact(), agency=AFOL, now=NOW + MINUTE)) == ["no_consent"]
    assert codes(when(case, update(), agency=AFOL, now=NOW + MINUTE)) == ["no_consent"]


def test_given_an_expired_consent_then_the_agency_is_refused_from_the_expiry():
    case = given(registered(), consented(expires_at=NOW), opened())
    assert types(when(case, log_contact(), now=NOW - MINUTE)) == [ev.ContactLogged]
    assert codes(when(case, log_contact())) == ["no_consent"]


# ---------------------------------------------------------------- outreach (before registration)

def outreach(**overrides) -> ev.RecordOutreachContact:
    fields = dict(handle="Skater 7", place_type="street", channel="in_person", outcome="first_contact",
                  territory=ev.Territory(country="IT", municipality="Milano", district="Municipio 7"),
                  occurred_at=NOW - HOUR) | overrides
    return ev.RecordOutreachContact(**fields)


def test_given_a_new_handle_when_recording_an_outreach_contact_then_recorded_under_the_engagement():
    cmd = outreach()
    outcome = decide_outreach_contact(cmd, ctx(identity_ciphertext="ct"), engagement_id=uid(50), engagement=None)
    assert outcome == [ev.OutreachContactRecorded(
        engagement_id=uid(50), agency=MILANO, handle_ciphertext="ct", place_type="street", territory=cmd.territory,
        channel="in_person", outcome="first_contact", occurred_at=NOW - HOUR)]


def test_given_outreach_contact_problems_then_each_is_refused_with_its_reason():
    linked = Engagement(engagement_id=uid(50), agency=MILANO, first_contact_at=NOW - DAY,
                        linked_to=YOUTH)
    future = decide_outreach_contact(outreach(occurred_at=NOW + HOUR), ctx(), engagement_id=uid(50), engagement=None)
    assert rejected(future) == [("data.occurred_at", "in_the_future")]
    assert rejected(decide_outreach_contact(outreach(), ctx(), engagement_id=uid(50), engagement=linked)) == [
        ("data.handle", "engagement_already_linked")]
    swiss = outreach(territory=ev.Territory(country="CH", municipality="Lugano"))
    assert rejected(decide_outreach_contact(swiss, ctx(agency=LUGANO), engagement_id=uid(51), engagement=None)) == [
        ("data.territory.canton", "missing")]


# ---------------------------------------------------------------- consent

def test_when_recording_a_consent_then_consent_recorded_by_the_agency():
    t = terms(uid(120), "sharing", AFOL, given_at=NOW - HOUR)
    assert when(open_case(), record_consent(t)) == [ev.ConsentRecorded(youth_id=YOUTH, consent=t, recorded_by=MILANO)]


def test_given_a_consent_given_a_few_minutes_ahead_of_the_platform_clock_then_accepted():
    assert types(when(open_case(), record_consent(terms(uid(120), given_at=NOW + 4 * MINUTE)))) == [ev.ConsentRecorded]
    assert rejected(when(open_case(), record_consent(terms(uid(120), given_at=NOW + HOUR)))) == [
        ("data.consent.given_at", "in_the_future")]


def test_given_an_outdated_notice_when_recording_a_consent_then_rejected():
    outcome = when(open_case(), record_consent(terms(uid(120), notice="2025-1")))
    assert rejected(outcome) == [("data.consent.notice_version", "outdated_notice")]


def test_given_a_youth_who_may_be_13_in_italy_when_consenting_alone_then_the_guardian_is_required():
    case = given(registered(birth_year=2012), consented(given_by="guardian"), opened())
    alone = when(case, record_consent(terms(uid(120), "sharing", AFOL, given_at=NOW)))
    assert rejected(alone) == [("data.consent.given_by", "guardian_required")]
    by_guardian = terms(uid(120), "sharing", AFOL, given_by="guardian", given_at=NOW)
    assert types(when(case, record_consent(by_guardian))) == [ev.ConsentRecorded]
    # another legal basis needs no consent from anyone
    public_task = terms(uid(120), "sharing", AFOL, legal_basis="public_task", given_at=NOW)
    assert types(when(case, record_consent(public_task))) == [ev.ConsentRecorded]
    # a year later they are surely 14: the youth consents alone
    later = NOW.replace(year=2027)
    assert types(when(case, record_consent(terms(uid(120), "sharing", AFOL, given_at=later)), now=later)) == [
        ev.ConsentRecorded]


def test_given_a_youth_who_may_be_15_in_switzerland_when_consenting_alone_then_the_guardian_is_required():
    case = given(registered(agency=TICINO, birth_year=2010, country="CH", region="CH-TI"),
                 consented(given_by="guardian", by=TICINO), opened(TICINO))
    alone = when(case, record_consent(terms(uid(120), "sharing", LUGANO, given_at=NOW)), agency=TICINO)
    assert rejected(alone) == [("data.consent.given_by", "guardian_required")]
    assert "16" in alone[0].message
    by_guardian = terms(uid(120), "sharing", LUGANO, given_by="guardian", given_at=NOW)
    assert types(when(case, record_consent(by_guardian), agency=TICINO)) == [ev.ConsentRecorded]


def test_given_other_consent_problems_then_each_is_refused_with_its_reason():
    case = open_case()
    assert rejected(when(case, record_consent(terms(uid(120), "sharing", None)))) == [
        ("data.consent.recipient", "missing")]
    assert rejected(when(case, record_consent(terms(uid(120), "sharing", "no-such-agency")))) == [
        ("data.consent.recipient", "unknown_agency")]
    assert rejected(when(case, record_consent(terms(CM_CONSENT)))) == [("data.consent.consent_id", "duplicate")]
    assert rejected(when(case, record_consent(terms(uid(120), given_at=NOW - DAY, expires_at=NOW - DAY)))) == [
        ("data.consent.expires_at", "expires_before_given")]


def test_when_withdrawing_a_consent_then_withdrawn_now_or_at_the_time_given():
    case = open_case(shares_with(AFOL, S_AFOL))
    assert when(case, withdraw(S_AFOL)) == [ev.ConsentWithdrawn(youth_id=YOUTH, consent_id=S_AFOL, withdrawn_at=NOW)]
    assert when(case, withdraw(S_AFOL, at=NOW - HOUR)) == [
        ev.ConsentWithdrawn(youth_id=YOUTH, consent_id=S_AFOL, withdrawn_at=NOW - HOUR)]


def test_given_withdrawal_problems_then_each_is_refused_with_its_reason():
    case = open_case(shares_with(AFOL, S_AFOL))
    assert rejected(when(case, withdraw(S_AFOL, at=NOW + HOUR))) == [("data.withdrawn_at", "in_the_future")]
    assert rejected(when(case, withdraw(uid(999)))) == [("data.consent_id", "unknown_consent")]
    case = then(case, when(case, withdraw(S_AFOL)))
    assert rejected(when(case, withdraw(S_AFOL), now=NOW + MINUTE)) == [("data.consent_id", "not_in_force")]


def test_when_invalidating_a_consent_then_invalidated_with_the_reason_and_no_longer_in_force():
    case = open_case(shares_with(AFOL, S_AFOL), referred(R1, AFOL))
    outcome = when(case, invalidate(S_AFOL, "the youth never signed it"))
    assert outcome == [ev.ConsentInvalidated(youth_id=YOUTH, consent_id=S_AFOL, reason="the youth never signed it",
                                             invalidated_at=NOW)]
    case = then(case, outcome)
    assert codes(when(case, log_contact(), agency=AFOL, now=NOW + MINUTE)) == ["no_consent"]


def test_given_invalidation_problems_then_each_is_refused_with_its_reason():
    case = open_case(shares_with(AFOL, S_AFOL))
    assert rejected(when(case, invalidate(uid(999)))) == [("data.consent_id", "unknown_consent")]
    assert rejected(when(case, invalidate(S_AFOL, " "))) == [("data.reason", "missing")]
    case = then(case, when(case, invalidate(S_AFOL)))
    assert rejected(when(case, invalidate(S_AFOL), now=NOW + MINUTE)) == [("data.consent_id", "already_invalidated")]


@pytest.mark.parametrize("role", ["supervisor", "agency_admin"])
def test_given_the_override_permission_when_overriding_then_recorded_and_the_agency_may_see_until_expiry(role):
    case = open_case()
    outcome = when(case, override(AFOL, "sharing", expires_at=NOW + 2 * DAY), role=role)
    assert outcome == [ev.ConsentOverridden(youth_id=YOUTH, agency=AFOL, purpose="sharing",
                                            reason="risk of harm: see the file", expires_at=NOW + 2 * DAY,
                                            overridden_at=NOW, by_agency=MILANO, by_role=role)]
    case = then(case, outcome)
    assert types(when(case, log_contact(), agency=AFOL, now=NOW + DAY)) == [ev.ContactLogged]
    assert codes(when(case, log_contact(), agency=AFOL, now=NOW + 2 * DAY)) == ["no_consent"]


def test_given_override_problems_then_each_is_refused_with_its_reason():
    case = open_case()
    for role in ("key_worker", "operator", "partner_system"):
        assert rejected(when(case, override(), role=role)) == [("data", "forbidden")]
    assert rejected(when(case, override(why="   short  "), role="supervisor")) == [("data.reason", "missing")]
    assert rejected(when(case, override(expires_at=NOW), role="supervisor")) == [
        ("data.expires_at", "expires_before_given")]
    assert rejected(when(case, override(agency="no-such-agency"), role="supervisor")) == [
        ("data.agency", "unknown_agency")]


def test_an_override_for_another_purpose_gives_no_access_to_the_record():
    case = open_case(overridden(AFOL, purpose="family_contact"))
    assert codes(when(case, log_contact(), agency=AFOL)) == ["no_consent"]


# ---------------------------------------------------------------- assessment

def test_given_a_registered_youth_when_assessing_then_assessed_and_the_case_opened():
    case = given(*registered_with_consent())
    cmd = assess(neet_since=date(2025, 6, 1))
    assert when(case, cmd) == [
        ev.YouthAssessed(youth_id=YOUTH, neet_status="neet", neet_since=date(2025, 6, 1),
                         education_level="lower_secondary", family_context="with_parents", aspirations=["work"]),
        ev.VulnerabilitiesAssessed(youth_id=YOUTH, vulnerabilities=ev.Vulnerabilities()),
        ev.CaseOpened(youth_id=YOUTH, lead_agency=MILANO, key_worker="kw-1"),
    ]


def test_given_an_open_case_when_reassessing_then_the_case_is_opened_again_only_if_the_key_worker_changes():
    case = open_case()
    assert types(when(case, assess())) == [ev.YouthAssessed, ev.VulnerabilitiesAssessed]
    changed = when(case, assess(key_worker="kw-2"))
    assert changed[-1] == ev.CaseOpened(youth_id=YOUTH, lead_agency=MILANO, key_worker="kw-2")


def test_given_another_agency_that_may_see_when_it_is_named_lead_then_the_case_opens_with_it():
    case = given(*registered_with_consent(), shares_with(AFOL, S_AFOL))
    assert when(case, assess(lead=AFOL))[-1] == ev.CaseOpened(youth_id=YOUTH, lead_agency=AFOL, key_worker="kw-1")


def test_given_assessment_problems_then_each_is_refused_with_its_reason():
    fresh = given(*registered_with_consent())
    assert rejected(when(fresh, assess(lead="no-such-agency"))) == [("data.lead_agency", "unknown_agency")]
    assert rejected(when(fresh, assess(lead=AFOL))) == [("data.lead_agency", "no_consent_for_lead_agency")]
    assert rejected(when(open_case(shares_with(AFOL, S_AFOL)), assess(lead=AFOL))) == [
        ("data.lead_agency", "lead_is_transferred_by_referral")]
    assert rejected(when(fresh, assess(neet_since=TODAY + DAY))) == [("data.neet_since", "in_the_future")]


# ---------------------------------------------------------------- Project of Life

def test_given_an_open_case_when_agreeing_the_project_of_life_then_version_1_then_a_revision_is_version_2():
    case = open_case()
    outcome = when(case, agree())
    assert outcome == [ev.ProjectOfLifeAgreed(youth_id=YOUTH, version=1, goals=[goal(G1)],
                                              next_review_due=TODAY + 30 * DAY, agreed_by_youth=True,
                                              agreed_by_guardian=False)]
    case = then(case, outcome)
    revision = when(case, agree(based_on=1, goals=[goal(G1), goal(G2)]))
    assert len(revision) == 1 and revision[0].version == 2 and [g.goal_id for g in revision[0].goals] == [G1, G2]
    assert then(case, revision).project_version == 2


def test_given_a_case_not_opened_when_agreeing_then_case_not_open():
    assert rejected(when(given(*registered_with_consent()), agree())) == [("data.youth_id", "case_not_open")]


def test_given_a_revision_of_an_old_version_then_stale_version():
    case = open_case(agreed(version=1))
    assert rejected(when(case, agree(based_on=0))) == [("data.based_on_version", "stale_version")]
    assert rejected(when(case, agree(based_on=2))) == [("data.based_on_version", "stale_version")]


def test_given_no_agreement_of_the_youth_then_refused():
    assert rejected(when(open_case(), agree(youth=False))) == [("data.agreed_by_youth", "youth_agreement_required")]


@pytest.mark.parametrize("birth_year", [2009, 2008])  # may be 16 / 17 today
def test_given_a_youth_who_may_be_a_minor_then_the_guardian_agrees_too(birth_year):
    case = open_case(birth_year=birth_year)
    assert rejected(when(case, agree())) == [("data.agreed_by_guardian", "guardian_agreement_required")]
    assert types(when(case, agree(guardian=True))) == [ev.ProjectOfLifeAgreed]


def test_given_a_youth_surely_adult_then_no_guardian_is_needed():
    assert types(when(open_case(birth_year=2007), agree())) == [ev.ProjectOfLifeAgreed]


def test_given_two_goals_with_one_id_then_duplicate_goal_id():
    outcome = when(open_case(), agree(goals=[goal(G1), goal(G1)]))
    assert rejected(outcome) == [("data.goals", "duplicate_goal_id")]


@pytest.mark.parametrize("next_review", [TODAY, TODAY - DAY])
def test_given_a_next_review_not_after_today_then_refused(next_review):
    outcome = when(open_case(), agree(next_review=next_review))
    assert rejected(outcome) == [("data.next_review_due", "not_in_the_future")]


def test_given_several_problems_with_a_project_then_every_reason_is_reported():
    outcome = when(open_case(agreed(), birth_year=2009),
                   agree(based_on=0, youth=False, goals=[goal(G1), goal(G1)], next_review=TODAY))
    assert codes(outcome) == ["stale_version", "youth_agreement_required", "guardian_agreement_required",
                              "duplicate_goal_id", "not_in_the_future"]


# ---------------------------------------------------------------- goals and reviews

def test_given_an_active_goal_when_updating_it_then_goal_updated_in_the_current_version():
    case = open_case(agreed(version=1), agreed(version=2, goals=[goal(G1, "active", "in-progress")]))
    assert when(case, update_goal(G1, "completed", "achieved")) == [
        ev.GoalUpdated(youth_id=YOUTH, project_version=2, goal_id=G1, lifecycle_status="completed",
                       achievement_status="achieved")]


def test_given_goal_problems_then_each_is_refused_with_its_reason():
    case = open_case(agreed(goals=[goal(G1, "active", "in-progress"), goal(G2, "completed", "achieved")]))
    assert rejected(when(case, update_goal(uid(399)))) == [("data.goal_id", "unknown_goal")]
    assert rejected(when(case, update_goal(G2, "active", "in-progress"))) == [("data.lifecycle_status", "goal_closed")]
    assert rejected(when(case, update_goal(G1, "active", "in-progress"))) == [("data", "no_change")]
    # a revision that drops a goal: it is no longer in the current Project of Life
    revised = open_case(agreed(version=1), agreed(version=2, goals=[goal(G2)]))
    assert codes(when(revised, update_goal(G1))) == ["unknown_goal"]


def test_when_recording_a_review_then_recorded_for_the_current_version():
    case = open_case(agreed(version=1))
    assert when(case, review(TODAY, TODAY + 90 * DAY, "needs_revision")) == [
        ev.ProjectReviewRecorded(youth_id=YOUTH, project_version=1, held_on=TODAY, outcome="needs_revision",
                                 next_review_due=TODAY + 90 * DAY)]


def test_given_review_problems_then_each_is_refused_with_its_reason():
    assert rejected(when(open_case(), review())) == [("data.youth_id", "no_project_of_life")]
    case = open_case(agreed())
    assert rejected(when(case, review(held_on=TODAY + DAY, next_review=TODAY + 90 * DAY))) == [
        ("data.held_on", "in_the_future")]
    assert rejected(when(case, review(held_on=TODAY, next_review=TODAY))) == [
        ("data.next_review_due", "not_after_review")]


# ---------------------------------------------------------------- referrals

def test_given_a_consent_to_share_when_referring_then_referral_requested_naming_the_consent():
    case = open_case(shares_with(AFOL, S_AFOL))
    assert when(case, request(R1, AFOL)) == [ev.ReferralRequested(
        youth_id=YOUTH, referral_id=R1, from_agency=MILANO, to_agency=AFOL, service="ips_placement",
        reason="job search support", transfer_lead=False, basis=f"consent:{S_AFOL}")]


def test_given_a_consent_to_share_with_the_category_when_referring_then_requested_for_any_agency_of_it():
    case = open_case(consented(S_AFOL, "sharing", "category:employment_service"))
    for agency in (AFOL, EMPLOYMENT):
        outcome = when(case, request(R1, agency))
        assert types(outcome) == [ev.ReferralRequested] and outcome[0].basis == f"consent:{S_AFOL}"
    assert codes(when(case, request(R1, TORINO))) == ["no_consent_to_share"]


def test_given_an_override_to_share_when_referring_then_requested_on_the_override():
    outcome = when(open_case(overridden(AFOL)), request(R1, AFOL))
    assert types(outcome) == [ev.ReferralRequested] and outcome[0].basis == "override"


def test_given_the_referral_is_folded_then_the_receiver_works_through_the_sharing_consent_only():
    """A receiver does not answer for the youth's consents: it is not among the involved agencies."""
    case = open_case(shares_with(AFOL, S_AFOL))
    case = then(case, when(case, request()))
    assert case.referrals[R1].status == "requested" and AFOL not in case.agencies


def test_given_referral_request_problems_then_each_is_refused_with_its_reason():
    case = open_case(shares_with(AFOL, S_AFOL), consented(uid(131), "case_management", TORINO), referred(R1, AFOL))
    assert rejected(when(case, request(R1, AFOL))) == [("data.referral_id", "duplicate")]
    assert rejected(when(case, request(R2, "no-such-agency"))) == [("data.to_agency", "unknown_agency")]
    assert rejected(when(case, request(R2, MILANO))) == [("data.to_agency", "self_referral")]
    # a consent for case management by the receiver is not a consent to share with it
    assert rejected(when(case, request(R2, TORINO))) == [("data.to_agency", "no_consent_to_share")]
    assert rejected(when(case, request(R2, OTHER))) == [("data.to_agency", "no_consent_to_share")]


def test_given_an_agency_that_is_not_the_lead_when_transferring_the_lead_then_not_lead_agency():
    case = open_case(shares_with(AFOL, S_AFOL), shares_with(TORINO, S_TORINO))
    assert rejected(when(case, request(R2, TORINO, transfer_lead=True), agency=AFOL)) == [
        ("data.transfer_lead", "not_lead_agency")]
    assert types(when(case, request(R2, TORINO), agency=AFOL)) == [ev.ReferralRequested]  # a plain referral is fine


def test_given_a_case_not_yet_assessed_then_only_the_registering_agency_transfers_the_lead():
    case = given(*registered_with_consent(), shares_with(AFOL, S_AFOL), shares_with(TORINO, S_TORINO))
    assert codes(when(case, request(R2, TORINO, transfer_lead=True), agency=AFOL)) == ["not_lead_agency"]
    assert types(when(case, request(R2, TORINO, transfer_lead=True))) == [ev.ReferralRequested]


def test_when_the_receiver_accepts_then_the_status_changes_and_both_agencies_are_told():
    case = open_case(shares_with(AFOL, S_AFOL), referred(R1, AFOL))
    assert when(case, respond(R1, "accepted"), agency=AFOL) == [ev.ReferralStatusChanged(
        youth_id=YOUTH, referral_id=R1, from_agency=MILANO, to_agency=AFOL, previous_status="requested",
        status="accepted", note=None, by_agency=AFOL)]


def test_when_the_receiver_accepts_a_transfer_then_the_lead_passes_to_it():
    case = open_case(shares_with(AFOL, S_AFOL), referred(R1, AFOL, transfer_lead=True))
    outcome = when(case, respond(R1, "accepted"), agency=AFOL)
    assert types(outcome) == [ev.ReferralStatusChanged, ev.LeadTransferred]
    assert outcome[1] == ev.LeadTransferred(youth_id=YOUTH, from_agency=MILANO, to_agency=AFOL, referral_id=R1)
    case = then(case, outcome)
    assert case.lead_agency == AFOL
    assert codes(when(case, close())) == ["not_lead_agency"]
    assert types(when(case, close(), agency=AFOL)) == [ev.CaseClosed]


def test_given_the_lead_changed_since_a_transfer_was_requested_when_accepting_it_then_lead_changed():
    case = open_case(shares_with(AFOL, S_AFOL), shares_with(TORINO, S_TORINO),
                     referred(R1, AFOL, transfer_lead=True), referred(R2, TORINO, transfer_lead=True))
    case = then(case, when(case, respond(R1, "accepted"), agency=AFOL))
    assert case.lead_agency == AFOL
    assert rejected(when(case, respond(R2, "accepted"), agency=TORINO)) == [("data.referral_id", "lead_changed")]
    assert types(when(case, respond(R2, "rejected", "lead already taken"), agency=TORINO)) == [
        ev.ReferralStatusChanged]


def test_when_the_receiver_rejects_then_a_reason_is_required_and_passed_on():
    case = open_case(shares_with(AFOL, S_AFOL), referred(R1, AFOL))
    assert rejected(when(case, respond(R1, "rejected"), agency=AFOL)) == [("data.reason", "missing")]
    outcome = when(case, respond(R1, "rejected", "no places until June"), agency=AFOL)
    assert [(e.previous_status, e.status, e.note) for e in outcome] == [
        ("requested", "rejected", "no places until June")]


def test_given_a_referral_to_another_agency_then_only_the_party_concerned_moves_it():
    case = open_case(shares_with(AFOL, S_AFOL), shares_with(TORINO, S_TORINO), referred(R1, AFOL))
    assert rejected(when(case, respond(R1, "accepted"), agency=TORINO)) == [
        ("data.referral_id", "not_your_referral")]
    assert codes(when(case, update(R1, "in-progress"))) == ["not_your_referral"]  # the referrer
    assert codes(when(case, cancel(R1), agency=AFOL)) == ["not_your_referral"]  # the receiver
    assert rejected(when(case, respond(uid(499), "accepted"), agency=AFOL)) == [
        ("data.referral_id", "unknown_referral")]


def test_given_a_referral_when_moving_it_outside_the_fhir_task_flow_then_invalid_transition():
    base = open_case(shares_with(AFOL, S_AFOL), referred(R1, AFOL))
    assert rejected(when(base, update(R1, "completed"), agency=AFOL)) == [("data.status", "invalid_transition")]
    assert codes(when(base, update(R1, "in-progress"), agency=AFOL)) == ["invalid_transition"]
    accepted = given(*registered_with_consent(), opened(), shares_with(AFOL, S_AFOL), referred(R1, AFOL),
                     referral_moved(R1, AFOL, "requested", "accepted"))
    assert codes(when(accepted, respond(R1, "accepted"), agency=AFOL)) == ["invalid_transition"]
    assert codes(when(accepted, respond(R1, "rejected", "changed our mind"), agency=AFOL)) == ["invalid_transition"]
    done = then(accepted, [referral_moved(R1, AFOL, "accepted", "completed")])
    for command, agency in ((update(R1, "failed"), AFOL), (update(R1, "in-progress"), AFOL), (cancel(R1), MILANO)):
        assert codes(when(done, command, agency=agency)) == ["invalid_transition"]


def test_given_an_accepted_referral_then_the_receiver_reports_progress_and_the_outcome():
    case = open_case(shares_with(AFOL, S_AFOL), referred(R1, AFOL), referral_moved(R1, AFOL, "requested", "accepted"))
    started = when(case, update(R1, "in-progress"), agency=AFOL)
    assert [(e.previous_status, e.status) for e in started] == [("accepted", "in-progress")]
    case = then(case, started)
    finished = when(case, update(R1, "completed", "hired as apprentice"), agency=AFOL)
    assert [(e.previous_status, e.status, e.note, e.by_agency) for e in finished] == [
        ("in-progress", "completed", "hired as apprentice", AFOL)]
    assert then(case, finished).referrals[R1].status == "completed"


@pytest.mark.parametrize("status", ["requested", "accepted", "in-progress"])
def test_given_an_unfinished_referral_when_the_referrer_cancels_it_then_cancelled(status):
    events = [referred(R1, AFOL)]
    if status != "requested":
        events.append(referral_moved(R1, AFOL, "requested", "accepted"))
    if status == "in-progress":
        events.append(referral_moved(R1, AFOL, "accepted", "in-progress"))
    case = open_case(shares_with(AFOL, S_AFOL), *events)
    assert when(case, cancel(R1, "the youth found a job")) == [ev.ReferralStatusChanged(
        youth_id=YOUTH, referral_id=R1, from_agency=MILANO, to_agency=AFOL, previous_status=status,
        status="cancelled", note="the youth found a job", by_agency=MILANO)]


def test_given_the_consent_to_share_ended_when_the_receiver_accepts_then_refused():
    case = open_case(shares_with(AFOL, S_AFOL), referred(R1, AFOL), withdrawn(S_AFOL, NOW - HOUR))
    # `decide` refuses an agency that may no longer see the youth before the rule is asked ...
    assert codes(when(case, respond(R1, "accepted"), agency=AFOL)) == ["no_consent"]
    # ... and the rule itself re-checks the consent on acceptance (defence in depth)
    rule = RULES[ev.RespondToReferral][0]
    assert rejected(rule(case, respond(R1, "accepted"), ctx(agency=AFOL))) == [
        ("data.decision", "consent_no_longer_in_force")]
    # rejecting stays possible for the rule (the receiver says no, sharing nothing)
    assert types(rule(case, respond(R1, "rejected", "cannot take it"), ctx(agency=AFOL))) == [
        ev.ReferralStatusChanged]
    # another agency is told it is not its referral (not whether the receiver's consent is in force)
    third = then(case, [shares_with(TORINO, S_TORINO)])
    assert rejected(when(third, respond(R1, "accepted"), agency=TORINO)) == [("data.referral_id", "not_your_referral")]


def test_given_a_closed_case_then_referrals_are_still_closed_in_the_loop():
    case = open_case(shares_with(AFOL, S_AFOL), referred(R1, AFOL), closed())
    assert types(when(case, cancel(R1))) == [ev.ReferralStatusChanged]
    assert types(when(case, respond(R1, "rejected", "case closed"), agency=AFOL)) == [ev.ReferralStatusChanged]
    assert rejected(when(case, respond(R1, "accepted"), agency=AFOL)) == [("data.decision", "case_closed")]


# ---------------------------------------------------------------- keep in touch

def test_when_logging_a_contact_then_contact_logged_by_the_agency():
    assert when(open_case(), log_contact(C1, "phone_call", "not_reached")) == [ev.ContactLogged(
        youth_id=YOUTH, contact_id=C1, agency=MILANO, contact_type="phone_call", channel="in_person",
        outcome="not_reached", occurred_at=NOW - HOUR, related_person_ids=[])]


def test_given_contact_problems_then_each_is_refused_with_its_reason():
    case = open_case()
    logged = then(case, when(case, log_contact(C1)))
    assert rejected(when(logged, log_contact(C1))) == [("data.contact_id", "duplicate")]
    assert rejected(when(case, log_contact(occurred_at=NOW + HOUR))) == [("data.occurred_at", "in_the_future")]
    assert types(when(case, log_contact(occurred_at=NOW + 4 * MINUTE))) == [ev.ContactLogged]  # clock skew
    assert rejected(when(case, log_contact(related=[P1]))) == [("data.related_person_ids.0", "unknown_related_person")]


def family(consents_to_contact=True) -> ev.RelatedPersonAdded:
    return ev.RelatedPersonAdded(youth_id=YOUTH, related_person_id=P1, relationship="parent",
                                 consents_to_contact=consents_to_contact)


def test_given_no_family_contact_consent_when_meeting_the_family_then_refused():
    case = open_case(family())
    assert rejected(when(case, log_contact(contact_type="family_meeting"))) == [
        ("data.contact_type", "no_family_contact_consent")]
    assert codes(when(case, log_contact(related=[P1]))) == ["no_family_contact_consent"]
    for_another_agency = open_case(family(), consented(uid(140), "family_contact", AFOL))
    assert codes(when(for_another_agency, log_contact(contact_type="family_meeting"))) == ["no_family_contact_consent"]


def test_given_a_related_person_who_did_not_consent_when_meeting_them_then_refused():
    case = open_case(family(consents_to_contact=False), consented(uid(140), "family_contact"))
    assert rejected(when(case, log_contact(contact_type="family_meeting", related=[P1]))) == [
        ("data.related_person_ids.0", "no_related_person_consent")]


def test_given_both_consents_when_meeting_the_family_then_logged_with_the_related_persons():
    case = open_case(family(), consented(uid(140), "family_contact"))
    outcome = when(case, log_contact(contact_type="family_meeting", related=[P1]))
    assert types(outcome) == [ev.ContactLogged] and outcome[0].related_person_ids == [P1]


def test_given_contact_was_lost_when_the_youth_is_reached_again_then_reengaged():
    case = open_case(contact_lost(), at=NOW - 40 * DAY)  # registered 40 days ago, never reached
    outcome = when(case, log_contact(C1, outcome="reached", occurred_at=NOW - HOUR))
    assert outcome[1:] == [ev.YouthReengaged(youth_id=YOUTH, contact_id=C1, agency=MILANO, days_without_contact=39)]
    assert types(outcome) == [ev.ContactLogged, ev.YouthReengaged]
    assert then(case, outcome).lost_contact is False
    not_reached = when(case, log_contact(C2, outcome="not_reached"))
    assert types(not_reached) == [ev.ContactLogged] and then(case, not_reached).lost_contact is True


def test_when_setting_the_cadence_then_the_alert_threshold_defaults_to_the_policy():
    assert when(open_case(), cadence(7)) == [ev.ContactCadenceSet(youth_id=YOUTH, every_days=7, lost_after_days=30)]
    assert when(open_case(), cadence(7, 14)) == [ev.ContactCadenceSet(youth_id=YOUTH, every_days=7, lost_after_days=14)]


@pytest.mark.parametrize(("every", "lost_after"), [(20, 10), (45, None)])
def test_given_an_alert_threshold_shorter_than_the_cadence_then_refused(every, lost_after):
    assert rejected(when(open_case(), cadence(every, lost_after))) == [("data.lost_after_days", "shorter_than_cadence")]


def test_given_no_contact_for_exactly_30_days_then_the_lost_contact_alert_is_due():
    case = open_case(at=NOW - 30 * DAY)
    assert lost_contact_due(case, NOW - timedelta(seconds=1), POLICY) is None
    assert lost_contact_due(case, NOW, POLICY) == 30
    assert when(case, flag(), now=NOW - timedelta(seconds=1)) == []
    assert when(case, flag()) == [ev.ContactLost(youth_id=YOUTH, last_contact_at=NOW - 30 * DAY,
                                                 days_without_contact=30, lead_agency=MILANO, key_worker="kw-1")]


def test_given_a_cadence_then_its_threshold_is_used():
    case = open_case(ev.ContactCadenceSet(youth_id=YOUTH, every_days=3, lost_after_days=10), at=NOW - 10 * DAY)
    assert lost_contact_due(case, NOW - timedelta(seconds=1), POLICY) is None
    assert lost_contact_due(case, NOW, POLICY) == 10
    assert types(when(case, flag())) == [ev.ContactLost]


def test_a_successful_contact_restarts_the_clock_an_unsuccessful_one_does_not():
    case = open_case(at=NOW - 40 * DAY)
    reached = then(case, when(case, log_contact(C1, outcome="reached", occurred_at=NOW - 5 * DAY)))
    assert lost_contact_due(reached, NOW, POLICY) is None
    assert lost_contact_due(reached, NOW + 25 * DAY, POLICY) == 30
    missed = then(case, when(case, log_contact(C1, outcome="not_reached", occurred_at=NOW - 5 * DAY)))
    assert lost_contact_due(missed, NOW, POLICY) == 40


def test_the_lost_contact_alert_is_not_raised_after_closure_nor_twice_nor_on_a_merged_record():
    long_ago = NOW - 60 * DAY
    assert when(open_case(closed(exited_on=TODAY - 40 * DAY), at=long_ago), flag()) == []
    case = open_case(at=long_ago)
    case = then(case, when(case, flag()))
    assert case.lost_contact and when(case, flag(), now=NOW + DAY) == []
    assert lost_contact_due(open_case(merged(), at=long_ago), NOW, POLICY) is None


def test_when_adding_a_related_person_then_added_with_their_identity_if_sealed():
    assert when(open_case(), add_related(P1, consents=False)) == [ev.RelatedPersonAdded(
        youth_id=YOUTH, related_person_id=P1, relationship="parent", consents_to_contact=False)]
    outcome = when(open_case(), add_related(P1), identity_ciphertext="ct-p1")
    assert outcome[1:] == [ev.IdentityRecorded(youth_id=YOUTH, person_id=P1, ciphertext="ct-p1")]
    assert rejected(when(open_case(family()), add_related(P1))) == [("data.related_person_id", "duplicate")]


def test_when_a_related_person_changes_their_consent_then_recorded_once():
    case = open_case(family(consents_to_contact=True))
    assert when(case, related_consent(P1, False)) == [ev.RelatedPersonConsentChanged(
        youth_id=YOUTH, related_person_id=P1, consents_to_contact=False)]
    assert rejected(when(case, related_consent(P1, True))) == [("data.consents_to_contact", "no_change")]
    assert rejected(when(case, related_consent(P2, True))) == [("data.related_person_id", "unknown_related_person")]


def test_when_recording_the_identity_then_the_ciphertext_is_stored_for_the_youth():
    outcome = when(open_case(), record_identity(), identity_ciphertext="ct-y")
    assert outcome == [ev.IdentityRecorded(youth_id=YOUTH, person_id=YOUTH, ciphertext="ct-y")]
    assert then(open_case(), outcome).has_identity


# ---------------------------------------------------------------- closure and follow-up

@pytest.mark.parametrize(("day", "months", "expected"), [
    (date(2025, 8, 31), 6, date(2026, 2, 28)),
    (date(2027, 8, 31), 6, date(2028, 2, 29)),  # leap year
    (date(2025, 8, 31), 12, date(2026, 8, 31)),
    (date(2025, 8, 31), 18, date(2027, 2, 28)),
    (date(2026, 8, 31), 18, date(2028, 2, 29)),
    (date(2026, 3, 31), 6, date(2026, 9, 30)),
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
    (date(2025, 12, 15), 1, date(2026, 1, 15)),
    (date(2025, 7, 15), 6, date(2026, 1, 15)),
    (date(2026, 2, 28), 12, date(2027, 2, 28)),
])
def test_add_months_keeps_the_day_or_takes_the_last_day_of_a_shorter_month(day, months, expected):
    assert add_months(day, months) == expected


def test_when_closing_the_case_then_follow_ups_are_scheduled_at_6_12_and_18_months():
    outcome = when(open_case(at=LONG_AGO), close(date(2025, 8, 31)))
    assert outcome == [ev.CaseClosed(youth_id=YOUTH, destination="employment", exited_on=date(2025, 8, 31), follow_ups=[
        ev.FollowUp(checkpoint_months=6, due_on=date(2026, 2, 28)),
        ev.FollowUp(checkpoint_months=12, due_on=date(2026, 8, 31)),
        ev.FollowUp(checkpoint_months=18, due_on=date(2027, 2, 28))])]
    case = then(open_case(at=LONG_AGO), outcome)
    assert case.closed and dict(case.follow_ups_due) == {6: date(2026, 2, 28), 12: date(2026, 8, 31),
                                                         18: date(2027, 2, 28)}


def test_given_an_exit_date_in_the_future_then_refused():
    assert rejected(when(open_case(), close(TODAY + DAY))) == [("data.exited_on", "in_the_future")]


def test_given_a_closed_case_when_recording_a_follow_up_then_recorded_with_the_on_time_flag():
    case = open_case(closed(exited_on=date(2025, 8, 31)))  # 6 months due 28 Feb 2026
    on_time = when(case, follow_up(6, recorded_on=TODAY))
    assert on_time == [ev.FollowUpRecorded(youth_id=YOUTH, checkpoint_months=6, situation="employment",
                                           recorded_on=TODAY, on_time=True)]
    due_plus_31, late = date(2026, 3, 31), date(2026, 4, 1)
    later = NOW.replace(month=4, day=15)
    assert when(case, follow_up(6, recorded_on=due_plus_31), now=later)[0].on_time is True
    assert when(case, follow_up(6, recorded_on=late), now=later)[0].on_time is False


def test_given_follow_up_problems_then_each_is_refused_with_its_reason():
    assert rejected(when(open_case(), follow_up(6))) == [("data.youth_id", "case_not_closed")]
    case = open_case(closed(exited_on=date(2025, 8, 31)))
    recorded = then(case, when(case, follow_up(6)))
    assert rejected(when(recorded, follow_up(6))) == [("data.checkpoint_months", "already_recorded")]
    assert rejected(when(case, follow_up(6, recorded_on=date(2025, 8, 30)))) == [("data.recorded_on", "out_of_range")]
    assert rejected(when(case, follow_up(6, recorded_on=TODAY + DAY))) == [("data.recorded_on", "out_of_range")]
    two_checkpoints = replace(POLICY, follow_up_months=(6, 12))
    short = open_case(closed(exited_on=date(2025, 8, 31), months=(6, 12)))
    assert rejected(when(short, follow_up(18), policy=two_checkpoints)) == [
        ("data.checkpoint_months", "not_scheduled")]


# ---------------------------------------------------------------- merge

def merge(survivor=YOUTH, duplicate=DUPLICATE) -> ev.MergeYouths:
    return ev.MergeYouths(youth_id=survivor, duplicate_youth_id=duplicate, reason="same person registered twice")


def survivor_case(*more):
    return given(registered(YOUTH, MILANO), consented(), *more)


def duplicate_case(*more):
    """Registered by AFOL; shared with MILANO; one withdrawn and one expired consent."""
    return given(registered(DUPLICATE, AFOL, case_ref="AF-9"),
                 consented(uid(200), by=AFOL, youth_id=DUPLICATE),
                 consented(uid(201), "sharing", MILANO, by=AFOL, youth_id=DUPLICATE),
                 consented(uid(202), "sharing", TORINO, by=AFOL, youth_id=DUPLICATE),
                 consented(uid(203), "sharing", OTHER, by=AFOL, youth_id=DUPLICATE, expires_at=NOW - DAY),
                 withdrawn(uid(202), NOW - HOUR, youth_id=DUPLICATE), *more)


def test_when_merging_then_the_agencies_join_and_the_consents_in_force_are_carried_over():
    dup = duplicate_case()
    outcome = decide_merge(survivor_case(), dup, merge(), ctx(role="supervisor"))
    assert isinstance(outcome, tuple)
    for_survivor, for_duplicate = outcome
    assert for_survivor == [
        ev.AgencyJoined(youth_id=YOUTH, agency=AFOL, partner_case_ref="merged", matched_by="merge"),
        # carried with their recipient made explicit (AFOL recorded the first one for itself)
        ev.ConsentRecorded(youth_id=YOUTH, consent=terms(uid(200), "case_management", AFOL), recorded_by=MILANO),
        ev.ConsentRecorded(youth_id=YOUTH, consent=terms(uid(201), "sharing", MILANO), recorded_by=MILANO),
    ]
    assert for_duplicate == [ev.YouthMerged(youth_id=DUPLICATE, merged_into=YOUTH,
                                            reason="same person registered twice", by_agency=MILANO)]
    survivor = then(survivor_case(), for_survivor)
    assert AFOL in survivor.agencies and may_access(survivor, AFOL, NOW, POLICY)  # AFOL's consent came along
    assert not may_access(survivor, TORINO, NOW, POLICY)  # the withdrawn one did not
    assert codes(when(then(dup, for_duplicate), log_contact(), agency=AFOL)) == ["merged"]


def test_given_a_consent_already_on_the_surviving_record_then_it_is_not_carried_twice():
    survivor = survivor_case(consented(uid(200), by=AFOL))
    for_survivor, _ = decide_merge(survivor, duplicate_case(), merge(), ctx(role="supervisor"))
    carried = [e.consent.consent_id for e in for_survivor if isinstance(e, ev.ConsentRecorded)]
    assert carried == [uid(201)]


@pytest.mark.parametrize("role", ["key_worker", "auditor", "operator", "partner_system"])
def test_given_a_role_without_the_merge_permission_when_merging_then_forbidden(role):
    outcome = decide_merge(survivor_case(), duplicate_case(), merge(), ctx(role=role))
    assert rejected(outcome) == [("", "forbidden")]


def test_given_merge_problems_then_each_is_refused_with_its_reason():
    sup = ctx(role="supervisor")
    assert rejected(decide_merge(survivor_case(), survivor_case(), merge(YOUTH, YOUTH), sup)) == [
        ("data.duplicate_youth_id", "same_youth")]
    assert rejected(decide_merge(survivor_case(), duplicate_case(
        ev.YouthMerged(youth_id=DUPLICATE, merged_into=uid(9), reason="x", by_agency=AFOL)), merge(), sup)) == [
        ("data.duplicate_youth_id", "already_merged")]
    assert rejected(decide_merge(survivor_case(merged(uid(9))), duplicate_case(), merge(), sup)) == [
        ("data.youth_id", "already_merged")]
    assert rejected(decide_merge(survivor_case(), duplicate_case(), merge(), ctx(agency=TORINO, role="supervisor"))) \
        == [("data.youth_id", "not_visible")]
    hidden = given(registered(DUPLICATE, AFOL), consented(uid(200), by=AFOL, youth_id=DUPLICATE))
    assert rejected(decide_merge(survivor_case(), hidden, merge(), sup)) == [("data.duplicate_youth_id", "not_visible")]


def test_decide_on_an_unknown_command_type_is_a_programming_error():
    with pytest.raises(KeyError):
        decide(open_case(), ev.MergeYouths(youth_id=YOUTH, duplicate_youth_id=DUPLICATE, reason="x"), ctx())


def test_given_a_follow_up_recorded_far_ahead_of_its_date_then_it_is_refused_as_too_early():
    case = open_case(closed(exited_on=date(2025, 8, 31)))  # 18 months due 28 Feb 2027
    assert rejected(when(case, follow_up(18, recorded_on=TODAY))) == [("data.recorded_on", "too_early")]


def test_given_a_six_month_follow_up_dated_on_the_exit_day_then_refused_and_the_real_one_later_accepted():
    exit_day = TODAY - 10 * DAY
    case = open_case(closed(exited_on=exit_day))
    assert rejected(when(case, follow_up(6, recorded_on=exit_day))) == [("data.recorded_on", "too_early")]
    six_months_on = add_months(exit_day, 6)
    later = datetime.combine(six_months_on, NOW.timetz())
    [recorded] = when(case, follow_up(6, recorded_on=six_months_on), now=later)
    assert recorded.on_time is True
    a_month_before = six_months_on - 31 * DAY
    assert types(when(case, follow_up(6, recorded_on=a_month_before), now=later)) == [ev.FollowUpRecorded]


def test_given_a_goal_update_without_achievement_then_the_achievement_is_kept():
    case = open_case(opened(), agreed(goals=[goal(G1, "active", "improving")]))
    [updated] = when(case, ev.UpdateGoal(youth_id=YOUTH, goal_id=G1, lifecycle_status="on-hold"))
    assert (updated.lifecycle_status, updated.achievement_status) == ("on-hold", "improving")
    [cleared] = when(case, ev.UpdateGoal(youth_id=YOUTH, goal_id=G1, lifecycle_status="active", achievement_status=None))
    assert cleared.achievement_status is None  # said explicitly


def test_given_a_withdrawal_dated_before_the_consent_was_given_then_refused():
    assert rejected(when(open_case(), withdraw(at=REGISTERED_AT - 30 * DAY))) == [("data.withdrawn_at", "before_given")]


def test_when_overriding_then_the_operator_is_on_the_event_for_auditors():
    [event] = when(open_case(), override(), role="supervisor", actor="op-7f3a")
    assert (event.by_role, event.by_actor, event.by_agency) == ("supervisor", "op-7f3a", MILANO)


# ---------------------------------------------------------------- erasure and restriction

def test_given_an_erasure_request_when_an_agency_admin_acts_then_the_keys_of_the_youth_and_its_outreach_go():
    engagement = uid(50)
    case = given(registered().model_copy(update={"engagement_id": engagement}), consented())
    [event] = when(case, erase(), role="agency_admin")
    assert isinstance(event, ev.YouthErased) and event.keys_destroyed == sorted([YOUTH, engagement])
    assert event.by_agency == MILANO and "art. 17" in event.legal_reason


def test_given_an_erasure_request_when_a_key_worker_acts_then_forbidden():
    assert rejected(when(open_case(), erase(), role="key_worker")) == [("", "forbidden")]


def test_given_a_legal_retention_duty_when_erasing_then_refused_and_restriction_offered():
    held = replace(POLICY, legal_hold_years={"IT": 10})
    assert rejected(when(open_case(), erase(), role="agency_admin", policy=held)) == [("data.mode", "retention_duty")]
    assert types(when(open_case(), erase("restriction"), role="agency_admin", policy=held)) == [ev.ProcessingRestricted]


def test_given_an_erased_youth_when_anything_then_refused_as_erased():
    erased = then(open_case(), when(open_case(), erase(), role="agency_admin"))
    assert erased.erased
    assert rejected(when(erased, log_contact())) == [("data.youth_id", "erased")]
    assert rejected(when(erased, erase(), role="agency_admin")) == [("data.youth_id", "erased")]


def test_given_restricted_processing_then_only_erasure_is_accepted():
    restricted = then(open_case(), when(open_case(), erase("restriction"), role="agency_admin"))
    assert rejected(when(restricted, log_contact())) == [("data.youth_id", "restricted")]
    assert types(when(restricted, erase(), role="agency_admin")) == [ev.YouthErased]


def test_retention_erases_a_closed_case_the_configured_years_after_exit():
    from services.intake.decisions import erasure_due

    case = open_case(closed(exited_on=date(2020, 3, 1)))
    assert erasure_due(case, date(2025, 3, 1), POLICY)  # 5 years in deploy/policy.toml
    assert not erasure_due(case, date(2025, 2, 28), POLICY)
    assert not erasure_due(open_case(), date(2040, 1, 1), POLICY)  # an open case is never erased on schedule


def at_noon(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), timezone.utc).replace(hour=12)


PLATFORM_SENDER = {"role": "platform", "agency": "kit-platform"}


def test_given_a_closed_case_when_its_retention_ends_then_the_erasure_is_scheduled_not_run():
    case = open_case(closed(exited_on=date(2020, 3, 1)))
    assert when(case, retention(), now=at_noon(date(2025, 2, 28)), **PLATFORM_SENDER) == []
    [scheduled] = when(case, retention(), now=at_noon(date(2025, 3, 1)), **PLATFORM_SENDER)
    assert scheduled == ev.ErasureScheduled(youth_id=YOUTH, scheduled_for=date(2025, 3, 31),
                                            legal_reason="retention period ended: 5 years after the exit")
    assert when(open_case(), retention(), now=at_noon(date(2040, 1, 1)), **PLATFORM_SENDER) == []


def test_given_a_scheduled_erasure_when_its_day_comes_then_the_youth_is_erased():
    case = open_case(closed(exited_on=date(2020, 3, 1)),
                     ev.ErasureScheduled(youth_id=YOUTH, scheduled_for=date(2025, 3, 31), legal_reason="r"))
    assert when(case, retention(), now=at_noon(date(2025, 3, 30)), **PLATFORM_SENDER) == []
    [erased] = when(case, retention(), now=at_noon(date(2025, 3, 31)), **PLATFORM_SENDER)
    assert isinstance(erased, ev.YouthErased) and erased.by_agency == "kit-platform"
    assert erased.legal_reason == "retention period ended: 5 years after the exit" and erased.keys_destroyed == [YOUTH]


def test_given_a_scheduled_erasure_when_an_agency_admin_stops_it_then_it_never_runs_nor_comes_back():
    case = open_case(closed(exited_on=date(2020, 3, 1)),
                     ev.ErasureScheduled(youth_id=YOUTH, scheduled_for=date(2025, 3, 31), legal_reason="r"))
    stop = ev.CancelScheduledErasure(youth_id=YOUTH, reason="litigation pending")
    assert rejected(when(case, stop, role="key_worker")) == [("", "forbidden")]
    [cancelled] = when(case, stop, role="agency_admin", now=at_noon(date(2025, 3, 10)))
    assert (cancelled.by_agency, cancelled.reason) == (MILANO, "litigation pending")
    kept = then(case, [cancelled])
    assert kept.erasure_scheduled_for is None and kept.retention_stopped
    assert when(kept, retention(), now=at_noon(date(2025, 3, 31)), **PLATFORM_SENDER) == []
    assert when(kept, retention(), now=at_noon(date(2030, 1, 1)), **PLATFORM_SENDER) == []
    assert rejected(when(kept, stop, role="agency_admin")) == [("data.youth_id", "not_scheduled")]
    assert types(when(kept, erase(), role="agency_admin")) == [ev.YouthErased]  # an explicit request still can


def test_given_an_agency_outside_the_path_when_stopping_an_erasure_then_it_is_told_of_no_such_youth():
    case = open_case(closed(exited_on=date(2020, 3, 1)),
                     ev.ErasureScheduled(youth_id=YOUTH, scheduled_for=date(2025, 3, 31), legal_reason="r"))
    stop = ev.CancelScheduledErasure(youth_id=YOUTH, reason="litigation pending")
    assert rejected(when(case, stop, role="agency_admin", agency=OTHER)) == [("data.youth_id", "unknown_youth")]


# ---------------------------------------------------------------- dates bounded by what they refer to

def test_given_a_back_dated_exit_before_the_path_began_then_refused():
    # the fuzzer's closure dated 2020-01-01 on a youth registered this year
    assert rejected(when(open_case(), close(date(2020, 1, 1)))) == [("data.exited_on", "before_path_start")]
    assert rejected(when(open_case(), close(REGISTERED_AT.date() - DAY))) == [("data.exited_on", "before_path_start")]
    assert types(when(open_case(), close(REGISTERED_AT.date()))) == [ev.CaseClosed]


def test_given_a_path_begun_at_first_outreach_contact_then_an_exit_from_that_day_is_accepted():
    first = REGISTERED_AT - 40 * DAY
    case = given(registered().model_copy(update={"engagement_id": uid(50), "first_contact_at": first}),
                 consented(), opened())
    assert types(when(case, close(first.date()))) == [ev.CaseClosed]
    assert codes(when(case, close(first.date() - DAY))) == ["before_path_start"]


def test_given_dates_outside_their_bounds_then_each_is_refused_with_its_reason():
    case = open_case()
    assert codes(when(case, log_contact(occurred_at=REGISTERED_AT - DAY))) == ["before_path_start"]
    assert codes(when(open_case(agreed()), review(held_on=REGISTERED_AT.date() - DAY))) == ["before_path_start"]
    assert codes(when(open_case(agreed()), review(next_review=TODAY + 800 * DAY))) == ["too_far_ahead"]
    assert codes(when(case, agree(next_review=TODAY + 800 * DAY))) == ["too_far_ahead"]
    assert codes(when(given(*registered_with_consent()), assess(neet_since=date(1999, 12, 31)))) == ["before_birth"]
    far = terms(uid(130), "sharing", AFOL, given_at=NOW - HOUR, expires_at=NOW + 11 * 366 * DAY)
    assert codes(when(case, record_consent(far))) == ["too_far_ahead"]
    assert codes(when(case, override(expires_at=NOW + 400 * DAY), role="supervisor")) == ["too_far_ahead"]


def test_given_an_outreach_contact_more_than_two_years_old_then_refused():
    old = ev.RecordOutreachContact(handle="Ziggy", place_type="street", channel="in_person", outcome="first_contact",
                                   territory=ev.Territory(country="IT", municipality="Milano"),
                                   occurred_at=NOW - 800 * DAY)
    assert codes(decide_outreach_contact(old, ctx(), engagement_id=uid(50), engagement=None)) == ["too_far_back"]


def test_given_a_lead_transfer_then_the_former_lead_s_key_worker_is_no_longer_the_key_worker():
    case = then(open_case(), [ev.LeadTransferred(youth_id=YOUTH, from_agency=MILANO, to_agency=AFOL, referral_id=R1)])
    assert (case.lead_agency, case.key_worker) == (AFOL, None)
