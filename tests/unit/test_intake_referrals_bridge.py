"""A referral made in intake to social prescribing, given intake's event, becomes the service's
`refer`; the service's answer to it, given its event, becomes intake's `respond_to_referral`.
Other services' referrals and answers to other referrals are left alone."""

import uuid
from datetime import datetime, timezone

import pytest

from events import intake as ev
from events import social_prescribing as sp
from events.builders import envelope
from services.social_prescribing.case import evolve
from services.social_prescribing.intake_referrals import answer_back, progress_back, referral_in

YOUTH, REFERRAL = str(uuid.uuid4()), str(uuid.uuid4())
MILAN, RETE = "comune-milano-m7", "rete-quartiere-mi7"


def requested(service="social_prescribing"):
    return envelope(ev.ReferralRequested(youth_id=YOUTH, referral_id=REFERRAL, from_agency=MILAN, to_agency=RETE,
                                         service=service, reason="isolamento", transfer_lead=False,
                                         basis="consent:x"), agency=MILAN)


def test_given_intake_s_referral_to_social_prescribing_then_the_referrer_s_refer_with_the_registered_birth_year():
    outgoing = referral_in(requested(), lambda youth: 2006)
    assert (outgoing.service, outgoing.agency, outgoing.ingest_id) == ("social_prescribing", MILAN,
                                                                       f"intake-referral-{REFERRAL}")
    assert outgoing.command == sp.ReferToSocialPrescribing(youth_id=YOUTH, referral_id=REFERRAL, to_agency=RETE,
                                                           birth_year=2006, reason="isolamento")


def test_given_a_youth_born_outside_the_years_social_prescribing_takes_then_intake_s_referral_is_rejected_saying_so():
    outgoing = referral_in(requested(), lambda youth: 2018)
    assert (outgoing.service, outgoing.agency) == ("intake", RETE)
    assert (outgoing.command.decision, outgoing.command.reason) == ("rejected",
                                                                    "social prescribing takes youths born 1990 to 2015")


def test_given_a_referral_to_another_service_then_nothing():
    assert referral_in(requested("ips_placement"), lambda youth: 2006) is None


def test_given_a_youth_the_views_do_not_hold_yet_then_it_waits():
    with pytest.raises(LookupError):
        referral_in(requested(), lambda youth: None)


@pytest.mark.parametrize("answer, decision, reason", [
    (sp.SocialPrescribingReferralAccepted(youth_id=YOUTH, referral_id=REFERRAL, link_worker="sara"), "accepted", None),
    (sp.SocialPrescribingReferralDeclined(youth_id=YOUTH, referral_id=REFERRAL, reason="fuori zona"), "rejected",
     "fuori zona"),
])
def test_given_the_answer_to_a_referral_from_intake_then_intake_s_respond_by_the_same_operator(answer, decision, reason):
    event = envelope(answer, agency=RETE, kitactor="op-42", kitrole="link_worker")
    outgoing = answer_back(event, lambda referral: RETE if referral == REFERRAL else None)
    assert (outgoing.service, outgoing.agency, outgoing.actor, outgoing.role) == ("intake", RETE, "op-42", "link_worker")
    assert outgoing.command == ev.RespondToReferral(youth_id=YOUTH, referral_id=REFERRAL, decision=decision,
                                                    reason=reason)


def test_given_the_answer_to_a_referral_made_in_social_prescribing_then_nothing():
    event = envelope(sp.SocialPrescribingReferralAccepted(youth_id=YOUTH, referral_id=REFERRAL, link_worker="sara"),
                     agency=RETE)
    assert answer_back(event, lambda referral: None) is None


def followed(*events):
    case = None
    for event in (sp.SocialPrescribingReferralReceived(youth_id=YOUTH, referral_id=REFERRAL, from_agency=MILAN,
                                                       to_agency=RETE, birth_year=2005, reason="isolamento"),
                  sp.SocialPrescribingReferralAccepted(youth_id=YOUTH, referral_id=REFERRAL, link_worker="sara"),
                  *events):
        case = evolve(case, event, datetime(2026, 11, 1, tzinfo=timezone.utc))
    return case


ACTIVITY, WALK, MUSIC = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())


def prescribed(prescription):
    return sp.ActivityPrescribed(youth_id=YOUTH, prescription_id=prescription, activity_id=ACTIVITY, placed=True)


def ended(prescription, ending):
    return sp.PrescriptionEnded(youth_id=YOUTH, prescription_id=prescription, activity_id=ACTIVITY, ending=ending,
                                days=20, reason="trasloco" if ending == "dropped_out" else None)


def from_intake(referral):
    return RETE if referral == REFERRAL else None


def test_given_the_first_activity_attended_then_intake_s_referral_is_in_progress():
    came = sp.AttendanceRecorded(youth_id=YOUTH, prescription_id=WALK, activity_id=ACTIVITY, session_on="2026-11-10",
                                 present=True, by="provider", first_attendance=True, days_from_referral=9)
    outgoing = progress_back(envelope(came, agency="coop-giovani-milano"), followed(prescribed(WALK)), from_intake)
    assert (outgoing.service, outgoing.agency, outgoing.command.status) == ("intake", RETE, "in-progress")
    later = came.model_copy(update={"first_attendance": False})
    assert progress_back(envelope(later, agency=RETE), followed(prescribed(WALK)), from_intake) is None


def test_given_every_activity_ended_then_intake_s_referral_is_completed_or_failed():
    both = (prescribed(WALK), prescribed(MUSIC))
    one_left = followed(*both, ended(WALK, "completed"))
    assert progress_back(envelope(ended(WALK, "completed"), agency=RETE), one_left, from_intake) is None
    done = followed(*both, ended(WALK, "completed"), ended(MUSIC, "dropped_out"))
    outgoing = progress_back(envelope(ended(MUSIC, "dropped_out"), agency=RETE), done, from_intake)
    assert (outgoing.command.status, outgoing.command.outcome) == ("completed", "attività completate: 1 su 2")
    none_completed = followed(*both, ended(WALK, "dropped_out"), ended(MUSIC, "dropped_out"))
    assert progress_back(envelope(ended(MUSIC, "dropped_out"), agency=RETE), none_completed,
                         from_intake).command.status == "failed"


def test_given_a_referral_made_in_social_prescribing_then_intake_hears_nothing():
    done = followed(prescribed(WALK), ended(WALK, "completed"))
    assert progress_back(envelope(ended(WALK, "completed"), agency=RETE), done, lambda referral: None) is None
