"""Properties of the intake decisions over random command sequences.

Each run folds the accepted events with `case.evolve` (as the store does) and, independently, into
a `Ledger` written here from the specification: the oracle for who may see the youth. The
properties never ask `may_see` / `may_access` what the answer should be; they compare with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from events import intake as ev
from events.receipts import Reason
from shared.roles import ROLES
from services.intake.case import Case, evolve
from services.intake.decisions import REFERRAL_MOVES, decide, may_access
from tests.unit.intake_given import (AFOL, DAY, EMPLOYMENT, LUGANO, MILANO, NOTICE, NOW, OTHER, POLICY, TICINO,
                                     TORINO, YOUTH, ctx, goal, uid)

MINUTE = timedelta(minutes=1)
START = NOW - 30 * DAY

# The specification, restated independently of the code under test.
CATEGORY = {MILANO: "municipal_youth_service", AFOL: "employment_service", TORINO: "training_body",
            EMPLOYMENT: "employment_service", OTHER: "ngo", LUGANO: "ngo", TICINO: "cantonal_youth_service"}
FHIR_TASK_STATUSES = {"requested", "accepted", "rejected", "in-progress", "completed", "failed", "cancelled"}
TERMINAL = {"rejected", "completed", "failed", "cancelled"}
MAY_WRITE = {"operator", "key_worker", "link_worker", "employment_specialist", "supervisor", "agency_admin",
             "partner_system"}
MAY_OVERRIDE = {"supervisor", "agency_admin"}
OWN_CONSENT_AGE = {"IT": 14, "CH": 16}
# Commands an agency that took part in the path may send without seeing the record: consent
# is theirs to record, withdraw, invalidate or override; a referrer may always cancel its referral.
INVOLVED_COMMANDS = (ev.RecordConsent, ev.WithdrawConsent, ev.InvalidateConsent, ev.OverrideConsent,
                     ev.CancelReferral)


def test_the_oracle_uses_the_categories_of_the_agency_register():
    assert {code: a.category for code, a in POLICY.agencies.items() if code in CATEGORY} == CATEGORY


@dataclass
class Ledger:
    """What the recorded events say, folded without the code under test."""

    registering_agency: str
    involved: set[str]
    lead: str | None = None
    consents: dict[str, dict] = field(default_factory=dict)
    overrides: list[tuple[str, str, datetime, datetime]] = field(default_factory=list)
    referrals: dict[str, dict] = field(default_factory=dict)

    def fold(self, event: ev.Event) -> None:
        match event:
            case ev.ConsentRecorded(consent=t):
                assert t.consent_id not in self.consents, "a consent id was recorded twice"
                self.consents[t.consent_id] = dict(
                    purpose=t.purpose, recipient=t.recipient or event.recorded_by, given_at=t.given_at,
                    ends=[t.expires_at])
            case ev.ConsentWithdrawn():
                self.consents[event.consent_id]["ends"].append(event.withdrawn_at)
            case ev.ConsentInvalidated():
                self.consents[event.consent_id]["ends"].append(event.invalidated_at)
            case ev.ConsentOverridden():
                self.overrides.append((event.agency, event.purpose, event.overridden_at, event.expires_at))
            case ev.CaseOpened():
                self.lead = event.lead_agency
                self.involved.add(event.lead_agency)
            case ev.AgencyJoined():
                self.involved.add(event.agency)
            case ev.ReferralRequested():
                self.involved.add(event.to_agency)
                self.referrals[event.referral_id] = dict(status="requested", by=event.from_agency,
                                                         to=event.to_agency, transfer=event.transfer_lead)
            case ev.ReferralStatusChanged():
                self.referrals[event.referral_id]["status"] = event.status
            case ev.LeadTransferred():
                self.lead = event.to_agency

    def allows(self, agency: str, purpose: str, at: datetime) -> bool:
        by_consent = any(
            c["purpose"] == purpose and c["recipient"] in (agency, f"category:{CATEGORY[agency]}")
            and c["given_at"] <= at and all(end is None or at < end for end in c["ends"])
            for c in self.consents.values())
        by_override = any(a == agency and p == purpose and since <= at < until
                          for a, p, since, until in self.overrides)
        return by_consent or by_override

    def sees(self, agency: str, at: datetime) -> bool:
        return self.allows(agency, "case_management", at) or self.allows(agency, "sharing", at)

    @property
    def effective_lead(self) -> str:
        return self.lead or self.registering_agency


def start(*events: ev.Event, registering: str) -> tuple[Case, Ledger]:
    case, ledger = None, Ledger(registering_agency=registering, involved={registering})
    for event in events:
        case = evolve(case, event, START)
        ledger.fold(event)
    assert case is not None
    return case, ledger


def consent_terms(cid: str, purpose: str, recipient: str | None, at: datetime, *, given_by: str = "guardian",
                  legal_basis: str = "consent", expires_at: datetime | None = None,
                  notice: str = NOTICE) -> ev.ConsentTerms:
    return ev.ConsentTerms(consent_id=cid, purpose=purpose, recipient=recipient, legal_basis=legal_basis,
                           given_by=given_by, notice_version=notice, given_at=at, expires_at=expires_at)


def accepted(decision: list) -> bool:
    return not any(isinstance(item, Reason) for item in decision)


# ---------------------------------------------------------------- a. the referral state machine

POOL = [MILANO, AFOL, TORINO, EMPLOYMENT, OTHER]
# (which, n): the n-th unfinished referral ("open"), or any one ("any"), if there is one; else (and
# for "new") the id uid(400 + n)
REFERRAL = st.tuples(st.sampled_from(["open", "open", "any", "new"]), st.integers(0, 5))
# "receiver" / "referrer": the party of the referral named in the step (most moves come from it);
# "lead": the lead agency; "sharer": an agency the youth shares with now (per the oracle), if any;
# "manager": one that may see the record for case management but has no consent to share.
RECEIVER = st.sampled_from([*POOL, *["receiver"] * 7, "referrer"])
REFERRER = st.sampled_from([*POOL, *["referrer"] * 7, "receiver"])
WAIT = st.integers(0, 12 * 60)  # minutes before the step

requests = st.tuples(st.just("request"), WAIT, st.sampled_from([*POOL, "lead", "lead", "lead"]),
                     st.tuples(st.sampled_from(["new", "new", "new", "any"]), st.integers(0, 5)),
                     st.sampled_from([*POOL, "sharer", "sharer", "sharer", "sharer", "manager"]), st.booleans())
responses = st.tuples(st.just("respond"), WAIT, RECEIVER, REFERRAL,
                      st.sampled_from(["accepted", "accepted", "rejected"]), st.sampled_from([True, True, False]))
updates = st.tuples(st.just("update"), WAIT, RECEIVER, REFERRAL,
                    st.sampled_from(["in-progress", "completed", "failed"]))
referral_steps = st.one_of(
    requests, requests, responses, responses, responses, updates, updates, updates,
    st.tuples(st.just("cancel"), WAIT, REFERRER, REFERRAL),
    st.tuples(st.just("withdraw"), WAIT, st.integers(0, 20)),
    st.tuples(st.just("share"), WAIT, st.sampled_from(POOL[1:]), st.booleans(),
              st.one_of(st.none(), st.integers(1, 200)), st.sampled_from(["sharing", "sharing", "case_management"])),
    st.tuples(st.just("override"), WAIT, st.sampled_from(POOL[1:]), st.integers(1, 200)),
)
# (receiving agency, by its category?, already referred: None, or the status it reached ("transfer": a
# lead transfer still requested))
initial_sharing = st.lists(st.tuples(st.sampled_from(POOL[1:]), st.booleans(), st.sampled_from(
    [None, "transfer", "transfer", "transfer", "requested", "accepted", "in-progress", "completed", "failed",
     "rejected", "cancelled"])), min_size=2, max_size=5)
# agencies that may see the record for case management, which is no consent to share with them
initial_case_management = st.lists(st.sampled_from(POOL[1:]), max_size=3)
PATHS = {"transfer": [], "requested": [], "accepted": ["accepted"], "in-progress": ["accepted", "in-progress"],
         "completed": ["accepted", "completed"], "failed": ["accepted", "failed"], "rejected": ["rejected"],
         "cancelled": ["cancelled"]}


def referred_until(i: int, to: str, reached: str) -> list[ev.Event]:
    rid = uid(490 + i)
    events: list[ev.Event] = [ev.ReferralRequested(
        youth_id=YOUTH, referral_id=rid, from_agency=MILANO, to_agency=to, service="ips_placement",
        reason="job search", transfer_lead=reached == "transfer", basis=f"consent:{uid(900 + i)}")]
    previous = "requested"
    for status in PATHS[reached]:
        events.append(ev.ReferralStatusChanged(youth_id=YOUTH, referral_id=rid, from_agency=MILANO, to_agency=to,
                                               previous_status=previous, status=status, by_agency=to))
        previous = status
    return events


def referral_id(ledger: Ledger, choice: tuple[str, int]) -> str:
    which, n = choice
    known = sorted(ledger.referrals)
    if which == "open":
        known = [r for r in known if ledger.referrals[r]["status"] not in TERMINAL] or known
    return known[n % len(known)] if which != "new" and known else uid(400 + n)


def party(ledger: Ledger, who: str, referral_id: str, now: datetime) -> str:
    referral = ledger.referrals.get(referral_id)
    if who in ("sharer", "manager"):
        sharers = [a for a in POOL[1:] if ledger.allows(a, "sharing", now) == (who == "sharer")
                   and (who == "sharer" or ledger.allows(a, "case_management", now))] or POOL[1:]
        return sharers[int(referral_id[-4:]) % len(sharers)]
    if who == "receiver":
        return referral["to"] if referral else AFOL
    if who == "referrer":
        return referral["by"] if referral else MILANO
    if who == "lead":
        return ledger.effective_lead
    return who


def referral_command(step, ledger: Ledger, now: datetime, serial: int) -> tuple[ev.Command, str, str]:
    kind = step[0]
    if kind == "request":
        _, _, who, choice, to, transfer = step
        rid = referral_id(ledger, choice)
        return (ev.RequestReferral(youth_id=YOUTH, referral_id=rid, to_agency=party(ledger, to, rid, now),
                                   service="training", reason="vocational course", transfer_lead=transfer),
                party(ledger, who, rid, now), "key_worker")
    if kind == "respond":
        _, _, who, choice, decision, with_reason = step
        rid = referral_id(ledger, choice)
        return (ev.RespondToReferral(youth_id=YOUTH, referral_id=rid, decision=decision,
                                     reason="no places left" if with_reason else None),
                party(ledger, who, rid, now), "key_worker")
    if kind == "update":
        _, _, who, choice, status = step
        rid = referral_id(ledger, choice)
        return (ev.UpdateReferral(youth_id=YOUTH, referral_id=rid, status=status),
                party(ledger, who, rid, now), "operator")
    if kind == "cancel":
        _, _, who, choice = step
        rid = referral_id(ledger, choice)
        return (ev.CancelReferral(youth_id=YOUTH, referral_id=rid, reason="not needed"),
                party(ledger, who, rid, now), "key_worker")
    if kind == "withdraw":
        ids = sorted(ledger.consents)
        return ev.WithdrawConsent(youth_id=YOUTH, consent_id=ids[step[2] % len(ids)]), MILANO, "key_worker"
    if kind == "share":
        _, _, to, by_category, hours, purpose = step
        recipient = f"category:{CATEGORY[to]}" if by_category else to
        t = consent_terms(uid(1000 + serial), purpose, recipient, now,
                          expires_at=None if hours is None else now + hours * timedelta(hours=1))
        return ev.RecordConsent(youth_id=YOUTH, consent=t), MILANO, "key_worker"
    _, _, to, hours = step
    return (ev.OverrideConsent(youth_id=YOUTH, agency=to, purpose="sharing", reason="urgent placement, see file",
                               expires_at=now + hours * timedelta(hours=1)), MILANO, "supervisor")


def check_referral_events(events: list[ev.Event], ledger: Ledger, agency: str, now: datetime) -> None:
    """What each accepted decision may produce, judged on the state before it."""
    for i, event in enumerate(events):
        if isinstance(event, ev.ReferralRequested):
            assert event.referral_id not in ledger.referrals
            assert event.from_agency == agency
            assert ledger.allows(event.to_agency, "sharing", now), \
                "a referral was requested without a consent to share (or override) for the receiver"
        elif isinstance(event, ev.ReferralStatusChanged):
            before = ledger.referrals[event.referral_id]["status"]
            assert event.previous_status == before
            assert before not in TERMINAL, "a finished referral changed"
            assert event.status in REFERRAL_MOVES[before], f"{before} -> {event.status}"
        elif isinstance(event, ev.LeadTransferred):
            accepting = events[i - 1]
            assert isinstance(accepting, ev.ReferralStatusChanged) and accepting.status == "accepted"
            referral = ledger.referrals[event.referral_id]
            assert referral["transfer"] and accepting.referral_id == event.referral_id
            assert event.to_agency == referral["to"] == agency
            assert referral["by"] == ledger.effective_lead, "the lead was transferred by an agency no longer lead"


@settings(max_examples=150, deadline=None)
@given(st.booleans(), initial_sharing, initial_case_management, st.lists(referral_steps, min_size=10, max_size=40))
def test_referrals_follow_the_fhir_task_flow_and_are_only_requested_with_a_consent_to_share(
        assessed, initial, case_management, steps):
    sharing = [ev.ConsentRecorded(youth_id=YOUTH, recorded_by=MILANO, consent=consent_terms(
        uid(900 + i), "sharing", f"category:{CATEGORY[to]}" if by_category else to, START))
        for i, (to, by_category, _) in enumerate(initial)]
    managing = [ev.ConsentRecorded(youth_id=YOUTH, recorded_by=MILANO, consent=consent_terms(
        uid(950 + i), "case_management", to, START)) for i, to in enumerate(case_management)]
    referrals = [e for i, (to, _, reached) in enumerate(initial) if reached for e in referred_until(i, to, reached)]
    case, ledger = start(
        ev.YouthRegistered(youth_id=YOUTH, registering_agency=MILANO, partner_case_ref="MI7-1", birth_year=2000,
                           country="IT", region="IT-25"),
        ev.ConsentRecorded(youth_id=YOUTH, recorded_by=MILANO, consent=consent_terms(
            uid(100), "case_management", None, START)),
        *([ev.CaseOpened(youth_id=YOUTH, lead_agency=MILANO, key_worker="kw-1")] if assessed else []),
        *sharing, *managing, *referrals, registering=MILANO)
    now = START
    for serial, step in enumerate(steps):
        now += step[1] * MINUTE
        command, agency, role = referral_command(step, ledger, now, serial)
        decision = decide(case, command, ctx(agency=agency, role=role, now=now))
        before = {rid: r.status for rid, r in case.referrals.items()}
        lead_before = ledger.lead
        if accepted(decision):
            check_referral_events(decision, ledger, agency, now)
            for event in decision:
                case = evolve(case, event, now)
                ledger.fold(event)
        after = {rid: r.status for rid, r in case.referrals.items()}
        assert set(after.values()) <= FHIR_TASK_STATUSES
        assert after == {rid: r["status"] for rid, r in ledger.referrals.items()}
        for rid, status in before.items():
            if status in TERMINAL:
                assert after[rid] == status, "a terminal referral status changed"
            elif after[rid] != status:
                assert after[rid] in REFERRAL_MOVES[status]
        assert case.lead_agency == ledger.lead
        if ledger.lead != lead_before:
            assert any(isinstance(e, ev.LeadTransferred) for e in decision) and accepted(decision) \
                and isinstance(command, ev.RespondToReferral) and command.decision == "accepted"


# ---------------------------------------------------------------- b. visibility is fail-closed

AGENCIES = [MILANO, AFOL, TORINO, EMPLOYMENT, OTHER, LUGANO, TICINO]
CONSENT_IDS = [uid(100 + i) for i in range(10)]
PURPOSES = ["case_management", "sharing", "family_contact", "observatory_statistics"]
ACTS = ["log_contact", "family_meeting", "cadence", "add_related", "refer", "respond", "update_referral",
        "cancel_referral", "assess", "agree", "close", "follow_up", "identity"]
# Anyone, or (resolved at run time) the registering agency, an involved one, one the oracle says sees.
AGENCY = st.sampled_from([*AGENCIES, "registering", "registering", "involved", "involved", "sees", "sees", "sees"])
ROLE = st.sampled_from([*ROLES, "key_worker", "key_worker", "operator", "supervisor", "supervisor", "agency_admin"])
OTHER_AGENCY = st.sampled_from(AGENCIES)
HOURS = st.integers(-24 * 60, 2)  # when, relative to now, a consent was given / withdrawn

acts = st.tuples(st.just("act"), WAIT, AGENCY, ROLE, st.sampled_from(ACTS), st.integers(0, 3), OTHER_AGENCY,
                 st.booleans())
visibility_steps = st.one_of(
    acts, acts, acts,
    st.tuples(st.just("record"), WAIT, AGENCY, ROLE, st.sampled_from(CONSENT_IDS), st.sampled_from(PURPOSES),
              st.sampled_from([None, "agency", "category"]), OTHER_AGENCY, st.sampled_from(["youth", "guardian"]),
              st.sampled_from(["consent", "consent", "public_task"]), HOURS,
              st.one_of(st.none(), st.integers(1, 24 * 60)), st.sampled_from([True, True, True, False])),
    st.tuples(st.just("withdraw"), WAIT, AGENCY, ROLE, st.sampled_from(CONSENT_IDS), st.one_of(st.none(), HOURS)),
    st.tuples(st.just("invalidate"), WAIT, AGENCY, ROLE, st.sampled_from(CONSENT_IDS), st.booleans()),
    st.tuples(st.just("override"), WAIT, AGENCY, ROLE, OTHER_AGENCY, st.sampled_from(PURPOSES),
              st.integers(-2, 24 * 30), st.sampled_from([True, True, False])),
)
youths = st.sampled_from([("IT", "IT-25", MILANO), ("CH", "CH-TI", TICINO)])
birth_years = st.sampled_from([2012, 2011, 2010, 2009, 2000, 1997])


def sender(who: str, ledger: Ledger, now: datetime, n: int) -> str:
    if who == "registering":
        return ledger.registering_agency
    if who == "involved":
        return sorted(ledger.involved)[n % len(ledger.involved)]
    if who == "sees":
        seeing = [a for a in AGENCIES if ledger.sees(a, now)] or AGENCIES
        return seeing[n % len(seeing)]
    return who


def act(step, case: Case, now: datetime, agency: str) -> ev.Command:
    _, _, _, _, what, n, other, flag = step
    today = now.date()
    match what:
        case "log_contact" | "family_meeting":
            return ev.LogContact(youth_id=YOUTH, contact_id=uid(500 + n), channel="phone",
                                 contact_type="family_meeting" if what == "family_meeting" else "phone_call",
                                 outcome="reached" if flag else "not_reached", occurred_at=now - MINUTE)
        case "cadence":
            return ev.SetContactCadence(youth_id=YOUTH, every_days=7)
        case "add_related":
            return ev.AddRelatedPerson(youth_id=YOUTH, related_person_id=uid(600 + n), relationship="sibling",
                                       consents_to_contact=flag)
        case "refer":
            return ev.RequestReferral(youth_id=YOUTH, referral_id=uid(400 + n), to_agency=other,
                                      service="partner_service", reason="support", transfer_lead=flag)
        case "respond":
            return ev.RespondToReferral(youth_id=YOUTH, referral_id=uid(400 + n),
                                        decision="accepted" if flag else "rejected", reason="busy")
        case "update_referral":
            return ev.UpdateReferral(youth_id=YOUTH, referral_id=uid(400 + n), status="in-progress")
        case "cancel_referral":
            return ev.CancelReferral(youth_id=YOUTH, referral_id=uid(400 + n), reason="not needed")
        case "assess":
            return ev.AssessYouth(youth_id=YOUTH, neet_status="neet", education_level="upper_secondary",
                                  family_context="alone", lead_agency=case.lead_agency or agency, key_worker=f"kw-{n}")
        case "agree":
            return ev.AgreeProjectOfLife(youth_id=YOUTH, based_on_version=case.project_version,
                                         goals=[goal(uid(300))], next_review_due=today + 30 * DAY,
                                         agreed_by_youth=True, agreed_by_guardian=True)
        case "close":
            return ev.CloseCase(youth_id=YOUTH, destination="training", exited_on=today)
        case "follow_up":
            return ev.RecordFollowUp(youth_id=YOUTH, checkpoint_months=6, situation="training", recorded_on=today)
    return ev.RecordIdentity(youth_id=YOUTH, sealed_identity="v1." + "B" * 48)


def visibility_command(step, case: Case, now: datetime, agency: str) -> ev.Command:
    kind = step[0]
    if kind == "record":
        _, _, _, _, cid, purpose, form, other, given_by, basis, hours, lasts, current = step
        recipient = {None: None, "agency": other, "category": f"category:{CATEGORY[other]}"}[form]
        at = now + hours * timedelta(hours=1)
        return ev.RecordConsent(youth_id=YOUTH, consent=consent_terms(
            cid, purpose, recipient, at, given_by=given_by, legal_basis=basis, notice=NOTICE if current else "2025-1",
            expires_at=None if lasts is None else at + lasts * timedelta(hours=1)))
    if kind == "withdraw":
        _, _, _, _, cid, hours = step
        return ev.WithdrawConsent(youth_id=YOUTH, consent_id=cid,
                                  withdrawn_at=None if hours is None else now + hours * timedelta(hours=1))
    if kind == "invalidate":
        _, _, _, _, cid, blank = step
        return ev.InvalidateConsent(youth_id=YOUTH, consent_id=cid, reason=" " if blank else "wrong recipient")
    if kind == "override":
        _, _, _, _, target, purpose, hours, good_reason = step
        return ev.OverrideConsent(youth_id=YOUTH, agency=target, purpose=purpose,
                                  reason="safeguarding: risk of harm" if good_reason else "  x       ",
                                  expires_at=now + hours * timedelta(hours=1))
    return act(step, case, now, agency)


@settings(max_examples=150, deadline=None)
@given(youths, birth_years, st.lists(visibility_steps, min_size=10, max_size=40))
def test_no_agency_acts_on_a_youth_without_a_consent_in_force_or_an_override(youth, birth_year, steps):
    country, region, registering = youth
    case, ledger = start(
        ev.YouthRegistered(youth_id=YOUTH, registering_agency=registering, partner_case_ref="REF-1",
                           birth_year=birth_year, country=country, region=region),
        ev.ConsentRecorded(youth_id=YOUTH, recorded_by=registering, consent=consent_terms(
            CONSENT_IDS[0], "case_management", None, START)),
        registering=registering)
    now = START
    for serial, step in enumerate(steps):
        now += step[1] * MINUTE
        agency, role = sender(step[2], ledger, now, serial), step[3]
        command = visibility_command(step, case, now, agency)
        decision = decide(case, command, ctx(agency=agency, role=role, now=now, identity_ciphertext="ct"))
        if accepted(decision):
            assert role in MAY_WRITE, f"{role} changed a case record"
            if not (isinstance(command, INVOLVED_COMMANDS) and agency in ledger.involved):
                assert ledger.sees(agency, now), \
                    f"{type(command).__name__} from {agency} accepted without consent in force or override"
            for event in decision:
                if isinstance(event, ev.ConsentOverridden):
                    assert role in MAY_OVERRIDE, f"an override was recorded by {role}"
                if isinstance(event, ev.ConsentRecorded) and event.consent.legal_basis == "consent" \
                        and event.consent.given_by == "youth":
                    youngest = event.consent.given_at.year - birth_year - 1
                    assert youngest >= OWN_CONSENT_AGE[country], "a youth who may be a minor consented alone"
                case = evolve(case, event, now)
                ledger.fold(event)
        for someone in AGENCIES:
            for at in (now, now + 7 * DAY):
                assert may_access(case, someone, at, POLICY) == ledger.sees(someone, at), (someone, at)
