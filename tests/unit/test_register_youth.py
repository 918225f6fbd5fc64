"""Given/when/then for the registration decision (pure: no I/O; the caller passes the lookups in)."""

from events import intake as ev
from services.intake.case import Engagement
from services.intake.decisions import Registration, decide_register_youth
from tests.unit.intake_given import (AFOL, CM_CONSENT, DAY, LUGANO, MILANO, NOTICE, NOW, TICINO, YOUTH, consented,
                                     ctx, given, registered, terms, uid)

NEW = uid(7)
EARLIER = uid(8)
ENGAGEMENT = uid(50)
FIRST_CONTACT = NOW - 60 * DAY


def command(**overrides) -> ev.RegisterYouth:
    fields = dict(partner_case_ref="MI7-1", birth_year=2005, country="IT", region="IT-25",
                  consents=[terms()]) | overrides
    return ev.RegisterYouth(**fields)


def engagement(linked_to: str | None = None) -> Engagement:
    return Engagement(engagement_id=ENGAGEMENT, agency=MILANO, first_contact_at=FIRST_CONTACT,
                      contacts=3, linked_to=linked_to)


def when_registering(cmd: ev.RegisterYouth, *, existing: str | None = None, matched=None, engagement=None,
                     agency: str = MILANO, **context):
    return decide_register_youth(cmd, ctx(agency=agency, **context), new_youth_id=NEW,
                                 existing_youth_for_case_ref=existing, matched=matched, engagement=engagement)


def rejected(outcome) -> list[tuple[str, str]]:
    assert isinstance(outcome, list), outcome
    return [(r.field, r.code) for r in outcome]


def accepted(outcome) -> Registration:
    assert isinstance(outcome, Registration), outcome
    return outcome


# ---------------------------------------------------------------- accepted

def test_given_a_new_case_when_registering_then_youth_registered_with_the_new_pseudonym_and_its_consent():
    outcome = accepted(when_registering(command()))
    assert outcome.youth_id == NEW and not outcome.matched and outcome.notices == []
    assert outcome.youth_events == [
        ev.YouthRegistered(youth_id=NEW, registering_agency=MILANO, partner_case_ref="MI7-1", birth_year=2005,
                           country="IT", region="IT-25"),
        ev.ConsentRecorded(youth_id=NEW, consent=terms(), recorded_by=MILANO),
    ]
    assert outcome.engagement_events == []


def test_given_a_sealed_identity_when_registering_then_the_ciphertext_is_recorded_for_the_youth():
    outcome = accepted(when_registering(command(), identity_ciphertext="ct-1"))
    assert [type(e) for e in outcome.youth_events] == [ev.YouthRegistered, ev.IdentityRecorded, ev.ConsentRecorded]
    assert outcome.youth_events[1] == ev.IdentityRecorded(youth_id=NEW, person_id=NEW, ciphertext="ct-1")


def test_given_an_outreach_history_when_registering_with_its_handle_then_the_path_starts_at_the_first_contact():
    outcome = accepted(when_registering(command(engagement_handle="Skater 7"), engagement=engagement()))
    head = outcome.youth_events[0]
    assert isinstance(head, ev.YouthRegistered)
    assert (head.engagement_id, head.first_contact_at) == (ENGAGEMENT, FIRST_CONTACT)
    assert outcome.engagement_events == [ev.EngagementLinked(engagement_id=ENGAGEMENT, youth_id=NEW)]


def test_given_a_legal_basis_other_than_consent_when_registering_then_it_suffices_for_case_management():
    outcome = when_registering(command(consents=[terms(legal_basis="public_task")]))
    assert accepted(outcome).youth_id == NEW


def test_given_a_consent_for_the_agency_category_when_registering_then_it_suffices():
    outcome = when_registering(command(consents=[terms(recipient="category:municipal_youth_service")]))
    assert accepted(outcome).youth_id == NEW


def test_given_the_edges_of_the_age_band_when_registering_then_accepted():
    assert accepted(when_registering(command(birth_year=1996)))  # 30 this year
    # turns 14 this year, 15 next year: a guardian consents (in Italy the youth alone from 14)
    assert accepted(when_registering(command(birth_year=2012, consents=[terms(given_by="guardian")])))


# ---------------------------------------------------------------- matched by national id

def test_given_the_person_is_already_registered_by_another_agency_when_registering_then_the_agency_joins_that_youth():
    existing = given(registered(YOUTH, AFOL, case_ref="AF-9"), consented(uid(101), by=AFOL))
    outcome = accepted(when_registering(command(), matched=existing, identity_ciphertext="ct-1"))
    assert outcome.youth_id == YOUTH and outcome.matched
    assert outcome.youth_events == [
        ev.AgencyJoined(youth_id=YOUTH, agency=MILANO, partner_case_ref="MI7-1", matched_by="national_id"),
        ev.ConsentRecorded(youth_id=YOUTH, consent=terms(), recorded_by=MILANO),
    ]  # no IdentityRecorded: the identity on file is kept
    assert [(n.field, n.code) for n in outcome.notices] == [("data.sealed_identity", "matched_existing_youth")]
    assert YOUTH in outcome.notices[0].message


def test_given_a_match_whose_consent_already_covers_the_agency_when_registering_without_consents_then_it_joins():
    existing = given(registered(YOUTH, AFOL), consented(by=AFOL),
                     consented(uid(101), "case_management", "category:municipal_youth_service", by=AFOL))
    outcome = accepted(when_registering(command(consents=[]), matched=existing))
    assert [type(e) for e in outcome.youth_events] == [ev.AgencyJoined]


def test_given_a_match_when_a_consent_id_is_already_on_the_matched_record_then_rejected_as_duplicate():
    existing = given(registered(YOUTH, AFOL), consented(by=AFOL))  # CM_CONSENT already there
    outcome = when_registering(command(), matched=existing)
    assert rejected(outcome) == [("data.consents.0.consent_id", "duplicate")]


# ---------------------------------------------------------------- rejections

def test_given_the_case_ref_already_registered_when_registering_again_then_rejected_naming_the_youth():
    outcome = when_registering(command(), existing=EARLIER)
    assert rejected(outcome) == [("data.partner_case_ref", "already_registered")]
    assert EARLIER in outcome[0].message


def test_given_the_matched_person_already_registered_by_this_agency_when_registering_then_rejected():
    existing = given(registered(YOUTH, MILANO, case_ref="MI7-0"), consented())
    outcome = when_registering(command(), matched=existing)
    assert rejected(outcome) == [("data.sealed_identity", "already_registered")]
    assert YOUTH in outcome[0].message


def test_given_a_birth_year_outside_15_to_30_when_registering_then_rejected_with_the_age():
    too_old = when_registering(command(birth_year=1995))  # 31
    too_young = when_registering(command(birth_year=2013))  # 13
    assert rejected(too_old) == [("data.birth_year", "out_of_target_age")]
    assert rejected(too_young) == [("data.birth_year", "out_of_target_age")]
    assert "31" in too_old[0].message and "13" in too_young[0].message


def test_given_a_region_of_another_country_when_registering_then_rejected():
    outcome = when_registering(command(country="CH", region="IT-25"))
    assert rejected(outcome) == [("data.region", "region_country_mismatch")]


def test_given_an_unknown_handle_when_registering_then_rejected():
    outcome = when_registering(command(engagement_handle="Skater 7"), engagement=None)
    assert rejected(outcome) == [("data.engagement_handle", "unknown_engagement")]


def test_given_an_engagement_already_linked_when_registering_then_rejected_naming_the_youth():
    outcome = when_registering(command(engagement_handle="Skater 7"), engagement=engagement(linked_to=EARLIER))
    assert rejected(outcome) == [("data.engagement_handle", "engagement_already_linked")]
    assert EARLIER in outcome[0].message


def test_given_no_consent_when_registering_then_a_case_management_consent_is_required():
    assert rejected(when_registering(command(consents=[]))) == [("data.consents", "consent_required")]


def test_given_only_consents_for_other_purposes_or_agencies_when_registering_then_consent_required():
    other_purpose = command(consents=[terms(uid(110), "sharing", AFOL)])
    other_agency = command(consents=[terms(uid(111), "case_management", AFOL)])
    assert rejected(when_registering(other_purpose)) == [("data.consents", "consent_required")]
    assert rejected(when_registering(other_agency)) == [("data.consents", "consent_required")]


def test_given_a_consent_that_already_expired_when_registering_then_consent_required():
    outcome = when_registering(command(consents=[terms(given_at=NOW - 30 * DAY, expires_at=NOW - DAY)]))
    assert rejected(outcome) == [("data.consents", "consent_required")]


def test_given_a_minor_in_italy_consenting_alone_when_registering_then_the_guardian_is_required():
    outcome = when_registering(command(birth_year=2012))  # may be 13 on the day: Italy asks 14
    assert rejected(outcome) == [("data.consents.0.given_by", "guardian_required")]


def test_given_a_minor_in_switzerland_consenting_alone_when_registering_then_the_guardian_is_required():
    cmd = command(birth_year=2010, country="CH", region="CH-TI", partner_case_ref="TI-1")
    assert rejected(when_registering(cmd, agency=TICINO)) == [("data.consents.0.given_by", "guardian_required")]
    by_guardian = cmd.model_copy(update={"consents": [terms(given_by="guardian")]})
    assert accepted(when_registering(by_guardian, agency=TICINO)).youth_events[0].registering_agency == TICINO


def test_given_a_consent_on_an_outdated_notice_when_registering_then_rejected():
    outcome = when_registering(command(consents=[terms(notice="2025-1")]))
    assert rejected(outcome) == [("data.consents.0.notice_version", "outdated_notice")]
    assert NOTICE in outcome[0].message


def test_given_a_second_consent_with_a_problem_when_registering_then_the_reason_names_its_index():
    outcome = when_registering(command(consents=[terms(), terms(uid(112), "sharing", "no-such-agency")]))
    assert rejected(outcome) == [("data.consents.1.recipient", "unknown_agency")]


def test_given_several_problems_when_registering_then_every_reason_is_reported():
    outcome = when_registering(command(birth_year=1990, country="CH", region="IT-25", engagement_handle="x"),
                               existing=YOUTH, agency=LUGANO)
    assert {code for _, code in rejected(outcome)} == {"already_registered", "out_of_target_age",
                                                       "region_country_mismatch", "unknown_engagement"}


def test_consents_are_checked_against_the_registering_agency_not_the_default_recipient_of_another():
    # a consent with no recipient is for the recording agency: AFOL registering gets AFOL's consent
    outcome = accepted(when_registering(command(), agency=AFOL))
    consent = outcome.youth_events[-1]
    assert isinstance(consent, ev.ConsentRecorded) and consent.recorded_by == AFOL
    assert consent.consent.consent_id == CM_CONSENT


def test_given_a_declared_start_of_the_path_when_registering_then_the_path_starts_then_and_bounds_follow_it():
    from services.intake.case import evolve

    started = NOW - 90 * DAY
    outcome = accepted(when_registering(command(path_started_at=started)))
    assert outcome.youth_events[0].first_contact_at == started
    case = evolve(None, outcome.youth_events[0], NOW)
    assert case.path_start == started  # a contact, a review or the exit may be dated from then on
    # the earlier of the declared start and the outreach history's first contact
    later = NOW - 30 * DAY
    both = accepted(when_registering(command(path_started_at=later, engagement_handle="Ziggy"),
                                     engagement=engagement()))
    assert both.youth_events[0].first_contact_at == FIRST_CONTACT


def test_given_a_start_of_the_path_out_of_bounds_when_registering_then_refused():
    assert rejected(when_registering(command(path_started_at=NOW - 800 * DAY))) == [
        ("data.path_started_at", "too_far_back")]
    assert rejected(when_registering(command(path_started_at=NOW + DAY))) == [("data.path_started_at", "in_the_future")]
