"""Given/when/then for the registration decision (pure: no I/O)."""

from datetime import datetime, timezone

from events.intake import RegisterYouth, YouthRegistered
from services.intake.decisions import decide_register_youth

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
YOUTH = "2f1d5a8e-6c3b-4f7a-9d2e-8b1c0a7f6e54"


def command(**overrides) -> RegisterYouth:
    fields = dict(partner_case_ref="MI7-1", birth_year=2005, country="IT", region="IT-25") | overrides
    return RegisterYouth(**fields)


def when_registering(cmd: RegisterYouth, existing: str | None = None):
    return decide_register_youth(cmd, agency="comune-milano-m7", now=NOW, new_youth_id=YOUTH,
                                 existing_youth_for_case_ref=existing)


def test_given_a_new_case_when_registering_then_youth_registered_with_the_new_pseudonym():
    outcome = when_registering(command())
    assert outcome == YouthRegistered(youth_id=YOUTH, registering_agency="comune-milano-m7",
                                      partner_case_ref="MI7-1", birth_year=2005, country="IT", region="IT-25")


def test_given_the_case_ref_already_registered_when_registering_again_then_rejected_naming_the_youth():
    outcome = when_registering(command(), existing="0b6f4bd1-7d9d-4b8e-9c54-0c1e1a2b3c4d")
    assert isinstance(outcome, list)
    assert [(r.field, r.code) for r in outcome] == [("data.partner_case_ref", "already_registered")]
    assert "0b6f4bd1-7d9d-4b8e-9c54-0c1e1a2b3c4d" in outcome[0].message


def test_given_a_birth_year_outside_15_to_30_when_registering_then_rejected_with_the_age():
    too_old = when_registering(command(birth_year=1994))
    too_young = when_registering(command(birth_year=2013))
    assert [r.code for r in too_old] == ["out_of_target_age"]
    assert [r.code for r in too_young] == ["out_of_target_age"]


def test_given_the_edges_of_the_age_band_when_registering_then_accepted():
    assert isinstance(when_registering(command(birth_year=1996)), YouthRegistered)  # 30 this year
    assert isinstance(when_registering(command(birth_year=2012)), YouthRegistered)  # turns 15 next year


def test_given_a_region_of_another_country_when_registering_then_rejected():
    outcome = when_registering(command(country="CH", region="IT-25"))
    assert [(r.field, r.code) for r in outcome] == [("data.region", "region_country_mismatch")]


def test_given_several_problems_when_registering_then_every_reason_is_reported():
    outcome = when_registering(command(birth_year=1990, country="CH", region="IT-25"), existing=YOUTH)
    assert {r.code for r in outcome} == {"already_registered", "out_of_target_age", "region_country_mismatch"}
