"""Social prescribing's decisions, pure: (state, command, who sends it, today) -> the events to
record, or the reasons it is refused, each naming the field the sender can correct.

A prescription's events go two ways: the youth's case records that the activity was prescribed or
ended (its history is the youth's path), and the activity's places record a place taken or freed,
or a waitlist joined or left, by prescription id only (its history names no youth)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from events import social_prescribing as sp
from events.receipts import Reason
from services.social_prescribing import wellbeing
from services.social_prescribing.case import Case, Places

Decision = tuple[list[sp.Event], list[sp.Event]] | list[Reason]  # (the youth's events, the activity's) or why not


@dataclass(frozen=True)
class Activity:
    """What the directory says of an activity, for a prescription."""

    name: str
    status: str
    minimum_age: float | None = None
    maximum_age: float | None = None
    provider_agency: str | None = None  # the platform agency that runs it, if any


def refuse(field: str, code: str, message: str) -> list[Reason]:
    return [Reason(field=field, code=code, message=message)]


def not_followed(case: Case | None, sender_agency: str, doing: str) -> list[Reason]:
    """Why the sender's agency may not act on the youth's social prescribing: none (it follows the
    youth, their referral to it accepted), or the reason."""
    referral = case.referral if case else None
    if referral is None or referral.status != "accepted":
        return refuse("data.youth_id", "no_accepted_referral",
                      f"{doing} for a youth whose referral to social prescribing was accepted")
    if referral.to_agency != sender_agency:
        return refuse("data.youth_id", "not_your_youth", "the youth's social prescribing is with another agency")
    return []


def refer(case: Case | None, command: sp.ReferToSocialPrescribing, sender_agency: str,
          known_agency: Callable[[str], bool] = lambda code: True) -> list[sp.Event] | list[Reason]:
    if not known_agency(command.to_agency):
        return refuse("data.to_agency", "unknown_agency", "no agency with this code in the register")
    if case is not None and case.referral is not None and case.referral.status != "declined" and not case.ended():
        return refuse("data.youth_id", "already_referred", "the youth already has a referral to social prescribing"
                      " that is waiting, or accepted with an activity still running or none prescribed yet")
    return [sp.SocialPrescribingReferralReceived(
        youth_id=command.youth_id, referral_id=command.referral_id, from_agency=sender_agency,
        to_agency=command.to_agency, birth_year=command.birth_year, reason=command.reason)]


def answer(case: Case | None, command: sp.AnswerSocialPrescribingReferral, sender_agency: str
           ) -> list[sp.Event] | list[Reason]:
    referral = case.referral if case else None
    if referral is None or referral.referral_id != command.referral_id:
        return refuse("data.referral_id", "unknown_referral", "no referral with this id for this youth")
    if referral.to_agency != sender_agency:
        return refuse("data.referral_id", "not_addressed_to_you", "the referral was sent to another agency")
    if referral.status != "received":
        return refuse("data.referral_id", "already_answered", f"the referral was {referral.status} already")
    if command.decision == "accepted":
        if not command.link_worker:
            return refuse("data.link_worker", "missing", "name the link worker who will follow the youth")
        return [sp.SocialPrescribingReferralAccepted(youth_id=command.youth_id, referral_id=command.referral_id,
                                                     link_worker=command.link_worker)]
    if not command.reason:
        return refuse("data.reason", "missing", "say why the referral is declined: the referrer reads it")
    return [sp.SocialPrescribingReferralDeclined(youth_id=command.youth_id, referral_id=command.referral_id,
                                                 reason=command.reason)]


def set_places(command: sp.SetActivityPlaces, activity: Activity | None, sender_agency: str
               ) -> list[sp.Event] | list[Reason]:
    """Only the agency that runs the activity says how many places it has."""
    if activity is None:
        return refuse("data.activity_id", "unknown_activity", "no activity with this id in the directory")
    if activity.provider_agency is None:
        return refuse("data.activity_id", "no_provider_agency", "the activity's organisation names no agency of the"
                      " platform (an organisation identifier with scheme kit-agency): its places come from the"
                      " directory file")
    if activity.provider_agency != sender_agency:
        return refuse("data.activity_id", "not_your_activity", "another agency runs this activity")
    if command.maximum is not None and command.available > command.maximum:
        return refuse("data.available", "more_than_maximum", "more places free than the activity has at most")
    return [sp.ActivityPlacesSet(activity_id=command.activity_id, available=command.available,
                                 maximum=command.maximum)]


def ages_now(birth_year: int, today: date) -> tuple[int, int]:
    """The youngest and oldest a youth born in that year can be today."""
    return today.year - birth_year - 1, today.year - birth_year


def prescribe(case: Case | None, places: Places, activity: Activity | None, command: sp.PrescribeActivity,
              sender_agency: str, today: date) -> Decision:
    referral = case.referral if case else None
    if referral is None or referral.status != "accepted":
        return refuse("data.youth_id", "no_accepted_referral",
                      "prescribe to a youth whose referral to social prescribing was accepted")
    if referral.to_agency != sender_agency:
        return refuse("data.youth_id", "not_your_youth", "the youth's social prescribing is with another agency")
    assert case is not None
    if command.prescription_id in case.prescriptions:
        return refuse("data.prescription_id", "duplicate", "this prescription id is taken")
    if activity is None:
        return refuse("data.activity_id", "unknown_activity", "no activity with this id in the directory")
    if activity.status != "active":
        return refuse("data.activity_id", "activity_not_active", f"the activity is {activity.status}")
    if any(p.activity_id == command.activity_id for p in case.open_prescriptions()):
        return refuse("data.activity_id", "already_prescribed", "the youth already has this activity prescribed")
    youngest, oldest = ages_now(referral.birth_year, today)
    low, high = activity.minimum_age, activity.maximum_age
    if (low is not None and oldest < low) or (high is not None and youngest > high):
        rule = f"ages {low:g} to {high:g}" if low is not None and high is not None else (
            f"ages {low:g} and over" if low is not None else f"ages up to {high:g}")
        return refuse("data.activity_id", "ineligible",
                      f"the activity is for {rule}; a youth born in {referral.birth_year} is {youngest} or {oldest}")
    if places.available is None or places.available > 0:
        return ([sp.ActivityPrescribed(youth_id=command.youth_id, prescription_id=command.prescription_id,
                                       activity_id=command.activity_id, placed=True)],
                [sp.PlaceTaken(activity_id=command.activity_id, prescription_id=command.prescription_id)])
    position = len(places.waitlist) + 1
    return ([sp.ActivityPrescribed(youth_id=command.youth_id, prescription_id=command.prescription_id,
                                   activity_id=command.activity_id, placed=False, waitlist_position=position,
                                   expected_wait_days=places.expected_wait_days(position))],
            [sp.WaitlistJoined(activity_id=command.activity_id, prescription_id=command.prescription_id,
                               position=position)])


def end(case: Case | None, command: sp.EndPrescription, sender_agency: str, today: date) -> Decision:
    """Only the agency that follows the youth ends their prescriptions."""
    refused = not_followed(case, sender_agency, "end a prescription")
    if refused:
        return refused
    prescription = case.prescriptions.get(command.prescription_id) if case else None
    if prescription is None:
        return refuse("data.prescription_id", "unknown_prescription", "no prescription with this id for this youth")
    if prescription.ended is not None:
        return refuse("data.prescription_id", "already_ended", f"the prescription ended already ({prescription.ended})")
    if command.ending == "completed" and not prescription.placed:
        return refuse("data.ending", "not_placed", "a prescription on the waitlist is withdrawn, not completed")
    if command.ending == "dropped_out" and not command.reason:
        return refuse("data.reason", "missing", "say why the youth dropped out: it counts in the outcomes")
    days = max(0, (today - prescription.on).days)
    return ([sp.PrescriptionEnded(youth_id=command.youth_id, prescription_id=command.prescription_id,
                                  activity_id=prescription.activity_id, ending=command.ending, reason=command.reason,
                                  days=days, sessions_attended=sum(prescription.sessions.values()),
                                  sessions_recorded=len(prescription.sessions))],
            [sp.PlaceFreed(activity_id=prescription.activity_id, prescription_id=command.prescription_id,
                           held_place=prescription.placed, days=days)])


def attend(case: Case | None, command: sp.RecordAttendance, youth_id: str | None, activity: Activity | None,
           sender_agency: str, today: date) -> list[sp.Event] | list[Reason]:
    """A session's attendance, from the activity's provider or the youth's social prescribing
    agency. To anyone else, a prescription of another activity looks like none at all."""
    prescription = case.prescriptions.get(command.prescription_id) if case else None
    unknown = refuse("data.prescription_id", "unknown_prescription", "no participant with this code in this activity")
    if prescription is None or prescription.activity_id != command.activity_id or activity is None:
        return unknown
    assert case is not None and case.referral is not None and youth_id is not None
    if sender_agency == activity.provider_agency:
        by = "provider"
    elif sender_agency == case.referral.to_agency:
        by = "link_worker"
    else:
        return unknown
    if not prescription.placed:
        return refuse("data.prescription_id", "not_placed", "the participant is on the waitlist: no session yet")
    if command.session_on > today:
        return refuse("data.session_on", "in_the_future", "record a session once it took place")
    if command.session_on < prescription.on:
        return refuse("data.session_on", "before_prescription", "the session is before the prescription")
    if command.session_on in prescription.sessions:
        return refuse("data.session_on", "already_recorded", "this session's attendance is recorded already")
    first = command.present and not case.has_attended()
    received = case.referral.received_on
    return [sp.AttendanceRecorded(youth_id=youth_id, prescription_id=command.prescription_id,
                                  activity_id=command.activity_id, session_on=command.session_on,
                                  present=command.present, by=by, first_attendance=first,  # type: ignore[arg-type]
                                  days_from_referral=(command.session_on - received).days if first and received
                                  else None)]


def record_wellbeing(case: Case | None, command: sp.RecordWellbeing, sender_agency: str, today: date,
                     instruments: Mapping[tuple[str, str], wellbeing.Instrument]) -> list[sp.Event] | list[Reason]:
    """Scored answers of a youth the agency follows: the first of an instrument version is the
    baseline, each later one a follow-up with its change from it."""
    refused = not_followed(case, sender_agency, "record wellbeing")
    if refused:
        return refused
    assert case is not None
    if command.questionnaire_id in case.questionnaires:
        return refuse("data.questionnaire_id", "duplicate", "this questionnaire id is taken")
    instrument = instruments.get((command.instrument, command.version))
    if instrument is None:
        known = ", ".join(f"{i} v{v}" for i, v in sorted(instruments))
        return refuse("data.instrument", "unknown_instrument", f"no such instrument version here; known: {known}")
    if command.taken_on > today:
        return refuse("data.taken_on", "in_the_future", "record a questionnaire once it was answered")
    baseline = case.baselines.get(instrument.key)
    if command.occasion == "baseline" and baseline is not None:
        return refuse("data.occasion", "baseline_exists", "the youth has a baseline for this instrument: this is a"
                      " follow-up")
    if command.occasion == "follow_up" and baseline is None:
        return refuse("data.occasion", "no_baseline", "record the baseline of this instrument first")
    scored = wellbeing.score(instrument, command.answers)
    if isinstance(scored, list):
        return scored
    measured = {}
    if baseline is not None:
        before = wellbeing.Scored(baseline.instrument, baseline.version, baseline.answers, baseline.bands,
                                  baseline.raw_total, baseline.total)
        moved = wellbeing.change(instrument, before, scored)
        measured = {"change": dict(moved.items), "change_direction": dict(moved.direction),
                    "total_change": moved.total}
    return [sp.WellbeingRecorded(youth_id=command.youth_id, questionnaire_id=command.questionnaire_id,
                                 instrument=instrument.id, version=instrument.version, occasion=command.occasion,
                                 taken_on=command.taken_on, answers=dict(scored.answers), bands=dict(scored.bands),
                                 raw_total=scored.raw_total, total=scored.total, **measured)]


def caseload_notice(link_worker: str, active: int, threshold: int) -> list[Reason]:
    """Accepting for a link worker at or above the threshold is allowed, with a notice saying so."""
    if active < threshold:
        return []
    return [Reason(field="data.link_worker", code="caseload_over_threshold",
                   message=f"{link_worker} already follows {active} active youths; the agency's warning threshold"
                           f" is {threshold}")]


def first_in_line(places: Places) -> list[str]:
    """The waitlisted prescriptions the free places go to now, first come first served."""
    if places.available is None:
        return list(places.waitlist)
    return list(places.waitlist[:places.available])


def record_contact(case: Case | None, command: sp.RecordLinkWorkerContact, sender_agency: str, now: datetime
                   ) -> list[sp.Event] | list[Reason]:
    refused = not_followed(case, sender_agency, "record contacts")
    if refused:
        return refused
    assert case is not None
    if command.contact_id in case.contacts:
        return refuse("data.contact_id", "duplicate", "this contact id is taken")
    if command.occurred_at > now:
        return refuse("data.occurred_at", "in_the_future", "record a contact once it happened")
    return [sp.LinkWorkerContactRecorded(youth_id=command.youth_id, contact_id=command.contact_id,
                                         channel=command.channel, outcome=command.outcome,
                                         occurred_at=command.occurred_at)]


ERASED = refuse("data.youth_id", "erased", "the personal data of this youth was erased: nothing can be added")


def record_what_matters(case: Case | None, command: sp.RecordWhatMatters, sender_agency: str, today: date,
                        words_ciphertext: str | None) -> list[sp.Event] | list[Reason]:
    """The conversation, once per id, on or before today; the youth's words arrive here already
    encrypted with their key (None: the key was destroyed, the youth erased)."""
    refused = not_followed(case, sender_agency, "record a conversation")
    if refused:
        return refused
    assert case is not None
    if command.conversation_id in case.conversations:
        return refuse("data.conversation_id", "duplicate", "this conversation id is taken")
    if command.conversation_on > today:
        return refuse("data.conversation_on", "in_the_future", "record a conversation once it was held")
    if words_ciphertext is None:
        return ERASED
    return [sp.WhatMattersRecorded(youth_id=command.youth_id, conversation_id=command.conversation_id,
                                   conversation_on=command.conversation_on, needs=list(dict.fromkeys(command.needs)),
                                   words_ciphertext=words_ciphertext)]


def agree_plan(case: Case | None, command: sp.AgreePlan, sender_agency: str, today: date,
               goal_ciphertexts: Mapping[str, str] | None) -> list[sp.Event] | list[Reason]:
    """The co-produced plan: its goals, each with its own id (a goal kept from the previous plan
    keeps its id and its reviews); each goal's words already encrypted with the youth's key."""
    refused = not_followed(case, sender_agency, "agree a plan")
    if refused:
        return refused
    assert case is not None
    if command.plan_id in case.plans:
        return refuse("data.plan_id", "duplicate", "this plan id is taken")
    ids = [goal.goal_id for goal in command.goals]
    for index, goal_id in enumerate(ids):
        if goal_id in ids[:index]:
            return refuse(f"data.goals.{index}.goal_id", "duplicate", "two goals of the plan have this id")
    if command.agreed_on > today:
        return refuse("data.agreed_on", "in_the_future", "record a plan once it was agreed")
    if command.review_on is not None and command.review_on < command.agreed_on:
        return refuse("data.review_on", "before_agreed_on", "a plan is reviewed after it is agreed")
    if goal_ciphertexts is None:
        return ERASED
    return [sp.PlanAgreed(youth_id=command.youth_id, plan_id=command.plan_id, agreed_on=command.agreed_on,
                          review_on=command.review_on,
                          goals=[sp.AgreedGoal(goal_id=goal.goal_id, area=goal.area,
                                               goal_ciphertext=goal_ciphertexts[goal.goal_id])
                                 for goal in command.goals])]


def review_goal(case: Case | None, command: sp.ReviewGoal, sender_agency: str, today: date
                ) -> list[sp.Event] | list[Reason]:
    """How far the youth got with a goal of their current plan."""
    refused = not_followed(case, sender_agency, "review a goal")
    if refused:
        return refused
    assert case is not None
    goal = case.goals.get(command.goal_id)
    if goal is None:
        return refuse("data.goal_id", "not_in_the_plan", "no goal with this id in the youth's current plan")
    if command.reviewed_on > today:
        return refuse("data.reviewed_on", "in_the_future", "record a review once it was made")
    return [sp.GoalReviewed(youth_id=command.youth_id, goal_id=command.goal_id, area=goal.area,
                            progress=command.progress, reviewed_on=command.reviewed_on)]
