"""The state social prescribing decides on, folded from its events (pure): a youth's case (the
referral in, their prescriptions) and an activity's places (free, at most, who holds one by
prescription id, the waitlist in order, how long past places were held)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from types import MappingProxyType
from typing import Mapping

from events import social_prescribing as sp


@dataclass(frozen=True)
class Referral:
    referral_id: str
    from_agency: str
    to_agency: str
    birth_year: int
    status: str = "received"  # received | accepted | declined
    link_worker: str | None = None
    received_on: date | None = None


@dataclass(frozen=True)
class Prescription:
    prescription_id: str
    activity_id: str
    placed: bool
    on: date
    ended: str | None = None  # completed | dropped_out | withdrawn
    sessions: Mapping[date, bool] = field(default_factory=lambda: MappingProxyType({}))  # day -> present


@dataclass(frozen=True)
class GoalState:
    area: str
    progress: str = "not_started"  # not_started | some_progress | achieved | no_longer_relevant


@dataclass(frozen=True)
class Case:
    referral: Referral | None = None
    prescriptions: Mapping[str, Prescription] = field(default_factory=lambda: MappingProxyType({}))
    baselines: Mapping[tuple[str, str], sp.WellbeingRecorded] = field(default_factory=lambda: MappingProxyType({}))
    questionnaires: frozenset[str] = frozenset()  # ids recorded
    contacts: frozenset[str] = frozenset()  # ids of the link worker's contacts recorded
    conversations: frozenset[str] = frozenset()  # ids of "what matters to you" conversations recorded
    plans: frozenset[str] = frozenset()  # ids of the plans agreed
    goals: Mapping[str, GoalState] = field(default_factory=lambda: MappingProxyType({}))  # the current plan's
    episode: frozenset[str] = frozenset()  # the prescriptions since the latest referral

    def open_prescriptions(self) -> list[Prescription]:
        return [p for p in self.prescriptions.values() if p.ended is None]

    def active(self) -> bool:
        """Followed now: the referral accepted, with no prescription since or one still running."""
        if self.referral is None or self.referral.status != "accepted":
            return False
        return not self.episode or any(self.prescriptions[p].ended is None for p in self.episode)

    def ended(self) -> bool:
        """An accepted referral whose every prescription has ended: a new referral may start anew."""
        return self.referral is not None and self.referral.status == "accepted" and bool(self.episode) \
            and not self.active()

    def has_attended(self) -> bool:
        return any(any(p.sessions.values()) for p in self.prescriptions.values())


def _with(case: Case, prescription: Prescription) -> Case:
    return replace(case, prescriptions=MappingProxyType({**case.prescriptions, prescription.prescription_id: prescription}))


def evolve(case: Case | None, message: sp.Event, at: datetime) -> Case:
    case = case or Case()
    match message:
        case sp.SocialPrescribingReferralReceived():
            return replace(case, referral=Referral(message.referral_id, message.from_agency, message.to_agency,
                                                   message.birth_year, received_on=at.date()), episode=frozenset())
        case sp.SocialPrescribingReferralAccepted() if case.referral:
            return replace(case, referral=replace(case.referral, status="accepted", link_worker=message.link_worker))
        case sp.SocialPrescribingReferralDeclined() if case.referral:
            return replace(case, referral=replace(case.referral, status="declined"))
        case sp.ActivityPrescribed():
            case = replace(case, episode=case.episode | {message.prescription_id})
            return _with(case, Prescription(message.prescription_id, message.activity_id, message.placed, at.date()))
        case sp.PrescriptionEnded():
            return _with(case, replace(case.prescriptions[message.prescription_id], ended=message.ending))
        case sp.WellbeingRecorded():
            baselines = case.baselines
            if message.occasion == "baseline":
                baselines = MappingProxyType({**baselines, (message.instrument, message.version): message})
            return replace(case, baselines=baselines, questionnaires=case.questionnaires | {message.questionnaire_id})
        case sp.LinkWorkerContactRecorded():
            return replace(case, contacts=case.contacts | {message.contact_id})
        case sp.WhatMattersRecorded():
            return replace(case, conversations=case.conversations | {message.conversation_id})
        case sp.PlanAgreed():
            # a goal kept from the previous plan keeps its progress; one left out is no longer followed
            goals = {g.goal_id: replace(case.goals.get(g.goal_id, GoalState(g.area)), area=g.area) for g in message.goals}
            return replace(case, plans=case.plans | {message.plan_id}, goals=MappingProxyType(goals))
        case sp.GoalReviewed() if message.goal_id in case.goals:
            goals = {**case.goals, message.goal_id: replace(case.goals[message.goal_id], progress=message.progress)}
            return replace(case, goals=MappingProxyType(goals))
        case sp.WaitlistPlaceGiven():
            return _with(case, replace(case.prescriptions[message.prescription_id], placed=True))
        case sp.AttendanceRecorded():
            prescription = case.prescriptions[message.prescription_id]
            sessions = MappingProxyType({**prescription.sessions, message.session_on: message.present})
            return _with(case, replace(prescription, sessions=sessions))
    return case


@dataclass(frozen=True)
class Places:
    """An activity's places. `available` None: the directory says nothing of its capacity, so
    nothing limits a prescription."""

    available: int | None = None
    maximum: int | None = None
    holders: frozenset[str] = frozenset()  # prescription ids holding a place
    waitlist: tuple[str, ...] = ()  # prescription ids waiting, first first
    stays: tuple[int, ...] = ()  # days each ended place was held

    def expected_wait_days(self, position: int) -> int | None:
        """A place frees every (average stay / places) days: position p waits about p times that.
        None while fewer than three places have ended (too few to say)."""
        if len(self.stays) < 3:
            return None
        places = self.maximum or max(1, len(self.holders))
        return -(-position * sum(self.stays) // (len(self.stays) * places))  # rounded up


def evolve_places(places: Places | None, message: sp.Event, at: datetime) -> Places:
    places = places or Places()
    match message:
        case sp.ActivityPlacesSet():
            return replace(places, available=message.available, maximum=message.maximum)
        case sp.PlaceTaken():
            available = None if places.available is None else max(0, places.available - 1)
            waitlist = tuple(p for p in places.waitlist if p != message.prescription_id)  # given from the waitlist
            return replace(places, available=available, holders=places.holders | {message.prescription_id},
                           waitlist=waitlist)
        case sp.WaitlistJoined():
            return replace(places, waitlist=(*places.waitlist, message.prescription_id))
        case sp.PlaceFreed() if message.held_place:
            available = None if places.available is None else places.available + 1
            if places.maximum is not None and available is not None:
                available = min(available, places.maximum)
            return replace(places, available=available, holders=places.holders - {message.prescription_id},
                           stays=(*places.stays, message.days))
        case sp.PlaceFreed():
            return replace(places, waitlist=tuple(p for p in places.waitlist if p != message.prescription_id))
    return places


def audit_summary(case: Case, at: datetime) -> dict:
    """The youth's social prescribing as an auditor's replay shows it at an instant (wellbeing
    answers are not repeated here: the path shows each, as special-category data)."""
    referral = case.referral
    return {
        "referred_by": referral.from_agency if referral else None,
        "social_prescribing_agency": referral.to_agency if referral else None,
        "referral_status": referral.status if referral else None,
        "link_worker": referral.link_worker if referral else None,
        "prescriptions": {pid: {"activity_id": p.activity_id, "placed": p.placed, "ended": p.ended,
                                "sessions_attended": sum(p.sessions.values()), "sessions_recorded": len(p.sessions)}
                          for pid, p in case.prescriptions.items()},
        "conversations": len(case.conversations),
        "goals": {goal_id: {"area": g.area, "progress": g.progress} for goal_id, g in case.goals.items()},
        "wellbeing_baselines": sorted(f"{instrument} v{version}" for instrument, version in case.baselines),
    }
