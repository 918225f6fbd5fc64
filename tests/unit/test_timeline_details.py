"""A step of the youth's path says, besides its name, its options in words, the agencies it names
and the Project of Life's version; nothing for fields it does not have."""
from services.api.web.youth import details_of
from kit.service import load
from shared.web.words import Catalogue, translator, words_of
from tests.conftest import PLATFORM

NAMES = {"afol-milano": "AFOL Metropolitana"}


def test_a_contact_says_its_type_channel_and_outcome_in_words():
    t = translator("it")
    details = details_of({"contact_type": "meeting", "channel": "in_person", "outcome": "reached", "note": "x"}, t,
                         NAMES.get)
    assert details == ", ".join(t("opt." + v) for v in ("meeting", "in_person", "reached"))


def test_a_referral_names_the_agency_and_a_project_its_version():
    t = translator("en")
    assert details_of({"to_agency": "afol-milano", "service": "ips_placement"}, t, NAMES.get) == (
        f"{t('opt.ips_placement')}, {t('field.to_agency')}: AFOL Metropolitana")
    assert details_of({"version": 2}, t, NAMES.get) == t("version_n", n=2)


def test_a_step_without_such_fields_says_nothing_more():
    assert details_of({"youth_id": "x", "status": None}, translator("it"), NAMES.get) == ""


def test_a_service_s_own_step_words_come_from_the_function_it_declares():
    from services.social_prescribing.steps import step_details

    t = Catalogue(words_of(PLATFORM.services, load)).translator("en")  # every service's words, as the app has them
    words = PLATFORM.step_details["kit.social_prescribing.prescription_ended.v1"]
    assert words is step_details and "kit.intake.contact_logged.v1" not in PLATFORM.step_details
    ended = {"ending": "completed", "sessions_attended": 7, "sessions_recorded": 8, "days": 60}
    assert details_of(ended, t, NAMES.get, words) == "Completed, came to 7 sessions of 8"
    first = {"present": True, "by": "provider", "first_attendance": True, "days_from_referral": 12}
    assert details_of(first, t, NAMES.get, words) == "first activity attended 12 days after the referral"
    follow_up = {"instrument": "ons4", "version": "1", "occasion": "follow_up",
                 "change_direction": {"anxiety": "improved", "happiness": "worsened", "calm": "no_change"}}
    assert details_of(follow_up, t, NAMES.get, words) == (
        "follow-up, anxiety: improved, happiness: worsened, calm: no change")  # no "version 1": not a Project
