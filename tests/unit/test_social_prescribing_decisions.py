"""Social prescribing's decisions, given a state folded from events, when a command comes, then the
events or the reasons (each naming the field to correct)."""

import uuid
from datetime import date, datetime, timezone

import pytest

from events import social_prescribing as sp
from services.social_prescribing import caseload, decisions, wellbeing
from services.social_prescribing.case import Places, evolve, evolve_places
from services.social_prescribing.decisions import Activity

MILAN, PROXIMO, AFOL = "comune-milano-m7", "proximo-milano", "afol-milano"
YOUTH, REFERRAL, ACTIVITY = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
TODAY = date(2026, 12, 1)
AT = datetime(2026, 11, 1, tzinfo=timezone.utc)
FOOTBALL = Activity("Calcio di strada", "active", minimum_age=16, maximum_age=25, provider_agency=PROXIMO)


def case_of(*events):
    case = None
    for event in events:
        case = evolve(case, event, AT)
    return case


def places_of(*events):
    places = None
    for event in events:
        places = evolve_places(places, event, AT)
    return places or Places()


def received(birth_year=2005):
    return sp.SocialPrescribingReferralReceived(youth_id=YOUTH, referral_id=REFERRAL, from_agency=MILAN,
                                                to_agency=PROXIMO, birth_year=birth_year, reason="isolamento")


def accepted():
    return sp.SocialPrescribingReferralAccepted(youth_id=YOUTH, referral_id=REFERRAL, link_worker="lw-sara")


def prescribe(prescription=None, activity=ACTIVITY):
    return sp.PrescribeActivity(youth_id=YOUTH, prescription_id=prescription or str(uuid.uuid4()), activity_id=activity)


def codes(reasons):
    return [(r.field, r.code) for r in reasons]


# ---------------------------------------------------------------- referral in

def test_given_no_referral_when_one_is_sent_then_it_is_received_from_the_sender():
    command = sp.ReferToSocialPrescribing(youth_id=YOUTH, referral_id=REFERRAL, to_agency=PROXIMO, birth_year=2005,
                                          reason="isolamento")
    [event] = decisions.refer(None, command, MILAN)
    assert (event.from_agency, event.to_agency, event.birth_year) == (MILAN, PROXIMO, 2005)
    assert codes(decisions.refer(case_of(received()), command, MILAN)) == [("data.youth_id", "already_referred")]
    declined = sp.SocialPrescribingReferralDeclined(youth_id=YOUTH, referral_id=REFERRAL, reason="fuori zona")
    [again] = decisions.refer(case_of(received(), declined), command, MILAN)  # after a decline, a new referral
    assert isinstance(again, sp.SocialPrescribingReferralReceived)


def test_given_every_activity_ended_when_referred_again_then_a_new_episode_starts_and_the_old_one_stays():
    done = str(uuid.uuid4())
    ended = (received(), accepted(), sp.ActivityPrescribed(youth_id=YOUTH, prescription_id=done, activity_id=ACTIVITY,
                                                           placed=True),
             sp.PrescriptionEnded(youth_id=YOUTH, prescription_id=done, activity_id=ACTIVITY, ending="completed",
                                  days=30))
    command = sp.ReferToSocialPrescribing(youth_id=YOUTH, referral_id=str(uuid.uuid4()), to_agency=PROXIMO,
                                          birth_year=2005, reason="di nuovo isolato")
    assert codes(decisions.refer(case_of(*ended[:3]), command, MILAN)) == [("data.youth_id", "already_referred")]
    assert codes(decisions.refer(case_of(*ended[:2]), command, MILAN)) == [("data.youth_id", "already_referred")]
    [again] = decisions.refer(case_of(*ended), command, MILAN)
    case = case_of(*ended, again, accepted())
    assert case.active() and done in case.prescriptions and not case.episode  # the old one kept, not counted


def test_given_an_agency_not_in_the_register_when_referred_to_then_refused():
    command = sp.ReferToSocialPrescribing(youth_id=YOUTH, referral_id=REFERRAL, to_agency="nowhere-agency",
                                          birth_year=2005, reason="isolamento")
    assert codes(decisions.refer(None, command, MILAN, known_agency=lambda code: code == PROXIMO)) == [
        ("data.to_agency", "unknown_agency")]


@pytest.mark.parametrize("answer, sender, expected", [
    (dict(decision="accepted", link_worker="lw-sara"), PROXIMO, sp.SocialPrescribingReferralAccepted),
    (dict(decision="declined", reason="fuori zona"), PROXIMO, sp.SocialPrescribingReferralDeclined),
    (dict(decision="accepted"), PROXIMO, ("data.link_worker", "missing")),
    (dict(decision="declined"), PROXIMO, ("data.reason", "missing")),
    (dict(decision="accepted", link_worker="x"), AFOL, ("data.referral_id", "not_addressed_to_you")),
])
def test_given_a_received_referral_when_answered_then_accepted_declined_or_refused(answer, sender, expected):
    command = sp.AnswerSocialPrescribingReferral(youth_id=YOUTH, referral_id=REFERRAL, **answer)
    decided = decisions.answer(case_of(received()), command, sender)
    if isinstance(expected, tuple):
        assert codes(decided) == [expected]
    else:
        assert [type(e) for e in decided] == [expected]


def test_given_an_answered_referral_when_answered_again_then_refused():
    command = sp.AnswerSocialPrescribingReferral(youth_id=YOUTH, referral_id=REFERRAL, decision="declined", reason="x")
    assert codes(decisions.answer(case_of(received(), accepted()), command, PROXIMO)) == [
        ("data.referral_id", "already_answered")]
    other = command.model_copy(update={"referral_id": str(uuid.uuid4())})
    assert codes(decisions.answer(case_of(received()), other, PROXIMO)) == [("data.referral_id", "unknown_referral")]


# ---------------------------------------------------------------- prescriptions and places

def test_given_a_place_free_when_prescribed_then_the_youth_gets_it_and_the_activity_one_less():
    places = places_of(sp.ActivityPlacesSet(activity_id=ACTIVITY, available=1, maximum=10))
    youth_events, activity_events = decisions.prescribe(case_of(received(), accepted()), places, FOOTBALL,
                                                        prescribe(), PROXIMO, TODAY)
    assert youth_events[0].placed and youth_events[0].waitlist_position is None
    assert places_of(sp.ActivityPlacesSet(activity_id=ACTIVITY, available=1, maximum=10), *activity_events).available == 0


def test_given_a_full_activity_when_prescribed_then_the_youth_waits_with_position_and_expected_wait():
    full = places_of(sp.ActivityPlacesSet(activity_id=ACTIVITY, available=0, maximum=2),
                     sp.WaitlistJoined(activity_id=ACTIVITY, prescription_id=str(uuid.uuid4()), position=1),
                     *[sp.PlaceFreed(activity_id=ACTIVITY, prescription_id=str(uuid.uuid4()), held_place=True, days=d)
                       for d in (20, 40, 60)],
                     sp.ActivityPlacesSet(activity_id=ACTIVITY, available=0, maximum=2))
    [youth_event], [activity_event] = decisions.prescribe(case_of(received(), accepted()), full, FOOTBALL,
                                                          prescribe(), PROXIMO, TODAY)
    # a place frees every 40 / 2 = 20 days: the second in line waits about 40
    assert (youth_event.placed, youth_event.waitlist_position, youth_event.expected_wait_days) == (False, 2, 40)
    assert activity_event.position == 2


def test_given_a_full_activity_without_history_then_the_wait_is_not_guessed():
    full = places_of(sp.ActivityPlacesSet(activity_id=ACTIVITY, available=0, maximum=8))
    [youth_event], _ = decisions.prescribe(case_of(received(), accepted()), full, FOOTBALL, prescribe(), PROXIMO, TODAY)
    assert (youth_event.waitlist_position, youth_event.expected_wait_days) == (1, None)


def test_given_an_activity_without_known_capacity_then_nothing_limits_the_prescription():
    [youth_event], [taken] = decisions.prescribe(case_of(received(), accepted()), Places(), FOOTBALL, prescribe(),
                                                 PROXIMO, TODAY)
    assert youth_event.placed and isinstance(taken, sp.PlaceTaken)


@pytest.mark.parametrize("birth_year, activity, expected", [
    (2012, FOOTBALL, "the activity is for ages 16 to 25; a youth born in 2012 is 13 or 14"),
    (1996, FOOTBALL, "the activity is for ages 16 to 25; a youth born in 1996 is 29 or 30"),
    (2009, Activity("Fotografia", "active", minimum_age=18), "the activity is for ages 18 and over; a youth born in"
                                                            " 2009 is 16 or 17"),
])
def test_given_an_age_rule_the_youth_cannot_meet_then_refused_with_the_rule(birth_year, activity, expected):
    reasons = decisions.prescribe(case_of(received(birth_year), accepted()), Places(), activity, prescribe(), PROXIMO,
                                  TODAY)
    assert codes(reasons) == [("data.activity_id", "ineligible")] and reasons[0].message == expected


def test_given_a_youth_who_may_be_old_enough_then_the_birth_year_alone_does_not_refuse():
    # born in 2010: 15 or 16 today; the rule says 16 and over
    youth_events, _ = decisions.prescribe(case_of(received(2010), accepted()), Places(), FOOTBALL, prescribe(),
                                          PROXIMO, TODAY)
    assert youth_events[0].placed


@pytest.mark.parametrize("given, activity, sender, expected", [
    ((received(),), FOOTBALL, PROXIMO, ("data.youth_id", "no_accepted_referral")),
    ((), FOOTBALL, PROXIMO, ("data.youth_id", "no_accepted_referral")),
    ((received(), accepted()), FOOTBALL, AFOL, ("data.youth_id", "not_your_youth")),
    ((received(), accepted()), None, PROXIMO, ("data.activity_id", "unknown_activity")),
    ((received(), accepted()), Activity("x", "temporarily closed"), PROXIMO, ("data.activity_id", "activity_not_active")),
    ((received(), accepted(), sp.ActivityPrescribed(youth_id=YOUTH, prescription_id=str(uuid.uuid4()),
                                                    activity_id=ACTIVITY, placed=True)),
     FOOTBALL, PROXIMO, ("data.activity_id", "already_prescribed")),
])
def test_given_what_is_missing_when_prescribed_then_refused_naming_the_field(given, activity, sender, expected):
    assert codes(decisions.prescribe(case_of(*given), Places(), activity, prescribe(), sender, TODAY)) == [expected]


# ---------------------------------------------------------------- the end of a prescription

PLACED, WAITING = str(uuid.uuid4()), str(uuid.uuid4())
WITH_TWO = (received(), accepted(),
            sp.ActivityPrescribed(youth_id=YOUTH, prescription_id=PLACED, activity_id=ACTIVITY, placed=True),
            sp.ActivityPrescribed(youth_id=YOUTH, prescription_id=WAITING, activity_id=str(uuid.uuid4()), placed=False,
                                  waitlist_position=1))


def end(prescription, ending, reason=None):
    return sp.EndPrescription(youth_id=YOUTH, prescription_id=prescription, ending=ending, reason=reason)


def test_given_a_placed_prescription_when_completed_then_its_place_is_freed_with_the_days_held():
    [ended], [freed] = decisions.end(case_of(*WITH_TWO), end(PLACED, "completed"), PROXIMO, TODAY)
    assert (ended.ending, ended.days, freed.held_place, freed.days) == ("completed", 30, True, 30)
    places = places_of(sp.ActivityPlacesSet(activity_id=ACTIVITY, available=0, maximum=5),
                       sp.PlaceTaken(activity_id=ACTIVITY, prescription_id=PLACED), freed)
    assert (places.available, places.holders, places.stays) == (1, frozenset(), (30,))


def test_given_a_waitlisted_prescription_when_withdrawn_then_it_leaves_the_waitlist():
    _, [freed] = decisions.end(case_of(*WITH_TWO), end(WAITING, "withdrawn"), PROXIMO, TODAY)
    assert not freed.held_place
    places = places_of(sp.WaitlistJoined(activity_id=freed.activity_id, prescription_id=WAITING, position=1), freed)
    assert places.waitlist == () and places.stays == ()


@pytest.mark.parametrize("command, expected", [
    (end(WAITING, "completed"), ("data.ending", "not_placed")),
    (end(PLACED, "dropped_out"), ("data.reason", "missing")),
    (end(str(uuid.uuid4()), "completed"), ("data.prescription_id", "unknown_prescription")),
])
def test_given_an_ending_that_does_not_fit_then_refused(command, expected):
    assert codes(decisions.end(case_of(*WITH_TWO), command, PROXIMO, TODAY)) == [expected]


def test_given_an_ended_prescription_when_ended_again_then_refused():
    [ended], _ = decisions.end(case_of(*WITH_TWO), end(PLACED, "dropped_out", "trasloco"), PROXIMO, TODAY)
    assert codes(decisions.end(case_of(*WITH_TWO, ended), end(PLACED, "completed"), PROXIMO, TODAY)) == [
        ("data.prescription_id", "already_ended")]


@pytest.mark.parametrize("command, activity, sender, expected", [
    (dict(available=9, maximum=8), FOOTBALL, PROXIMO, ("data.available", "more_than_maximum")),
    (dict(available=1), None, PROXIMO, ("data.activity_id", "unknown_activity")),
    (dict(available=1), FOOTBALL, AFOL, ("data.activity_id", "not_your_activity")),  # another provider's
    (dict(available=1), Activity("x", "active"), PROXIMO, ("data.activity_id", "no_provider_agency")),
])
def test_given_who_runs_the_activity_when_its_places_are_set_then_only_its_agency_may(command, activity, sender,
                                                                                       expected):
    places = sp.SetActivityPlaces(activity_id=ACTIVITY, **command)
    assert codes(decisions.set_places(places, activity, sender)) == [expected]


def test_given_the_activity_s_own_agency_when_it_sets_its_places_then_they_are_set():
    [event] = decisions.set_places(sp.SetActivityPlaces(activity_id=ACTIVITY, available=4, maximum=10), FOOTBALL,
                                   PROXIMO)
    assert (event.available, event.maximum) == (4, 10)


# ---------------------------------------------------------------- attendance

def attendance(prescription=PLACED, day=date(2026, 11, 20), activity=ACTIVITY):
    return sp.RecordAttendance(activity_id=activity, prescription_id=prescription, session_on=day, present=True)


def test_given_a_placed_participant_when_the_provider_records_a_session_then_it_is_on_the_youth_s_case():
    [event] = decisions.attend(case_of(*WITH_TWO), attendance(), YOUTH, FOOTBALL, PROXIMO, TODAY)
    assert (event.youth_id, event.present, event.by) == (YOUTH, True, "provider")
    assert case_of(*WITH_TWO, event).prescriptions[PLACED].sessions == {date(2026, 11, 20): True}


def test_given_the_youth_s_own_agency_not_running_the_activity_then_the_link_worker_records_it():
    run_elsewhere = Activity("Calcio", "active", provider_agency=AFOL)
    [event] = decisions.attend(case_of(*WITH_TWO), attendance(), YOUTH, run_elsewhere, PROXIMO, TODAY)
    assert event.by == "link_worker"


@pytest.mark.parametrize("command, sender, expected", [
    # another agency learns nothing: the code of another activity's participant is like no code at all
    (attendance(), MILAN, ("data.prescription_id", "unknown_prescription")),
    (attendance(activity=str(uuid.uuid4())), PROXIMO, ("data.prescription_id", "unknown_prescription")),
    (attendance(prescription=str(uuid.uuid4())), PROXIMO, ("data.prescription_id", "unknown_prescription")),
    (attendance(prescription=WAITING), PROXIMO, ("data.prescription_id", "unknown_prescription")),  # other activity
    (attendance(day=date(2026, 12, 2)), PROXIMO, ("data.session_on", "in_the_future")),
    (attendance(day=date(2026, 10, 30)), PROXIMO, ("data.session_on", "before_prescription")),
])
def test_given_a_session_that_does_not_fit_then_refused(command, sender, expected):
    assert codes(decisions.attend(case_of(*WITH_TWO), command, YOUTH, FOOTBALL, sender, TODAY)) == [expected]


def test_given_a_waitlisted_participant_or_a_session_recorded_already_then_refused():
    waiting_here = sp.ActivityPrescribed(youth_id=YOUTH, prescription_id=WAITING, activity_id=ACTIVITY, placed=False,
                                         waitlist_position=1)
    case = case_of(received(), accepted(), waiting_here)
    assert codes(decisions.attend(case, attendance(prescription=WAITING), YOUTH, FOOTBALL, PROXIMO, TODAY)) == [
        ("data.prescription_id", "not_placed")]
    [first] = decisions.attend(case_of(*WITH_TWO), attendance(), YOUTH, FOOTBALL, PROXIMO, TODAY)
    assert codes(decisions.attend(case_of(*WITH_TWO, first), attendance(), YOUTH, FOOTBALL, PROXIMO, TODAY)) == [
        ("data.session_on", "already_recorded")]


# ---------------------------------------------------------------- wellbeing
INSTRUMENTS = wellbeing.catalogue(None)
QUESTIONNAIRE = {"life_satisfaction": 3, "worthwhile": 5, "happiness": 7, "anxiety": 8}


def questionnaire(occasion="baseline", answers=QUESTIONNAIRE, instrument="ons4", day=date(2026, 11, 5)):
    return sp.RecordWellbeing(youth_id=YOUTH, questionnaire_id=str(uuid.uuid4()), instrument=instrument, version="1",
                              occasion=occasion, taken_on=day, answers=answers)


def test_given_a_baseline_and_a_follow_up_then_the_follow_up_carries_the_change():
    [baseline] = decisions.record_wellbeing(case_of(received(), accepted()), questionnaire(), PROXIMO, TODAY,
                                            INSTRUMENTS)
    assert baseline.bands["anxiety"] == "high" and baseline.change is None
    later = {"life_satisfaction": 6, "worthwhile": 5, "happiness": 6, "anxiety": 4}
    [follow_up] = decisions.record_wellbeing(case_of(received(), accepted(), baseline),
                                             questionnaire("follow_up", later), PROXIMO, TODAY, INSTRUMENTS)
    assert follow_up.change == {"life_satisfaction": 3, "worthwhile": 0, "happiness": -1, "anxiety": -4}
    assert follow_up.change_direction["anxiety"] == "improved" and follow_up.change_direction["happiness"] == "worsened"


@pytest.mark.parametrize("given, command, expected", [
    ((received(), accepted()), questionnaire(answers=QUESTIONNAIRE | {"anxiety": 11}),
     [("data.answers.anxiety", "answer_out_of_range")]),
    ((received(), accepted()), questionnaire("follow_up"), [("data.occasion", "no_baseline")]),
    ((received(), accepted()), questionnaire(instrument="swemwbs"), [("data.instrument", "unknown_instrument")]),
    ((received(), accepted()), questionnaire(day=date(2026, 12, 5)), [("data.taken_on", "in_the_future")]),
    ((received(),), questionnaire(), [("data.youth_id", "no_accepted_referral")]),
])
def test_given_a_questionnaire_that_does_not_fit_then_refused_naming_the_item_or_field(given, command, expected):
    assert codes(decisions.record_wellbeing(case_of(*given), command, PROXIMO, TODAY, INSTRUMENTS)) == expected


def test_given_a_baseline_when_another_baseline_comes_then_it_is_refused():
    [baseline] = decisions.record_wellbeing(case_of(received(), accepted()), questionnaire(), PROXIMO, TODAY,
                                            INSTRUMENTS)
    assert codes(decisions.record_wellbeing(case_of(received(), accepted(), baseline), questionnaire(), PROXIMO, TODAY,
                                            INSTRUMENTS)) == [("data.occasion", "baseline_exists")]


# ---------------------------------------------------------------- the closed loop: what goes back to the referrer

def test_given_sessions_then_the_first_attended_measures_the_time_from_referral_and_the_end_counts_them():
    [absent] = decisions.attend(case_of(*WITH_TWO), attendance(day=date(2026, 11, 13)).model_copy(
        update={"present": False}), YOUTH, FOOTBALL, PROXIMO, TODAY)
    assert not absent.first_attendance and absent.days_from_referral is None
    [first] = decisions.attend(case_of(*WITH_TWO, absent), attendance(), YOUTH, FOOTBALL, PROXIMO, TODAY)
    assert (first.first_attendance, first.days_from_referral) == (True, 19)  # received 1/11, came 20/11
    [second] = decisions.attend(case_of(*WITH_TWO, absent, first), attendance(day=date(2026, 11, 27)), YOUTH,
                                FOOTBALL, PROXIMO, TODAY)
    assert not second.first_attendance
    [ended], _ = decisions.end(case_of(*WITH_TWO, absent, first, second), end(PLACED, "completed"), PROXIMO, TODAY)
    assert (ended.sessions_attended, ended.sessions_recorded) == (2, 3)


# ---------------------------------------------------------------- link workers' caseloads

@pytest.mark.parametrize("active, expected", [(39, []), (40, [("data.link_worker", "caseload_over_threshold")]),
                                              (55, [("data.link_worker", "caseload_over_threshold")])])
def test_given_a_link_worker_s_active_youths_when_one_more_is_accepted_then_a_notice_from_the_threshold(active,
                                                                                                        expected):
    notices = decisions.caseload_notice("lw-sara", active, threshold=40)
    assert codes(notices) == expected
    assert all(f"follows {active} active youths" in n.message for n in notices)


def test_a_youth_is_active_once_accepted_until_every_prescription_ended():
    assert not case_of(received()).active()
    assert case_of(received(), accepted()).active()
    assert case_of(*WITH_TWO).active()
    ends = [decisions.end(case_of(*WITH_TWO), end(PLACED, "completed"), PROXIMO, TODAY)[0][0]]
    ends.append(decisions.end(case_of(*WITH_TWO, *ends), end(WAITING, "withdrawn"), PROXIMO, TODAY)[0][0])
    assert not case_of(*WITH_TWO, *ends).active()


@pytest.mark.parametrize("value, expected", [(None, 40), ("25", 25)])
def test_the_threshold_comes_from_the_environment(value, expected):
    assert caseload.threshold({"KIT_LINK_WORKER_CASELOAD": value} if value else {}) == expected


@pytest.mark.parametrize("value", ["0", "forty", "-3"])
def test_a_threshold_that_is_not_a_positive_whole_number_is_refused_saying_so(value):
    with pytest.raises(ValueError, match="KIT_LINK_WORKER_CASELOAD"):
        caseload.threshold({"KIT_LINK_WORKER_CASELOAD": value})


# ---------------------------------------------------------------- the auditor's replay

def test_the_auditor_s_replay_shows_the_referral_and_each_prescription_at_an_instant():
    from services.social_prescribing.case import audit_summary

    summary = audit_summary(case_of(*WITH_TWO), datetime(2026, 11, 15, tzinfo=timezone.utc))
    assert (summary["referred_by"], summary["social_prescribing_agency"], summary["referral_status"],
            summary["link_worker"]) == (MILAN, PROXIMO, "accepted", "lw-sara")
    assert summary["prescriptions"][PLACED] == {"activity_id": ACTIVITY, "placed": True, "ended": None,
                                                "sessions_attended": 0, "sessions_recorded": 0}
    assert summary["prescriptions"][WAITING]["placed"] is False and summary["wellbeing_baselines"] == []


# ---------------------------------------------------------------- a freed place goes to the first in line

def test_given_youths_waiting_when_places_are_free_then_they_go_first_come_first_served():
    first, second, third = (str(uuid.uuid4()) for _ in range(3))
    waiting = [sp.WaitlistJoined(activity_id=ACTIVITY, prescription_id=p, position=i + 1)
               for i, p in enumerate((first, second, third))]
    full = places_of(sp.ActivityPlacesSet(activity_id=ACTIVITY, available=0, maximum=5), *waiting)
    assert decisions.first_in_line(full) == []
    two_free = places_of(sp.ActivityPlacesSet(activity_id=ACTIVITY, available=0, maximum=5), *waiting,
                         sp.ActivityPlacesSet(activity_id=ACTIVITY, available=2, maximum=5))
    assert decisions.first_in_line(two_free) == [first, second]
    given = places_of(sp.ActivityPlacesSet(activity_id=ACTIVITY, available=0, maximum=5), *waiting,
                      sp.ActivityPlacesSet(activity_id=ACTIVITY, available=2, maximum=5),
                      sp.PlaceTaken(activity_id=ACTIVITY, prescription_id=first))
    assert (given.waitlist, given.available, first in given.holders) == ((second, third), 1, True)


def test_given_a_place_given_from_the_waitlist_then_the_youth_s_prescription_has_a_place():
    case = case_of(*WITH_TWO, sp.WaitlistPlaceGiven(youth_id=YOUTH, prescription_id=WAITING, activity_id=ACTIVITY))
    assert case.prescriptions[WAITING].placed


# ---------------------------------------------------------------- the link worker's contacts

NOW = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)


def contact(contact_id=None, at=datetime(2026, 11, 20, 10, tzinfo=timezone.utc), outcome="reached"):
    return sp.RecordLinkWorkerContact(youth_id=YOUTH, contact_id=contact_id or str(uuid.uuid4()), channel="in_person",
                                      outcome=outcome, occurred_at=at)


def test_given_an_accepted_referral_when_the_link_worker_records_a_contact_then_it_is_on_the_youth_s_case():
    command = contact()
    [event] = decisions.record_contact(case_of(received(), accepted()), command, PROXIMO, NOW)
    assert (event.contact_id, event.outcome) == (command.contact_id, "reached")
    assert codes(decisions.record_contact(case_of(received(), accepted(), event), command, PROXIMO, NOW)) == [
        ("data.contact_id", "duplicate")]


@pytest.mark.parametrize("given, command, sender, expected", [
    ((received(),), contact(), PROXIMO, ("data.youth_id", "no_accepted_referral")),
    ((received(), accepted()), contact(), AFOL, ("data.youth_id", "not_your_youth")),
    ((received(), accepted()), contact(at=datetime(2026, 12, 2, tzinfo=timezone.utc)), PROXIMO,
     ("data.occurred_at", "in_the_future")),
])
def test_given_a_contact_that_does_not_fit_then_refused(given, command, sender, expected):
    assert codes(decisions.record_contact(case_of(*given), command, sender, NOW)) == [expected]


# ---------------------------------------------------------------- the conversation and the plan

CONVERSATION, PLAN, GOAL, OTHER_GOAL = (str(uuid.uuid4()) for _ in range(4))


def what_matters(conversation=CONVERSATION, on=date(2026, 11, 20), needs=("loneliness", "confidence", "loneliness")):
    return sp.RecordWhatMatters(youth_id=YOUTH, conversation_id=conversation, conversation_on=on, needs=list(needs),
                                in_their_words="Vorrei uscire di casa e conoscere gente.")


def plan(plan_id=PLAN, goals=((GOAL, "loneliness"),), on=date(2026, 11, 21), review_on=None):
    return sp.AgreePlan(youth_id=YOUTH, plan_id=plan_id, agreed_on=on, review_on=review_on,
                        goals=[sp.PlanGoal(goal_id=g, area=area, goal="Andare al laboratorio di musica")
                               for g, area in goals])


def sealed(command):
    return {g.goal_id: f"v1.sealed-{g.goal_id}" for g in command.goals}


def test_given_an_accepted_referral_when_the_conversation_is_recorded_then_only_ciphertext_and_areas_are_kept():
    [event] = decisions.record_what_matters(case_of(received(), accepted()), what_matters(), PROXIMO, TODAY,
                                            "v1.sealed")
    assert (event.words_ciphertext, event.needs) == ("v1.sealed", ["loneliness", "confidence"])
    assert "conoscere" not in event.model_dump_json()


@pytest.mark.parametrize("given, command, sender, words, expected", [
    ((received(),), what_matters(), PROXIMO, "v1.x", ("data.youth_id", "no_accepted_referral")),
    ((received(), accepted()), what_matters(), MILAN, "v1.x", ("data.youth_id", "not_your_youth")),
    ((received(), accepted(), sp.WhatMattersRecorded(youth_id=YOUTH, conversation_id=CONVERSATION,
                                                     conversation_on=date(2026, 11, 1), needs=["money"],
                                                     words_ciphertext="v1.x")),
     what_matters(), PROXIMO, "v1.x", ("data.conversation_id", "duplicate")),
    ((received(), accepted()), what_matters(on=date(2026, 12, 2)), PROXIMO, "v1.x",
     ("data.conversation_on", "in_the_future")),
    ((received(), accepted()), what_matters(), PROXIMO, None, ("data.youth_id", "erased")),
])
def test_given_a_conversation_that_does_not_fit_then_refused(given, command, sender, words, expected):
    assert codes(decisions.record_what_matters(case_of(*given), command, sender, TODAY, words)) == [expected]


def test_given_a_plan_when_a_new_one_keeps_a_goal_then_its_progress_stays_and_the_others_go():
    command = plan(goals=((GOAL, "loneliness"), (OTHER_GOAL, "money")))
    [agreed] = decisions.agree_plan(case_of(received(), accepted()), command, PROXIMO, TODAY, sealed(command))
    assert [(g.goal_id, g.goal_ciphertext) for g in agreed.goals] == [(GOAL, f"v1.sealed-{GOAL}"),
                                                                       (OTHER_GOAL, f"v1.sealed-{OTHER_GOAL}")]
    case = case_of(received(), accepted(), agreed)
    [reviewed] = decisions.review_goal(case, sp.ReviewGoal(youth_id=YOUTH, goal_id=GOAL, progress="some_progress",
                                                           reviewed_on=TODAY), PROXIMO, TODAY)
    assert (reviewed.area, reviewed.progress) == ("loneliness", "some_progress")
    second = plan(plan_id=str(uuid.uuid4()), goals=((GOAL, "loneliness"),))
    case = case_of(received(), accepted(), agreed, reviewed,
                   *decisions.agree_plan(case_of(received(), accepted(), agreed, reviewed), second, PROXIMO, TODAY,
                                         sealed(second)))
    assert {g: s.progress for g, s in case.goals.items()} == {GOAL: "some_progress"}
    assert codes(decisions.review_goal(case, sp.ReviewGoal(youth_id=YOUTH, goal_id=OTHER_GOAL, progress="achieved",
                                                           reviewed_on=TODAY), PROXIMO, TODAY)) == [
        ("data.goal_id", "not_in_the_plan")]


@pytest.mark.parametrize("given, command, sender, expected", [
    ((received(),), plan(), PROXIMO, ("data.youth_id", "no_accepted_referral")),
    ((received(), accepted()), plan(), MILAN, ("data.youth_id", "not_your_youth")),
    ((received(), accepted()), plan(goals=((GOAL, "money"), (GOAL, "housing"))), PROXIMO,
     ("data.goals.1.goal_id", "duplicate")),
    ((received(), accepted()), plan(on=date(2026, 12, 5)), PROXIMO, ("data.agreed_on", "in_the_future")),
    ((received(), accepted()), plan(review_on=date(2026, 11, 1)), PROXIMO, ("data.review_on", "before_agreed_on")),
    ((received(), accepted(), sp.PlanAgreed(youth_id=YOUTH, plan_id=PLAN, agreed_on=date(2026, 11, 1), goals=[])),
     plan(), PROXIMO, ("data.plan_id", "duplicate")),
])
def test_given_a_plan_that_does_not_fit_then_refused(given, command, sender, expected):
    assert codes(decisions.agree_plan(case_of(*given), command, sender, TODAY, sealed(command))) == [expected]


def test_given_the_youth_erased_when_a_plan_comes_then_refused_as_erased():
    assert codes(decisions.agree_plan(case_of(received(), accepted()), plan(), PROXIMO, TODAY, None)) == [
        ("data.youth_id", "erased")]


def test_given_another_agency_s_youth_when_it_ends_a_prescription_then_refused():
    assert codes(decisions.end(case_of(*WITH_TWO), end(PLACED, "dropped_out", "x"), MILAN, TODAY)) == [
        ("data.youth_id", "not_your_youth")]


def test_given_a_goal_reviewed_in_the_future_then_refused():
    case = case_of(received(), accepted(), *decisions.agree_plan(case_of(received(), accepted()), plan(), PROXIMO,
                                                                 TODAY, sealed(plan())))
    assert codes(decisions.review_goal(case, sp.ReviewGoal(youth_id=YOUTH, goal_id=GOAL, progress="achieved",
                                                           reviewed_on=date(2026, 12, 9)), PROXIMO, TODAY)) == [
        ("data.reviewed_on", "in_the_future")]
