"""Consent decisions: given/when/then for each command and rejection, and the fail-closed property."""

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.consent import (Consent, ConsentRules, ConsentState, evolve, give, invalidate,
                                     may_see, record_override, withdraw)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)
RULES = ConsentRules(own_consent_age={("IT", "sharing"): 14, ("CH", "sharing"): 16})
NOTICE = "2026-01"


def consent(cid="c1", purpose="sharing", recipient="ngo-lugano", given_by="youth", at=T0, notice=NOTICE,
            **kw) -> Consent:
    return Consent(consent_id=cid, purpose=purpose, recipient=recipient, legal_basis="consent", given_by=given_by,
                   notice_version=notice, given_at=at, **kw)


def given_state(*changes) -> ConsentState:
    state = ConsentState()
    for change in changes:
        state = evolve(state, change)
    return state


def sees(state, agency="ngo-lugano", category="ngo", purpose="sharing", at=T0 + DAY) -> bool:
    return may_see(state, agency=agency, agency_category=category, purpose=purpose, at=at).allowed


def test_given_no_consent_then_no_agency_may_see():
    assert not sees(ConsentState())


def test_given_a_consent_to_share_with_an_agency_then_that_agency_and_only_it_may_see():
    state = given_state(consent())
    assert sees(state)
    assert not sees(state, agency="other-agency")
    assert not sees(state, purpose="family_contact")
    assert not sees(state, at=T0 - DAY)  # not before it was given


def test_given_a_consent_for_an_agency_category_then_every_agency_of_that_category_may_see():
    state = given_state(consent(recipient="category:employment-service"))
    assert sees(state, agency="afol-milano", category="employment-service")
    assert not sees(state, agency="ngo-lugano", category="ngo")


def test_when_withdrawn_then_visibility_ends_at_the_withdrawal():
    state = given_state(consent())
    withdrawn = withdraw(state, "c1", at=T0 + 2 * DAY)
    state = evolve(state, withdrawn)
    assert sees(state, at=T0 + DAY) and not sees(state, at=T0 + 3 * DAY)
    assert [r.code for r in withdraw(state, "c1", at=T0 + 4 * DAY)] == ["not_in_force"]
    assert [r.code for r in withdraw(state, "nope", at=T0)] == ["unknown_consent"]


def test_when_expired_then_not_visible():
    state = given_state(consent(expires_at=T0 + 10 * DAY))
    assert sees(state, at=T0 + 9 * DAY) and not sees(state, at=T0 + 10 * DAY)


def test_a_mistake_is_invalidated_with_a_reason_and_recorded_anew():
    state = given_state(consent())
    assert [r.code for r in invalidate(state, "c1", at=T0 + DAY, reason=" ")] == ["missing"]
    state = evolve(state, invalidate(state, "c1", at=T0 + DAY, reason="wrong recipient"))
    assert not sees(state, at=T0 + 2 * DAY)
    fixed = give(state, consent(cid="c2", recipient="ngo-lugano", at=T0 + DAY), age=20, country="IT", rules=RULES,
                 current_notice=NOTICE)
    assert sees(evolve(state, fixed), at=T0 + 2 * DAY)


def test_below_the_configured_age_a_guardian_must_give_consent():
    assert [r.code for r in give(ConsentState(), consent(), age=13, country="IT", rules=RULES,
                                 current_notice=NOTICE)] == ["guardian_required"]
    assert isinstance(give(ConsentState(), consent(), age=14, country="IT", rules=RULES, current_notice=NOTICE), Consent)
    assert [r.code for r in give(ConsentState(), consent(), age=15, country="CH", rules=RULES,
                                 current_notice=NOTICE)] == ["guardian_required"]
    assert isinstance(give(ConsentState(), consent(given_by="guardian"), age=15, country="CH", rules=RULES,
                           current_notice=NOTICE), Consent)


def test_other_rejections_say_why():
    state = given_state(consent())
    codes = lambda c: [r.code for r in give(state, c, age=20, country="IT", rules=RULES, current_notice=NOTICE)]  # noqa: E731
    assert codes(consent()) == ["duplicate"]
    assert codes(consent(cid="c2", notice="2025-01")) == ["outdated_notice"]
    assert codes(consent(cid="c3", expires_at=T0)) == ["expires_before_given"]
    assert codes(consent(cid="c4", recipient=None)) == ["missing"]
    assert codes(consent(cid="c5", withdrawn_at=T0)) == ["not_fresh"]


def test_an_override_needs_the_permission_and_a_reason_and_expires():
    assert [r.code for r in record_override(agency="ngo-lugano", purpose="sharing", reason="risk of harm to the youth",
                                            operator="op-1", may_override=False, at=T0,
                                            expires_at=T0 + DAY)] == ["forbidden"]
    assert [r.code for r in record_override(agency="ngo-lugano", purpose="sharing", reason="", operator="op-1",
                                            may_override=True, at=T0, expires_at=T0 + DAY)] == ["missing"]
    override = record_override(agency="ngo-lugano", purpose="sharing", reason="risk of harm to the youth",
                               operator="op-1", may_override=True, at=T0, expires_at=T0 + 2 * DAY)
    state = given_state(override)
    assert may_see(state, agency="ngo-lugano", agency_category="ngo", purpose="sharing", at=T0 + DAY).basis == "override"
    assert not sees(state, at=T0 + 3 * DAY)
    assert not sees(state, agency="other-agency")


# Property: no sequence of commands makes a youth visible to an agency without a consent in force
# for that agency (or its category) and purpose, or an unexpired override recorded for it.

AGENCIES = ["ngo-lugano", "comune-milano-m7", "afol-milano"]
CATEGORY = {"ngo-lugano": "ngo", "comune-milano-m7": "municipality", "afol-milano": "employment-service"}
PURPOSES = ["case_management", "sharing", "family_contact"]

commands = st.one_of(
    st.tuples(st.just("give"), st.sampled_from(["c1", "c2", "c3"]), st.sampled_from(PURPOSES),
              st.sampled_from(AGENCIES + ["category:ngo", "category:employment-service"]),
              st.sampled_from(["youth", "guardian"]), st.integers(10, 30), st.integers(0, 30),
              st.one_of(st.none(), st.integers(1, 60))),
    st.tuples(st.just("withdraw"), st.sampled_from(["c1", "c2", "c3"]), st.integers(0, 60)),
    st.tuples(st.just("invalidate"), st.sampled_from(["c1", "c2", "c3"]), st.integers(0, 60)),
    st.tuples(st.just("override"), st.sampled_from(AGENCIES), st.sampled_from(PURPOSES), st.booleans(),
              st.integers(0, 30), st.integers(1, 30)),
)


def justified(state, agency, purpose, at) -> bool:
    by_consent = any(c.purpose == purpose and c.recipient in (agency, f"category:{CATEGORY[agency]}")
                     and c.given_at <= at and (c.expires_at is None or at < c.expires_at)
                     and (c.withdrawn_at is None or at < c.withdrawn_at)
                     and (c.invalidated_at is None or at < c.invalidated_at) for c in state.consents)
    by_override = any(o.agency == agency and o.purpose == purpose and o.at <= at < o.expires_at
                      for o in state.overrides)
    return by_consent or by_override


@settings(max_examples=300, deadline=None)
@given(st.lists(commands, max_size=25), st.sampled_from(AGENCIES), st.sampled_from(PURPOSES), st.integers(0, 90))
def test_no_sequence_of_commands_makes_data_visible_without_consent_or_override(script, agency, purpose, day):
    state = ConsentState()
    for command in script:
        kind = command[0]
        if kind == "give":
            _, cid, p, recipient, by, age, start, length = command
            change = give(state, Consent(consent_id=cid, purpose=p, recipient=recipient, legal_basis="consent",
                                         given_by=by, notice_version=NOTICE, given_at=T0 + start * DAY,
                                         expires_at=None if length is None else T0 + (start + length) * DAY),
                          age=age, country="IT", rules=RULES, current_notice=NOTICE)
        elif kind == "withdraw":
            change = withdraw(state, command[1], at=T0 + command[2] * DAY)
        elif kind == "invalidate":
            change = invalidate(state, command[1], at=T0 + command[2] * DAY, reason="recorded by mistake")
        else:
            _, a, p, allowed, start, length = command
            change = record_override(agency=a, purpose=p, reason="risk assessment on file", operator="op",
                                     may_override=allowed, at=T0 + start * DAY, expires_at=T0 + (start + length) * DAY)
        if isinstance(change, list):
            continue  # a rejected command changes nothing
        if kind == "override":
            assert command[3], "an override without the permission was accepted"
        if kind == "give" and change.given_by == "youth":
            assert command[5] >= RULES.age_for("IT", change.purpose), "a minor consented alone"
        state = evolve(state, change)
    at = T0 + day * DAY
    assert sees(state, agency=agency, category=CATEGORY[agency], purpose=purpose, at=at) == justified(
        state, agency, purpose, at)
