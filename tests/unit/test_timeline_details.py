"""A step of the youth's path says, besides its name, its options in words, the agencies it names
and the Project of Life's version; nothing for fields it does not have."""
from services.api.web.youth import details_of
from shared.web.words import translator

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
