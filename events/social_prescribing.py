"""Social prescribing bounded context: a referral in (received, accepted with a link worker, or
declined with a reason), prescriptions of activities from the directory against their places
(a place, or the waitlist with its position), the end of a prescription (completed, dropped out,
withdrawn), and the places an activity's provider says it has.

Events about a youth are recorded on the youth's social prescribing case (their CloudEvent subject
is the youth's pseudonym); events about an activity's places name prescriptions only by their own
ids, never a youth, so the activity's history shows its places and nothing of who holds them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from events.base import Message
from events.bounds import Day, Instant
from events.intake import AgencyCode, LocalId, OperatorRef, Part, ShortText, YouthId

ActivityId = Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
                                  description="The activity's id in the directory (its HSDS service id).")]
Places = Annotated[int, Field(ge=0, le=10_000)]
Ending = Literal["completed", "dropped_out", "withdrawn"]


class Command(Message):
    kind = "command"
    context = "social_prescribing"


class Event(Message):
    kind = "event"
    context = "social_prescribing"


class ReferToSocialPrescribing(Command):
    type_name = "kit.social_prescribing.refer.v1"
    summary = "Refer a youth to an agency's social prescribing (the sender is the referrer)."

    youth_id: YouthId
    referral_id: LocalId
    to_agency: AgencyCode
    birth_year: int = Field(ge=1990, le=2015, description="For the activities' age rules (15-30 at referral).")
    reason: ShortText


class SocialPrescribingReferralReceived(Event):
    type_name = "kit.social_prescribing.referral_received.v1"
    summary = "A referral to social prescribing was received."

    youth_id: YouthId
    referral_id: LocalId
    from_agency: AgencyCode
    to_agency: AgencyCode
    birth_year: int
    reason: str


class AnswerSocialPrescribingReferral(Command):
    type_name = "kit.social_prescribing.answer_referral.v1"
    summary = "The receiving agency accepts a referral, naming the link worker, or declines it with a reason."

    youth_id: YouthId
    referral_id: LocalId
    decision: Literal["accepted", "declined"]
    link_worker: OperatorRef | None = Field(default=None, description="Required to accept.")
    reason: ShortText | None = Field(default=None, description="Required to decline.")


class SocialPrescribingReferralAccepted(Event):
    type_name = "kit.social_prescribing.referral_accepted.v1"
    summary = "A referral to social prescribing was accepted and a link worker assigned."

    youth_id: YouthId
    referral_id: LocalId
    link_worker: str


class SocialPrescribingReferralDeclined(Event):
    type_name = "kit.social_prescribing.referral_declined.v1"
    summary = "A referral to social prescribing was declined, with the reason."

    youth_id: YouthId
    referral_id: LocalId
    reason: str


class SetActivityPlaces(Command):
    type_name = "kit.social_prescribing.set_activity_places.v1"
    summary = "Say how many places an activity has free now, and at most (from its provider or the agency)."

    activity_id: ActivityId
    available: Places
    maximum: Places | None = None


class ActivityPlacesSet(Event):
    type_name = "kit.social_prescribing.activity_places_set.v1"
    summary = "An activity's places were set by its provider or the agency."

    activity_id: ActivityId
    available: int
    maximum: int | None


class PrescribeActivity(Command):
    type_name = "kit.social_prescribing.prescribe_activity.v1"
    summary = "Prescribe an activity of the directory to a youth whose referral the agency accepted."

    youth_id: YouthId
    prescription_id: LocalId
    activity_id: ActivityId


class ActivityPrescribed(Event):
    type_name = "kit.social_prescribing.activity_prescribed.v1"
    summary = "An activity was prescribed: with a place, or on its waitlist (position, expected wait)."

    youth_id: YouthId
    prescription_id: LocalId
    activity_id: ActivityId
    placed: bool
    waitlist_position: int | None = None
    expected_wait_days: int | None = Field(default=None, description="From the activity's own past stays; none"
                                           " while it has too few.")


class PlaceTaken(Event):
    type_name = "kit.social_prescribing.place_taken.v1"
    summary = "A prescription took one of the activity's places."

    activity_id: ActivityId
    prescription_id: LocalId


class WaitlistJoined(Event):
    type_name = "kit.social_prescribing.waitlist_joined.v1"
    summary = "A prescription joined the activity's waitlist."

    activity_id: ActivityId
    prescription_id: LocalId
    position: int


class EndPrescription(Command):
    type_name = "kit.social_prescribing.end_prescription.v1"
    summary = "End a prescription: completed, dropped out (reason required) or withdrawn from the waitlist."

    youth_id: YouthId
    prescription_id: LocalId
    ending: Ending
    reason: ShortText | None = None


class PrescriptionEnded(Event):
    type_name = "kit.social_prescribing.prescription_ended.v1"
    summary = "A prescription ended: completed, dropped out or withdrawn."

    youth_id: YouthId
    prescription_id: LocalId
    activity_id: ActivityId
    ending: Ending
    reason: str | None = None
    days: int = Field(description="Days from the prescription to its end.")
    sessions_attended: int = Field(default=0, description="Sessions the youth came to (the outcome the referrer sees).")
    sessions_recorded: int = Field(default=0, description="Sessions whose attendance was recorded.")


class PlaceFreed(Event):
    type_name = "kit.social_prescribing.place_freed.v1"
    summary = "A prescription gave its place back (completed or dropped out), or left the waitlist."

    activity_id: ActivityId
    prescription_id: LocalId
    held_place: bool
    days: int



class RecordAttendance(Command):
    type_name = "kit.social_prescribing.record_attendance.v1"
    summary = ("Record whether a participant came to a session: from the activity's provider (who knows the"
               " participant only by the prescription id) or the youth's link worker.")

    activity_id: ActivityId
    prescription_id: LocalId = Field(description="The participant's code: the prescription id, never the youth's.")
    session_on: Day
    present: bool


class AttendanceRecorded(Event):
    type_name = "kit.social_prescribing.attendance_recorded.v1"
    summary = "A participant's attendance at a session was recorded (by the provider or the link worker)."

    youth_id: YouthId
    prescription_id: LocalId
    activity_id: ActivityId
    session_on: Day
    present: bool
    by: Literal["provider", "link_worker"]
    first_attendance: bool = Field(default=False, description="The youth's first session attended of any activity.")
    days_from_referral: int | None = Field(default=None, description="On the first attendance: days since the"
                                           " referral was received (the time to first activity attended).")


class RecordWellbeing(Command):
    classification = "special-category"
    need_to_know = "wellbeing.read"
    type_name = "kit.social_prescribing.record_wellbeing.v1"
    summary = "Record a youth's answers to a wellbeing questionnaire (ONS4 or a licensed plug-in): baseline, then follow-ups."

    youth_id: YouthId
    questionnaire_id: LocalId
    instrument: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="e.g. ons4")
    version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,16}$", description="e.g. 1")
    occasion: Literal["baseline", "follow_up"]
    taken_on: Day
    answers: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")], int] = Field(
        max_length=50, description="item id -> answer (a whole number in the item's range)")


class WellbeingRecorded(Event):
    type_name = "kit.social_prescribing.wellbeing_recorded.v1"
    summary = "A wellbeing questionnaire was scored; a follow-up carries its change from the baseline."
    classification = "special-category"  # health data (GDPR art. 9): withheld from roles without need to know
    need_to_know = "wellbeing.read"

    youth_id: YouthId
    questionnaire_id: LocalId
    instrument: str
    version: str
    occasion: Literal["baseline", "follow_up"]
    taken_on: Day
    answers: dict[str, int]
    bands: dict[str, str] = Field(default_factory=dict)
    raw_total: int | None = None
    total: float | None = None
    change: dict[str, int] | None = Field(default=None, description="Follow-up minus baseline, per item.")
    change_direction: dict[str, str] | None = Field(default=None, description="improved, worsened or no_change.")
    total_change: float | None = None


class WaitlistPlaceGiven(Event):
    type_name = "kit.social_prescribing.waitlist_place_given.v1"
    summary = "A place freed in the activity went to the youth first on its waitlist."

    youth_id: YouthId
    prescription_id: LocalId
    activity_id: ActivityId


class RecordLinkWorkerContact(Command):
    type_name = "kit.social_prescribing.record_contact.v1"
    summary = "Record a link worker's contact with the youth (6 to 12 are typical over a social prescription)."

    youth_id: YouthId
    contact_id: LocalId
    channel: Literal["in_person", "phone", "video", "messaging", "accompanied_to_activity"]
    outcome: Literal["reached", "not_reached", "rescheduled"]
    occurred_at: Instant


class LinkWorkerContactRecorded(Event):
    type_name = "kit.social_prescribing.contact_recorded.v1"
    summary = "A link worker's contact with the youth was recorded."

    youth_id: YouthId
    contact_id: LocalId
    channel: str
    outcome: str
    occurred_at: Instant


# ---------------------------------------------------------------- the conversation and the plan

NeedArea = Literal["loneliness", "confidence", "mental_wellbeing", "physical_activity", "arts_and_culture",
                   "nature_and_outdoors", "learning_and_skills", "work_and_volunteering", "money",
                   "housing", "relationships_and_family", "health_services", "other"]
Words = Annotated[str, Field(min_length=1, max_length=4000, description="In the youth's own words; tab and newline"
                             " allowed, no other control character. Stored only encrypted with the youth's key.")]


class RecordWhatMatters(Command):
    """The "what matters to you" conversation: the areas it touched (coded, for the minimum dataset)
    and what the youth said matters, in their own words (personal data, encrypted with the youth's
    own vault key: erasing the youth erases it)."""

    type_name = "kit.social_prescribing.record_what_matters.v1"
    classification = "special-category"  # needs and goals may be about health
    need_to_know = "wellbeing.read"
    summary = "Record the \"what matters to you\" conversation: needs and concerns, in the youth's words."

    youth_id: YouthId
    conversation_id: LocalId
    conversation_on: Day
    needs: list[NeedArea] = Field(min_length=1, max_length=13, description="The areas the youth's needs and concerns"
                                  " are in (the minimum dataset's part 2).")
    in_their_words: Words


class WhatMattersRecorded(Event):
    """Only the coded areas in clear; the youth's words are ciphertext under the youth's own key."""

    type_name = "kit.social_prescribing.what_matters_recorded.v1"
    classification = "special-category"  # needs and goals may be about health
    need_to_know = "wellbeing.read"
    summary = "A \"what matters to you\" conversation was recorded (the youth's words encrypted with their key)."

    youth_id: YouthId
    conversation_id: LocalId
    conversation_on: Day
    needs: list[str]
    words_ciphertext: str = Field(description="AES-256-GCM under the youth's data key (kit.vault.encrypt_for), UTF-8.")


class PlanGoal(Part):
    goal_id: LocalId
    area: NeedArea
    goal: Annotated[str, Field(min_length=1, max_length=500, description="The goal as the youth put it; stored only"
                                                                         " encrypted with the youth's key.")]


class AgreedGoal(Part):
    goal_id: str
    area: str
    goal_ciphertext: str


class AgreePlan(Command):
    """The plan the youth and the link worker wrote together: its goals. A new plan replaces the
    previous one; a goal kept keeps its id (and its reviews)."""

    type_name = "kit.social_prescribing.agree_plan.v1"
    classification = "special-category"  # needs and goals may be about health
    need_to_know = "wellbeing.read"
    summary = "Record the plan co-produced with the youth: their goals (in their words, encrypted with their key)."

    youth_id: YouthId
    plan_id: LocalId
    agreed_on: Day
    goals: list[PlanGoal] = Field(min_length=1, max_length=10)
    review_on: Day | None = Field(default=None, description="When the link worker and the youth look at it again.")


class PlanAgreed(Event):
    type_name = "kit.social_prescribing.plan_agreed.v1"
    classification = "special-category"  # needs and goals may be about health
    need_to_know = "wellbeing.read"
    summary = "A plan with the youth's goals was agreed (each goal's words encrypted with the youth's key)."

    youth_id: YouthId
    plan_id: LocalId
    agreed_on: Day
    goals: list[AgreedGoal]
    review_on: Day | None = None


GoalProgress = Literal["not_started", "some_progress", "achieved", "no_longer_relevant"]


class ReviewGoal(Command):
    type_name = "kit.social_prescribing.review_goal.v1"
    summary = "Record how far the youth got with a goal of their plan (the outcome the referrer sees)."

    youth_id: YouthId
    goal_id: LocalId
    progress: GoalProgress
    reviewed_on: Day


class GoalReviewed(Event):
    type_name = "kit.social_prescribing.goal_reviewed.v1"
    classification = "special-category"  # its area may be about health
    need_to_know = "wellbeing.read"
    summary = "A goal of the youth's plan was reviewed."

    youth_id: YouthId
    goal_id: LocalId
    area: str
    progress: GoalProgress
    reviewed_on: Day
