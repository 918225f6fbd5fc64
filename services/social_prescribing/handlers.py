"""Social prescribing's commands on the runtime: load the youth's case and the activity's places
(and, for an activity the service has not kept places for yet, what the directory says), decide
(pure, `decisions.py`), record."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime

from events import social_prescribing as sp
from events.envelope import CloudEvent
from events.receipts import Reason
from kit.runtime import Accepted, Rejected, Sender, Work
from services.social_prescribing import consent, decisions
from services.social_prescribing.aggregates import (ActivityPlaces, PrescriptionKey, YouthCase, places_id,
                                                    prescription_key_id)
from services.social_prescribing.case import Places
from services.social_prescribing.caseload import DEFAULT_THRESHOLD
from services.social_prescribing.consent import BirthYearOf, MayAccess
from services.social_prescribing.decisions import Activity
from services.social_prescribing.wellbeing import Instrument

# (youth id, the youth's words) -> each one's ciphertext under the youth's own vault key, None if the
# key was destroyed (the youth erased)
Seal = Callable[[str, list[str]], list[str] | None]
# activity id -> (what the directory says of it, its free places, at most), or None if it has no such activity
Directory = Callable[[str], tuple[Activity, int | None, int | None] | None]


class SocialPrescribing:
    def __init__(self, directory: Directory, known_agency: Callable[[str], bool],
                 instruments: Mapping[tuple[str, str], Instrument], may_access: MayAccess,
                 caseload: Callable[[str, str], int] = lambda agency, link_worker: 0,
                 caseload_threshold: int = DEFAULT_THRESHOLD, birth_year_of: BirthYearOf = lambda youth: None,
                 seal: Seal = lambda youth, texts: None,
                 today_of: Callable[[str, datetime], date] = lambda agency, now: now.date()):
        self.directory, self.known_agency, self.instruments = directory, known_agency, instruments
        self.may_access, self.caseload, self.caseload_threshold = may_access, caseload, caseload_threshold
        self.birth_year_of, self.seal = birth_year_of, seal
        self.today_of = today_of  # the sending agency's date (a day that is today there is not in the future)

    def handle(self, work: Work, envelope: CloudEvent, command: sp.Command, sender: Sender,
               now: datetime) -> Accepted | Rejected:
        if isinstance(command, sp.SetActivityPlaces):
            return self._set_places(work, command, sender, now)
        if isinstance(command, sp.RecordAttendance):
            return self._attend(work, command, sender, now)
        youth = uuid.UUID(command.youth_id)  # type: ignore[attr-defined]
        today = self.today_of(sender.agency, now)
        if isinstance(command, sp.ReferToSocialPrescribing):
            refused = (consent.referral_refusal(self.may_access, command.youth_id, sender.agency, command.to_agency, now)
                       or consent.birth_year_refusal(self.birth_year_of, command.youth_id, command.birth_year))
        else:
            refused = consent.access_refusal(self.may_access, command.youth_id, sender.agency, now)  # type: ignore[attr-defined]
        if refused:
            return Rejected(refused)
        case = work.get(youth)
        state = case.state if case else None
        if isinstance(command, sp.ReferToSocialPrescribing):
            return self._record(work, youth, case, decisions.refer(state, command, sender.agency, self.known_agency), sender)
        if isinstance(command, sp.RecordLinkWorkerContact):
            return self._record(work, youth, case, decisions.record_contact(state, command, sender.agency, now), sender)
        if isinstance(command, sp.RecordWellbeing):
            return self._record(work, youth, case, decisions.record_wellbeing(state, command, sender.agency, today,
                                                                              self.instruments), sender)
        if isinstance(command, sp.RecordWhatMatters):
            sealed = self.seal(command.youth_id, [command.in_their_words])
            words = sealed[0] if sealed is not None else None
            return self._record(work, youth, case, decisions.record_what_matters(state, command, sender.agency,
                                                                                  today, words), sender)
        if isinstance(command, sp.AgreePlan):
            sealed = self.seal(command.youth_id, [goal.goal for goal in command.goals])
            goals = None if sealed is None else {g.goal_id: text for g, text in zip(command.goals, sealed)}
            return self._record(work, youth, case, decisions.agree_plan(state, command, sender.agency, today,
                                                                        goals), sender)  # type: ignore[arg-type]
        if isinstance(command, sp.ReviewGoal):
            return self._record(work, youth, case, decisions.review_goal(state, command, sender.agency, today),
                                sender)
        if isinstance(command, sp.AnswerSocialPrescribingReferral):
            outcome = self._record(work, youth, case, decisions.answer(state, command, sender.agency), sender)
            if isinstance(outcome, Accepted) and command.decision == "accepted" and command.link_worker:
                outcome.notices.extend(decisions.caseload_notice(
                    command.link_worker, self.caseload(sender.agency, command.link_worker), self.caseload_threshold))
            return outcome
        if isinstance(command, sp.PrescribeActivity):
            if work.get(prescription_key_id(command.prescription_id)) is not None:
                return Rejected(decisions.refuse("data.prescription_id", "duplicate", "this prescription id is taken"))
            found = self.directory(command.activity_id)
            places, first = self._places(work, command.activity_id, found)
            decided = decisions.prescribe(state, places, found[0] if found else None, command, sender.agency,
                                          today)
            outcome = self._record_both(work, youth, case, command.activity_id, first, decided, sender)
            if isinstance(outcome, Accepted):
                work.add(PrescriptionKey(prescription_id=command.prescription_id, youth_id=command.youth_id))
            return outcome
        if isinstance(command, sp.EndPrescription):
            decided = decisions.end(state, command, sender.agency, today)
            if isinstance(decided, list):
                return Rejected(decided)
            activity = decided[1][0].activity_id
            _, first = self._places(work, activity, self.directory(activity))
            return self._record_both(work, youth, case, activity, first, decided, sender)
        raise TypeError(f"social prescribing has no handler for {command.type_name}")

    @staticmethod
    def _places(work: Work, activity_id: str, found) -> tuple[Places, list[sp.Event]]:
        """The activity's places, and the events its history starts with if the service keeps its
        places from now on (the directory's figures: nothing is recorded unless the command is)."""
        history = work.get(places_id(activity_id))
        if history is not None:
            return history.state, []
        if found is None or found[1] is None:
            return Places(), []
        first = sp.ActivityPlacesSet(activity_id=activity_id, available=found[1], maximum=found[2])
        return Places(available=found[1], maximum=found[2]), [first]

    def _attend(self, work: Work, command: sp.RecordAttendance, sender: Sender, now: datetime) -> Accepted | Rejected:
        """Answered by the prescription id only: the provider's receipt names no youth."""
        key = work.get(prescription_key_id(command.prescription_id))
        case = work.get(uuid.UUID(key.youth_id)) if key is not None else None
        found = self.directory(command.activity_id)
        decided = decisions.attend(case.state if case else None, command, key.youth_id if key else None,
                                   found[0] if found else None, sender.agency, self.today_of(sender.agency, now))
        if decided and isinstance(decided[0], Reason):
            return Rejected(decided)  # type: ignore[arg-type]
        if decided[0].by == "link_worker":  # the youth's agency: while the youth's consent lets it  # type: ignore[union-attr]
            refused = consent.access_refusal(self.may_access, key.youth_id, sender.agency, now)  # type: ignore[union-attr]
            if refused:
                return Rejected(refused)
        return Accepted(work.record(case, decided, sender), command.prescription_id)

    def _set_places(self, work: Work, command: sp.SetActivityPlaces, sender: Sender, now: datetime
                    ) -> Accepted | Rejected:
        found = self.directory(command.activity_id)
        decided = decisions.set_places(command, found[0] if found else None, sender.agency)
        if decided and isinstance(decided[0], Reason):
            return Rejected(decided)  # type: ignore[arg-type]
        key = places_id(command.activity_id)
        history = work.get(key)
        ids = work.record(history, decided, sender) if history else work.start(ActivityPlaces, key, decided, sender)
        self._give_freed_places(work, work.get(key), command.activity_id, sender)
        return Accepted(ids, str(key))

    @staticmethod
    def _record(work: Work, youth: uuid.UUID, case, decided, sender: Sender) -> Accepted | Rejected:
        if decided and isinstance(decided[0], Reason):
            return Rejected(decided)
        ids = work.record(case, decided, sender) if case else work.start(YouthCase, youth, decided, sender)
        return Accepted(ids, str(youth))

    def _record_both(self, work: Work, youth: uuid.UUID, case, activity_id: str, first: list[sp.Event],
                     decided, sender: Sender) -> Accepted | Rejected:
        if isinstance(decided, list):
            return Rejected(decided)
        youth_events, activity_events = decided
        ids = self._record(work, youth, case, youth_events, sender).event_ids  # type: ignore[union-attr]
        key = places_id(activity_id)
        history = work.get(key)
        if history is not None:
            ids += work.record(history, activity_events, sender)
        else:  # the service keeps the activity's places from now on
            ids += work.start(ActivityPlaces, key, [*first, *activity_events], sender)
            history = work.get(key)
        self._give_freed_places(work, history, activity_id, sender)
        return Accepted(ids, str(youth))

    @staticmethod
    def _give_freed_places(work: Work, places: ActivityPlaces, activity_id: str, sender: Sender) -> None:
        """A place free while youths wait goes to the first of them: the activity records it taken,
        that youth's case records it given (on their path, and their link worker sees it)."""
        for prescription_id in decisions.first_in_line(places.state):
            key = work.get(prescription_key_id(prescription_id))
            case = work.get(uuid.UUID(key.youth_id)) if key is not None else None
            if case is None:
                continue
            work.record(places, [sp.PlaceTaken(activity_id=activity_id, prescription_id=prescription_id)], sender)
            work.record(case, [sp.WaitlistPlaceGiven(youth_id=key.youth_id, prescription_id=prescription_id,
                                                     activity_id=activity_id)], sender)
