"""The auditor's pages say a replayed case in words: every field of a fold's summary has a label
in both languages, values read as an operator reads them (yes/no, dd/mm/yyyy in the zone,
agencies by name, options in words), identifiers are left to the bundle; dates are taken as
typed (dd/mm/yyyy) or as a date input sends them. Pure: no server."""

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from events import intake as ev
from kit.service import load
from services.audit.web import parse_day, readable_state, what_happened
from services.intake.case import audit_summary
from shared.web.words import MISSING, Catalogue, words_of
from tests.conftest import PLATFORM
from tests.unit.intake_given import (AFOL, MILANO, NOW, goal, open_case, overridden, referred, registered,
                                     shares_with, uid)

ROME = ZoneInfo("Europe/Rome")
CATALOGUE = Catalogue(words_of(PLATFORM.services, load))
NAMES = {MILANO: "Comune di Milano", AFOL: "AFOL Metropolitana"}


def name_of(code: str) -> str:
    return NAMES.get(code, code)


def full_case():
    """A case with something in every list of the summary: consents, an override, goals, a referral."""
    agreed = ev.ProjectOfLifeAgreed(youth_id=registered().youth_id, version=1, goals=[goal(uid(10), "active")],
                                    next_review_due=date(2026, 6, 1), agreed_by_youth=True, agreed_by_guardian=False)
    return open_case(shares_with(AFOL, uid(11)), overridden(AFOL), agreed, referred(uid(12), AFOL))


def test_given_every_declared_fold_when_its_summary_is_shown_then_each_field_and_service_has_words():
    folded = [s.name for s in PLATFORM.services if s.fold]
    assert folded == ["intake", "social_prescribing"]  # a new fold: give its summary's fields words too
    summaries = [audit_summary(full_case(), NOW), social_prescribing_summary()]
    for lang, summary in ((lang, summary) for lang in ("it", "en") for summary in summaries):
        t = CATALOGUE.translator(lang)
        shown = readable_state(t, summary, name_of, ROME)
        texts = [f["label"] for f in shown] + [c for f in shown for c in f.get("columns", [])]
        texts += [f["text"] for f in shown if "text" in f] + [v for f in shown for r in f.get("rows", []) for v in r]
        assert [x for x in texts if MISSING.split("{")[0] in x] == [], lang
        assert all(t.has(f"audit.service.{name}") for name in folded)


def test_given_a_summary_when_shown_then_values_read_in_words_and_ids_are_left_out():
    t = CATALOGUE.translator("it")
    shown = {f["label"]: f for f in readable_state(t, audit_summary(full_case(), NOW), name_of, ROME)}
    assert shown["Ente capofila"]["text"] == "Comune di Milano"
    assert shown["Enti responsabili"]["text"] == "Comune di Milano"
    assert shown["Valutazione iniziale svolta"]["text"] == "no" and shown["Deroghe al consenso"]["rows"][0][-1] == "sì"
    assert shown["Data di uscita"]["text"] == "—"
    consents = shown["Consensi"]
    assert "consent_id" not in " ".join(consents["columns"]) and len(consents["rows"]) == 2
    assert ["Condivisione con altri enti", "AFOL Metropolitana"] == consents["rows"][1][:2]
    assert shown["Invii"]["rows"][0][:2] == ["AFOL Metropolitana", "Inserimento lavorativo (IPS)"]
    assert "Ultimo contatto riuscito" in shown and "youth_id" not in " ".join(shown)


def test_given_an_instant_when_shown_then_it_is_the_day_and_time_in_the_agency_s_zone():
    t = CATALOGUE.translator("en")
    summary = {"last_contact_at": datetime(2026, 3, 9, 23, 30, tzinfo=timezone.utc).isoformat(),
               "exited_on": "2026-03-10"}
    shown = {f["label"]: f["text"] for f in readable_state(t, summary, name_of, ROME)}
    assert shown == {"Last successful contact": "10/03/2026 00:30", "Exit date": "10/03/2026"}


def test_given_a_step_of_the_path_when_shown_then_it_is_a_sentence():
    t = CATALOGUE.translator("it")
    assert what_happened(t, {"kind": "event", "type": ev.YouthRegistered.type_name}) == "Giovane registrato"
    assert what_happened(t, {"kind": "access", "purpose": "case_management"}) == \
        "Consultazione della scheda (gestione del caso)"


def test_given_a_typed_date_when_parsed_then_both_forms_are_taken_and_nothing_else():
    assert parse_day("05/03/2026") == parse_day("2026-03-05") == parse_day(" 05/03/2026 ") == date(2026, 3, 5)
    assert [parse_day(x) for x in ("31/02/2026", "ieri", "", None, "03/05/26", "01/01/1800", "01/01/2300")] == [None] * 7


def social_prescribing_summary() -> dict:
    """A youth referred, accepted, with one prescription ended and one on a waitlist, and a baseline."""
    import uuid

    from events import social_prescribing as sp
    from services.social_prescribing.case import audit_summary as summary_of, evolve

    youth, activity = str(uuid.uuid4()), str(uuid.uuid4())
    placed, waiting = str(uuid.uuid4()), str(uuid.uuid4())
    case = None
    for event in (
        sp.SocialPrescribingReferralReceived(youth_id=youth, referral_id=str(uuid.uuid4()), from_agency="comune-milano-m7",
                                             to_agency="rete-quartiere-mi7", birth_year=2004, reason="isolamento"),
        sp.SocialPrescribingReferralAccepted(youth_id=youth, referral_id=str(uuid.uuid4()), link_worker="lw-sara"),
        sp.ActivityPrescribed(youth_id=youth, prescription_id=placed, activity_id=activity, placed=True),
        sp.ActivityPrescribed(youth_id=youth, prescription_id=waiting, activity_id=activity, placed=False,
                              waitlist_position=1),
        sp.PrescriptionEnded(youth_id=youth, prescription_id=placed, activity_id=activity, ending="dropped_out",
                             reason="orari", days=20),
    ):
        case = evolve(case, event, NOW)
    return summary_of(case, NOW)
