"""A youth's social prescribing record as the minimum dataset's four parts, folded from the path
an operator may read: given the steps, then who, needs, support offered and outcomes."""

import uuid
from datetime import date

from events import social_prescribing as sp
from services.social_prescribing.dataset import minimum_dataset

YOUTH, REFERRAL = str(uuid.uuid4()), str(uuid.uuid4())
FOOTBALL, THEATRE = str(uuid.uuid4()), str(uuid.uuid4())
PLACED, WAITING = str(uuid.uuid4()), str(uuid.uuid4())
KEPT_GOAL, DROPPED_GOAL = str(uuid.uuid4()), str(uuid.uuid4())


def step(event, day: str, withheld: bool = False) -> dict:
    return {"type": event.type_name, "data": {} if withheld else event.model_dump(mode="json"),
            "happened_at": f"{day}T10:00:00+00:00", "withheld": withheld}


PATH = [
    {"type": "kit.intake.youth_registered.v1", "data": {}, "happened_at": "2026-09-01T09:00:00+00:00"},
    step(sp.SocialPrescribingReferralReceived(youth_id=YOUTH, referral_id=REFERRAL, from_agency="comune-milano-m7",
                                              to_agency="rete-quartiere-mi7", birth_year=2004,
                                              reason="isolamento, nessuna attività"), "2026-10-01"),
    step(sp.SocialPrescribingReferralAccepted(youth_id=YOUTH, referral_id=REFERRAL, link_worker="lw-sara"),
         "2026-10-02"),
    step(sp.ActivityPrescribed(youth_id=YOUTH, prescription_id=PLACED, activity_id=FOOTBALL, placed=True),
         "2026-10-05"),
    step(sp.ActivityPrescribed(youth_id=YOUTH, prescription_id=WAITING, activity_id=THEATRE, placed=False,
                               waitlist_position=3), "2026-10-05"),
    step(sp.AttendanceRecorded(youth_id=YOUTH, prescription_id=PLACED, activity_id=FOOTBALL,
                               session_on=date(2026, 10, 12), present=True, by="provider", first_attendance=True,
                               days_from_referral=11), "2026-10-12"),
    step(sp.AttendanceRecorded(youth_id=YOUTH, prescription_id=PLACED, activity_id=FOOTBALL,
                               session_on=date(2026, 10, 19), present=False, by="provider"), "2026-10-19"),
    step(sp.WellbeingRecorded(youth_id=YOUTH, questionnaire_id=str(uuid.uuid4()), instrument="ons4", version="1",
                              occasion="baseline", taken_on=date(2026, 10, 5),
                              answers={"life_satisfaction": 3, "worthwhile": 5, "happiness": 7, "anxiety": 8}),
         "2026-10-05"),
    step(sp.LinkWorkerContactRecorded(youth_id=YOUTH, contact_id=str(uuid.uuid4()), channel="in_person",
                                      outcome="reached", occurred_at="2026-10-03T10:00:00+00:00"), "2026-10-03"),
    step(sp.LinkWorkerContactRecorded(youth_id=YOUTH, contact_id=str(uuid.uuid4()), channel="phone",
                                      outcome="not_reached", occurred_at="2026-10-20T10:00:00+00:00"), "2026-10-20"),
    step(sp.PrescriptionEnded(youth_id=YOUTH, prescription_id=PLACED, activity_id=FOOTBALL, ending="completed",
                              days=56, sessions_attended=1, sessions_recorded=2), "2026-11-30"),
]
CONVERSATIONS_AND_PLAN = [
    step(sp.WhatMattersRecorded(youth_id=YOUTH, conversation_id=str(uuid.uuid4()), conversation_on=date(2026, 10, 3),
                                needs=["loneliness", "confidence"], words_ciphertext="v1.sealed"), "2026-10-03"),
    step(sp.WhatMattersRecorded(youth_id=YOUTH, conversation_id=str(uuid.uuid4()), conversation_on=date(2026, 10, 20),
                                needs=["confidence", "work_and_volunteering"], words_ciphertext="v1.sealed"),
         "2026-10-20"),
    step(sp.PlanAgreed(youth_id=YOUTH, plan_id=str(uuid.uuid4()), agreed_on=date(2026, 10, 4), goals=[
        sp.AgreedGoal(goal_id=KEPT_GOAL, area="loneliness", goal_ciphertext="v1.sealed"),
        sp.AgreedGoal(goal_id=DROPPED_GOAL, area="money", goal_ciphertext="v1.sealed")]), "2026-10-04"),
    step(sp.GoalReviewed(youth_id=YOUTH, goal_id=KEPT_GOAL, area="loneliness", progress="some_progress",
                         reviewed_on=date(2026, 10, 30)), "2026-10-30"),
    step(sp.PlanAgreed(youth_id=YOUTH, plan_id=str(uuid.uuid4()), agreed_on=date(2026, 11, 1), goals=[
        sp.AgreedGoal(goal_id=KEPT_GOAL, area="loneliness", goal_ciphertext="v1.sealed2")]), "2026-11-01"),
    step(sp.GoalReviewed(youth_id=YOUTH, goal_id=KEPT_GOAL, area="loneliness", progress="achieved",
                         reviewed_on=date(2026, 11, 30)), "2026-11-30"),
]


def test_given_a_path_then_the_four_parts():
    found = minimum_dataset(YOUTH, PATH)
    assert found["who"] == {"youth_pseudonym": YOUTH, "referral_id": REFERRAL, "birth_year": 2004,
                            "referred_by": "comune-milano-m7",
                            "social_prescribing_agency": "rete-quartiere-mi7", "referred_on": "2026-10-01",
                            "referral_status": "accepted", "link_worker": "lw-sara"}
    assert found["needs_and_concerns"] == {"referral_reason": "isolamento, nessuna attività",
                                           "what_matters_conversations": 0, "areas": []}
    offered = found["support_offered"]
    assert (offered["activities_referred_to"], offered["activities_started"], offered["activities_completed"]) == (
        2, 1, 1)
    assert offered["link_worker_contacts"] == {"recorded": 2, "reached": 1}
    football = next(a for a in offered["activities"] if a["activity_id"] == FOOTBALL)
    assert (football["started_on"], football["sessions_attended"], football["sessions_recorded"],
            football["ending"], football["ended_on"]) == ("2026-10-12", 1, 2, "completed", "2026-11-30")
    outcomes = found["outcomes"]
    assert outcomes["days_from_referral_to_first_activity"] == 11 and outcomes["dropped_out"] == 0
    assert outcomes["wellbeing"][0]["baseline"]["answers"]["anxiety"] == 8 and outcomes["wellbeing"][0]["latest"] is None


def test_given_a_reader_without_need_to_know_then_wellbeing_stays_withheld_and_is_counted():
    withheld = [step(sp.WellbeingRecorded(youth_id=YOUTH, questionnaire_id=str(uuid.uuid4()), instrument="ons4",
                                          version="1", occasion="baseline", taken_on=date(2026, 10, 5),
                                          answers={"anxiety": 8}), "2026-10-05", withheld=True)]
    found = minimum_dataset(YOUTH, PATH[:3] + withheld)
    assert found["outcomes"]["wellbeing"] == [] and found["outcomes"]["withheld_entries"] == 1


def test_given_no_social_prescribing_then_empty_parts_not_errors():
    found = minimum_dataset(YOUTH, PATH[:1])
    assert found["who"] == {"youth_pseudonym": YOUTH} and found["support_offered"]["activities"] == []


def test_given_conversations_and_plans_then_the_areas_and_the_current_goals_progress_without_the_words():
    found = minimum_dataset(YOUTH, PATH + CONVERSATIONS_AND_PLAN)
    assert found["needs_and_concerns"] == {"referral_reason": "isolamento, nessuna attività",
                                           "what_matters_conversations": 2,
                                           "areas": ["loneliness", "confidence", "work_and_volunteering"]}
    assert found["outcomes"]["goals"] == [{"goal_id": KEPT_GOAL, "area": "loneliness", "progress": "achieved"}]
    assert found["outcomes"]["goals_achieved"] == 1
    assert "v1.sealed" not in str(found)


def test_given_a_new_referral_after_a_decline_then_who_is_the_new_referral_waiting_for_its_answer():
    again = str(uuid.uuid4())
    path = PATH[:2] + [
        step(sp.SocialPrescribingReferralDeclined(youth_id=YOUTH, referral_id=REFERRAL, reason="fuori zona"),
             "2026-10-02"),
        step(sp.SocialPrescribingReferralReceived(youth_id=YOUTH, referral_id=again, from_agency="comune-milano-m7",
                                                  to_agency="rete-quartiere-mi7", birth_year=2004, reason="di nuovo"),
             "2026-11-02")]
    who = minimum_dataset(YOUTH, path)["who"]
    assert who["referral_id"] == again and "referral_status" not in who and "declined_because" not in who
