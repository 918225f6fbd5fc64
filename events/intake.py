"""Intake bounded context: engagement, registration, consent, assessment, Project of Life,
referrals, keep-in-touch, closure and follow-up.

Commands are what partners (ingest) and operators (HTTP) send; events are what the intake
service records and publishes. No message carries identity in clear: names, birth dates,
contacts and national ids travel only sealed for the platform's vault (`sealed_identity`) and
are stored only encrypted with the youth's own key (`IdentityRecorded`).
Vocabularies: FHIR Task.status for referrals, FHIR Goal lifecycle/achievement for goals.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from events.base import Message
from events.bounds import Day, Instant, plain_text

CASE_REF_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
REGION_PATTERN = r"^(IT|CH)-[A-Z0-9]{1,3}$"
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
AGENCY_CODE_PATTERN = r"^[a-z0-9][a-z0-9-]{1,39}$"
SEALED_PATTERN = r"^v1\.[A-Za-z0-9_=-]{40,20000}$"

YouthId = Annotated[str, Field(pattern=UUID_PATTERN, description="Platform pseudonym of the youth (UUID).")]
LocalId = Annotated[str, Field(pattern=UUID_PATTERN, description="A UUID chosen by the sender (idempotent re-sends).")]
AgencyCode = Annotated[str, Field(pattern=AGENCY_CODE_PATTERN)]
OperatorRef = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$", description="Pseudonymous operator id or username.")]
ShortText = Annotated[str, Field(min_length=1, max_length=200, description="Short text; never names or identifiers of the youth.")]
Sealed = Annotated[str, Field(pattern=SEALED_PATTERN, description="Identity sealed for the platform vault (kit.vault.seal with the platform's ingest public key).")]

Purpose = Literal["case_management", "sharing", "family_contact", "observatory_statistics"]
LegalBasis = Literal["consent", "legal_obligation", "public_task", "vital_interest"]
GoalLifecycle = Literal["proposed", "planned", "accepted", "active", "on-hold", "completed", "cancelled", "rejected"]
GoalAchievement = Literal["in-progress", "improving", "worsening", "no-change", "achieved", "sustaining",
                          "not-achieved", "no-progress", "not-attainable"]
ReferralStatus = Literal["requested", "accepted", "rejected", "in-progress", "completed", "failed", "cancelled"]


class Part(BaseModel):
    """A nested value object of a message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _plain_text(cls, value):
        return plain_text(value)


class Command(Message):
    kind = "command"
    context = "intake"
    from_partners: ClassVar[bool] = True  # False: issued by the platform itself (scheduler)


class Event(Message):
    kind = "event"
    context = "intake"


# ---------------------------------------------------------------- value objects

class Territory(Part):
    country: Literal["IT", "CH"]
    municipality: str = Field(min_length=1, max_length=80, description="e.g. Milano, Lugano.")
    district: str | None = Field(default=None, max_length=80, description="e.g. Municipio 7.")
    canton: str | None = Field(default=None, pattern=r"^CH-[A-Z]{2}$", description="Swiss canton, e.g. CH-TI.")


class ConsentTerms(Part):
    consent_id: LocalId
    purpose: Purpose
    recipient: str | None = Field(default=None, pattern=r"^([a-z0-9][a-z0-9-]{1,39}|category:[a-z_]{2,40})$",
                                  description="Agency code or `category:<agency type>`; none = the recording agency.")
    legal_basis: LegalBasis
    given_by: Literal["youth", "guardian"]
    notice_version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,32}$", description="Privacy notice version shown.")
    given_at: Instant
    expires_at: Instant | None = None


class Identity(Part):
    """What the vault holds (only ever sealed or encrypted; never in an event in clear)."""

    given_names: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    birth_date: Day | None = None
    sex: Literal["female", "male", "other", "unknown"] = "unknown"
    municipality: str | None = Field(default=None, max_length=80)
    region: str | None = Field(default=None, pattern=REGION_PATTERN)
    country: Literal["IT", "CH"] | None = None
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=120)
    national_id_scheme: Literal["IT-CF", "CH-AHV"] | None = None
    national_id: str | None = Field(default=None, max_length=32)


class Vulnerabilities(Part):
    socio_economic: bool = False
    disability: bool = False
    psycho_social: bool = False
    migration_background: bool = False


class Milestone(Part):
    milestone_id: LocalId
    description: ShortText
    due: Day
    done: bool = False


class Goal(Part):
    goal_id: LocalId
    description: ShortText
    category: Literal["employment", "education", "training", "wellbeing", "housing", "social", "other"]
    lifecycle_status: GoalLifecycle = "proposed"
    achievement_status: GoalAchievement | None = None
    milestones: list[Milestone] = Field(default_factory=list, max_length=20)


class FollowUp(Part):
    checkpoint_months: int = Field(ge=1, le=60)
    due_on: Day


# ---------------------------------------------------------------- engagement (before intake)

class RecordOutreachContact(Command):
    """An outreach contact with a young person known only by a nickname or anonymous handle."""

    type_name = "kit.intake.record_outreach_contact.v1"
    summary = "Record an outreach contact under a nickname/handle (no identity before consent)."

    handle: str = Field(pattern=r"^[\w .'-]{1,40}$", description="Nickname or anonymous handle, unique within the agency.")
    place_type: Literal["street", "youth_centre", "school", "online", "other"]
    territory: Territory
    channel: Literal["in_person", "phone", "messaging", "social_media", "email", "other"]
    outcome: Literal["first_contact", "conversation", "hooked", "declined", "referred_to_service", "no_contact"]
    occurred_at: Instant


class OutreachContactRecorded(Event):
    type_name = "kit.intake.outreach_contact_recorded.v1"
    summary = "An outreach contact was recorded; the subject is the engagement id (a keyed pseudonym of the handle)."

    engagement_id: YouthId
    agency: AgencyCode
    handle_ciphertext: str = Field(description="The nickname, encrypted with the engagement's own vault key.")
    place_type: str
    territory: Territory
    channel: str
    outcome: str
    occurred_at: Instant


class EngagementLinked(Event):
    type_name = "kit.intake.engagement_linked.v1"
    summary = "An engagement history was linked to the youth who registered."

    engagement_id: YouthId
    youth_id: YouthId


# ---------------------------------------------------------------- registration and identity

class RegisterYouth(Command):
    """A partner asks the platform to register a youth it has taken in charge.

    Clear fields carry no identity: the agency's opaque case reference, the birth year and the
    region. Identity goes sealed for the vault. At least one consent (or other legal basis) for
    the registering agency's case management must come with it.
    """

    type_name = "kit.intake.register_youth.v1"
    summary = "Register a youth taken in charge by the publishing agency."

    partner_case_ref: str = Field(pattern=CASE_REF_PATTERN, description="The agency's own opaque case reference (never a name or a national id).")
    birth_year: int = Field(ge=1990, le=2030, description="Year of birth (age checks, 15-30).")
    country: Literal["IT", "CH"]
    region: str = Field(pattern=REGION_PATTERN, description="ISO 3166-2 region or canton, e.g. IT-25 (Lombardia), CH-TI.")
    sealed_identity: Sealed | None = None
    engagement_handle: str | None = Field(default=None, pattern=r"^[\w .'-]{1,40}$",
                                          description="Link the outreach history recorded under this handle.")
    consents: list[ConsentTerms] = Field(default_factory=list, max_length=10)
    path_started_at: Instant | None = Field(
        default=None, description="When the agency's work with the youth began (the first meeting), if before this "
                                  "registration; at most two years back. Contacts, reviews and the exit may be dated "
                                  "from then on. None: from the registration (or the linked outreach history).")


class YouthRegistered(Event):
    """A youth was registered; `youth_id` is the platform pseudonym and the CloudEvent subject."""

    type_name = "kit.intake.youth_registered.v1"
    summary = "A youth was registered by an agency."

    youth_id: str = Field(description="Platform pseudonym (UUID).")
    registering_agency: str
    partner_case_ref: str = Field(pattern=CASE_REF_PATTERN)
    birth_year: int
    country: Literal["IT", "CH"]
    region: str = Field(pattern=REGION_PATTERN)
    engagement_id: str | None = Field(default=None, description="The linked engagement history, if any.")
    first_contact_at: Instant | None = Field(
        default=None, description="Start of the path: the first outreach contact, or the first meeting the registering "
                                  "agency declared (path_started_at), whichever came first.")


class AgencyJoined(Event):
    type_name = "kit.intake.agency_joined.v1"
    summary = "A second agency registered the same person (matched by national id) and joined the youth's case."

    youth_id: YouthId
    agency: AgencyCode
    partner_case_ref: str = Field(pattern=CASE_REF_PATTERN)
    matched_by: Literal["national_id", "merge"]


class RecordIdentity(Command):
    type_name = "kit.intake.record_identity.v1"
    summary = "Correct or complete the youth's identity in the vault."

    youth_id: YouthId
    sealed_identity: Sealed


class IdentityRecorded(Event):
    """Only ciphertext under the youth's own key: erasing the key erases the identity."""

    type_name = "kit.intake.identity_recorded.v1"
    classification = "personal"
    summary = "Identity (encrypted with the youth's key) was stored in the vault."

    youth_id: YouthId
    person_id: YouthId = Field(description="The youth id, or the related person's id.")
    ciphertext: str = Field(description="AES-256-GCM under the youth's data key (kit.vault.encrypt_for).")


class MergeYouths(Command):
    type_name = "kit.intake.merge_youths.v1"
    summary = "Merge a duplicate youth record into another (authorised roles only; audited)."

    youth_id: YouthId = Field(description="The record that stays.")
    duplicate_youth_id: YouthId
    reason: ShortText


class YouthMerged(Event):
    type_name = "kit.intake.youth_merged.v1"
    summary = "This youth record was merged into another; use `merged_into` from now on."

    youth_id: YouthId
    merged_into: YouthId
    reason: str
    by_agency: AgencyCode


# ---------------------------------------------------------------- consent

class RecordConsent(Command):
    type_name = "kit.intake.record_consent.v1"
    summary = "Record a consent (or other legal basis) for a purpose and recipient."

    youth_id: YouthId
    consent: ConsentTerms


class ConsentRecorded(Event):
    type_name = "kit.intake.consent_recorded.v1"
    summary = "A consent was recorded (immutable: corrections invalidate it and record a new one)."

    youth_id: YouthId
    consent: ConsentTerms
    recorded_by: AgencyCode


class WithdrawConsent(Command):
    type_name = "kit.intake.withdraw_consent.v1"
    summary = "The youth (or guardian) withdraws a consent; effective everywhere from `withdrawn_at`."

    youth_id: YouthId
    consent_id: LocalId
    withdrawn_at: Instant | None = Field(default=None, description="Defaults to when the platform records it.")


class ConsentWithdrawn(Event):
    type_name = "kit.intake.consent_withdrawn.v1"
    summary = "A consent was withdrawn."

    youth_id: YouthId
    consent_id: LocalId
    withdrawn_at: Instant


class InvalidateConsent(Command):
    type_name = "kit.intake.invalidate_consent.v1"
    summary = "Mark a consent record as recorded in error (record the right one anew)."

    youth_id: YouthId
    consent_id: LocalId
    reason: ShortText


class ConsentInvalidated(Event):
    type_name = "kit.intake.consent_invalidated.v1"
    summary = "A consent record was invalidated as recorded in error."

    youth_id: YouthId
    consent_id: LocalId
    reason: str
    invalidated_at: Instant


class OverrideConsent(Command):
    type_name = "kit.intake.override_consent.v1"
    summary = "Let an agency see the youth for a purpose without consent (permission and reason required; audited)."

    youth_id: YouthId
    agency: AgencyCode = Field(description="The agency the override lets see the youth.")
    purpose: Purpose
    reason: str = Field(min_length=10, max_length=500)
    expires_at: Instant


class ConsentOverridden(Event):
    type_name = "kit.intake.consent_overridden.v1"
    summary = "A consent override was recorded by an operator holding the permission."

    youth_id: YouthId
    agency: AgencyCode
    purpose: Purpose
    reason: str
    expires_at: Instant
    overridden_at: Instant
    by_agency: AgencyCode
    by_role: str
    by_actor: str | None = Field(default=None, description="The operator who recorded it (pseudonymous id).")


# ---------------------------------------------------------------- assessment (presa in carico)

class AssessYouth(Command):
    type_name = "kit.intake.assess_youth.v1"
    summary = "Intake assessment: NEET status, education, vulnerabilities, family, aspirations; opens the case."

    youth_id: YouthId
    neet_status: Literal["neet", "in_education", "in_training", "employed"]
    neet_since: Day | None = None
    education_level: Literal["none", "primary", "lower_secondary", "upper_secondary", "post_secondary", "tertiary"]
    vulnerabilities: Vulnerabilities = Vulnerabilities()
    family_context: Literal["with_parents", "single_parent", "alone", "with_partner", "own_children",
                            "care_leaver", "other"]
    aspirations: list[Literal["work", "study", "training", "volunteering", "own_business", "undecided"]] = Field(
        default_factory=list, max_length=6)
    lead_agency: AgencyCode
    key_worker: OperatorRef


class YouthAssessed(Event):
    type_name = "kit.intake.youth_assessed.v1"
    summary = "The intake assessment was recorded (without special-category data)."

    youth_id: YouthId
    neet_status: str
    neet_since: Day | None
    education_level: str
    family_context: str
    aspirations: list[str]


class VulnerabilitiesAssessed(Event):
    type_name = "kit.intake.vulnerabilities_assessed.v1"
    classification = "special-category"
    summary = "Vulnerability dimensions (GDPR art. 9): readable only by roles with need to know."

    youth_id: YouthId
    vulnerabilities: Vulnerabilities


class CaseOpened(Event):
    type_name = "kit.intake.case_opened.v1"
    summary = "The case was opened (or its lead agency / key worker changed)."

    youth_id: YouthId
    lead_agency: AgencyCode
    key_worker: OperatorRef


# ---------------------------------------------------------------- Project of Life (FHIR CarePlan/Goal)

class AgreeProjectOfLife(Command):
    type_name = "kit.intake.agree_project_of_life.v1"
    summary = "Agree the Project of Life, or a revision of it (`based_on_version` = the version revised, 0 for the first)."

    youth_id: YouthId
    based_on_version: int = Field(ge=0)
    goals: list[Goal] = Field(min_length=1, max_length=20)
    next_review_due: Day
    agreed_by_youth: bool
    agreed_by_guardian: bool = False


class ProjectOfLifeAgreed(Event):
    type_name = "kit.intake.project_of_life_agreed.v1"
    summary = "A version of the Project of Life was agreed; earlier versions stay in the history."

    youth_id: YouthId
    version: int
    goals: list[Goal]
    next_review_due: Day
    agreed_by_youth: bool
    agreed_by_guardian: bool


class UpdateGoal(Command):
    type_name = "kit.intake.update_goal.v1"
    summary = "Change a goal's lifecycle or achievement status."

    youth_id: YouthId
    goal_id: LocalId
    lifecycle_status: GoalLifecycle
    achievement_status: GoalAchievement | None = None


class GoalUpdated(Event):
    type_name = "kit.intake.goal_updated.v1"
    summary = "A goal's status changed."

    youth_id: YouthId
    project_version: int
    goal_id: LocalId
    lifecycle_status: GoalLifecycle
    achievement_status: GoalAchievement | None


class RecordProjectReview(Command):
    type_name = "kit.intake.record_project_review.v1"
    summary = "Record a scheduled review of the Project of Life and set the next one."

    youth_id: YouthId
    held_on: Day
    outcome: Literal["on_track", "needs_revision", "paused"]
    next_review_due: Day


class ProjectReviewRecorded(Event):
    type_name = "kit.intake.project_review_recorded.v1"
    summary = "A Project of Life review was held."

    youth_id: YouthId
    project_version: int
    held_on: Day
    outcome: str
    next_review_due: Day


# ---------------------------------------------------------------- referrals and transfers (FHIR Task)

class RequestReferral(Command):
    type_name = "kit.intake.request_referral.v1"
    summary = "Refer the youth to another agency's service, optionally transferring the lead role."

    youth_id: YouthId
    referral_id: LocalId
    to_agency: AgencyCode
    service: Literal["social_prescribing", "ips_placement", "training", "partner_service"]
    reason: ShortText
    transfer_lead: bool = False


class ReferralRequested(Event):
    type_name = "kit.intake.referral_requested.v1"
    summary = "A referral was requested (consent to share with the receiver checked)."

    youth_id: YouthId
    referral_id: LocalId
    from_agency: AgencyCode
    to_agency: AgencyCode
    service: str
    reason: str
    transfer_lead: bool
    basis: str = Field(description="`consent:<id>` or `override`: why sharing was allowed.")


class RespondToReferral(Command):
    type_name = "kit.intake.respond_to_referral.v1"
    summary = "The receiving agency accepts or rejects (reason required) a referral."

    youth_id: YouthId
    referral_id: LocalId
    decision: Literal["accepted", "rejected"]
    reason: ShortText | None = None


class UpdateReferral(Command):
    type_name = "kit.intake.update_referral.v1"
    summary = "The receiving agency reports progress: in-progress, completed or failed (closed-loop feedback)."

    youth_id: YouthId
    referral_id: LocalId
    status: Literal["in-progress", "completed", "failed"]
    outcome: ShortText | None = None


class CancelReferral(Command):
    type_name = "kit.intake.cancel_referral.v1"
    summary = "The referring agency cancels a referral not yet finished."

    youth_id: YouthId
    referral_id: LocalId
    reason: ShortText


class ReferralStatusChanged(Event):
    type_name = "kit.intake.referral_status_changed.v1"
    summary = "A referral moved to a new FHIR Task status; both agencies are told (closed loop)."

    youth_id: YouthId
    referral_id: LocalId
    from_agency: AgencyCode
    to_agency: AgencyCode
    previous_status: ReferralStatus
    status: ReferralStatus
    note: str | None = None
    by_agency: AgencyCode


class LeadTransferred(Event):
    type_name = "kit.intake.lead_transferred.v1"
    summary = "The lead role passed to the agency that accepted a transfer."

    youth_id: YouthId
    from_agency: AgencyCode | None
    to_agency: AgencyCode
    referral_id: LocalId


# ---------------------------------------------------------------- keep in touch

class LogContact(Command):
    type_name = "kit.intake.log_contact.v1"
    summary = "Log a contact with the youth (or a family meeting)."

    youth_id: YouthId
    contact_id: LocalId
    contact_type: Literal["meeting", "phone_call", "message", "home_visit", "family_meeting", "group_activity"]
    channel: Literal["in_person", "phone", "video", "messaging", "email", "social_media"]
    outcome: Literal["reached", "not_reached", "rescheduled"]
    occurred_at: Instant
    related_person_ids: list[LocalId] = Field(default_factory=list, max_length=10)


class ContactLogged(Event):
    type_name = "kit.intake.contact_logged.v1"
    summary = "A contact with the youth was logged by an involved agency."

    youth_id: YouthId
    contact_id: LocalId
    agency: AgencyCode
    contact_type: str
    channel: str
    outcome: str
    occurred_at: Instant
    related_person_ids: list[str]


class SetContactCadence(Command):
    type_name = "kit.intake.set_contact_cadence.v1"
    summary = "Set how often the youth should be contacted and after how many days without contact to alert."

    youth_id: YouthId
    every_days: int = Field(ge=1, le=180)
    lost_after_days: int | None = Field(default=None, ge=1, le=365, description="Default: the platform setting (30).")


class ContactCadenceSet(Event):
    type_name = "kit.intake.contact_cadence_set.v1"
    summary = "The contact cadence changed."

    youth_id: YouthId
    every_days: int
    lost_after_days: int


class FlagLostContact(Command):
    type_name = "kit.intake.flag_lost_contact.v1"
    summary = "Issued by the platform's scheduler: check whether contact has been lost."
    from_partners = False

    youth_id: YouthId


class ContactLost(Event):
    type_name = "kit.intake.contact_lost.v1"
    summary = "Alert to the key worker: no successful contact for the configured number of days."

    youth_id: YouthId
    last_contact_at: Instant
    days_without_contact: int
    lead_agency: AgencyCode | None
    key_worker: str | None


class YouthReengaged(Event):
    type_name = "kit.intake.youth_reengaged.v1"
    summary = "Contact was re-established after it had been lost."

    youth_id: YouthId
    contact_id: LocalId
    agency: AgencyCode
    days_without_contact: int


class AddRelatedPerson(Command):
    type_name = "kit.intake.add_related_person.v1"
    summary = "Add a family member (related person) with their own consent to be contacted."

    youth_id: YouthId
    related_person_id: LocalId
    relationship: Literal["parent", "guardian", "sibling", "partner", "other_relative", "other"]
    sealed_identity: Sealed | None = None
    consents_to_contact: bool


class RelatedPersonAdded(Event):
    type_name = "kit.intake.related_person_added.v1"
    summary = "A related person was added (their identity, if any, is in the vault)."

    youth_id: YouthId
    related_person_id: LocalId
    relationship: str
    consents_to_contact: bool


class RecordRelatedPersonConsent(Command):
    type_name = "kit.intake.record_related_person_consent.v1"
    summary = "A related person gives or withdraws consent to be contacted."

    youth_id: YouthId
    related_person_id: LocalId
    consents_to_contact: bool


class RelatedPersonConsentChanged(Event):
    type_name = "kit.intake.related_person_consent_changed.v1"
    summary = "A related person's consent to be contacted changed."

    youth_id: YouthId
    related_person_id: LocalId
    consents_to_contact: bool


# ---------------------------------------------------------------- case notes

class AddCaseNote(Command):
    """A short note on the youth's case by an operator ("asked to be called back on Monday").

    The text is personal data: the platform stores it only encrypted with the youth's own vault
    key, so it is erased with the youth (crypto-shredding)."""

    type_name = "kit.intake.add_case_note.v1"
    classification = "personal"
    summary = "Add a short note to the youth's case (stored only encrypted with the youth's key)."

    youth_id: YouthId
    note_id: LocalId
    text: str = Field(min_length=1, max_length=2000, description="The note; tab and newline allowed, no other "
                                                                 "control character.")


class CaseNoteAdded(Event):
    """Only ciphertext under the youth's own key: erasing the key erases the note."""

    type_name = "kit.intake.case_note_added.v1"
    classification = "personal"
    summary = "A case note (encrypted with the youth's key) was added; who and which agency are in the envelope."

    youth_id: YouthId
    note_id: LocalId
    ciphertext: str = Field(description="AES-256-GCM under the youth's data key (kit.vault.encrypt_for), UTF-8 text.")


# ---------------------------------------------------------------- erasure and restriction (GDPR art. 17/18, nFADP)

class EraseYouth(Command):
    type_name = "kit.intake.erase_youth.v1"
    summary = "Erase the youth's personal data (crypto-shredding), or restrict its processing where a legal duty keeps it."

    youth_id: YouthId
    mode: Literal["erasure", "restriction"]
    legal_reason: ShortText


class ApplyRetention(Command):
    type_name = "kit.intake.apply_retention.v1"
    summary = ("Issued by the platform's scheduler: schedule the erasure of a closed case whose retention period has "
               "ended, and run it on the day scheduled unless an agency admin stopped it.")
    from_partners = False

    youth_id: YouthId


class ErasureScheduled(Event):
    type_name = "kit.intake.erasure_scheduled.v1"
    summary = ("The retention period of a closed case has ended: its erasure is scheduled, visible to the agencies "
               "in the path, and an agency admin may stop it before it runs.")

    youth_id: YouthId
    scheduled_for: Day = Field(description="The day the erasure runs unless it is stopped.")
    legal_reason: str


class CancelScheduledErasure(Command):
    type_name = "kit.intake.cancel_scheduled_erasure.v1"
    summary = ("Stop a scheduled retention erasure (agency admin; the reason is audited). The record is then kept "
               "until an erasure is requested explicitly.")

    youth_id: YouthId
    reason: ShortText


class ScheduledErasureCancelled(Event):
    type_name = "kit.intake.scheduled_erasure_cancelled.v1"
    summary = "A scheduled retention erasure was stopped by an agency admin: the record is kept."

    youth_id: YouthId
    by_agency: str
    reason: str
    cancelled_at: Instant


class YouthErased(Event):
    type_name = "kit.intake.youth_erased.v1"
    summary = "The youth's vault keys were destroyed: every copy of their personal data is unreadable; views purge it."

    youth_id: YouthId
    erased_at: Instant
    by_agency: str
    legal_reason: str
    keys_destroyed: list[str] = Field(description="Owners whose keys were destroyed: the youth and linked engagements.")


class ProcessingRestricted(Event):
    type_name = "kit.intake.processing_restricted.v1"
    summary = "Processing of the youth's data is restricted: kept, shown to no one, changed by no one."

    youth_id: YouthId
    restricted_at: Instant
    by_agency: str
    legal_reason: str


# ---------------------------------------------------------------- closure and follow-up

class CloseCase(Command):
    type_name = "kit.intake.close_case.v1"
    summary = "Close the case with the exit destination; follow-ups at 6, 12 and 18 months are scheduled."

    youth_id: YouthId
    destination: Literal["employment", "education", "training", "moved", "lost_contact", "refused", "other"]
    exited_on: Day


class CaseClosed(Event):
    type_name = "kit.intake.case_closed.v1"
    summary = "The case was closed; follow-up checkpoints scheduled (Youth Guarantee)."

    youth_id: YouthId
    destination: str
    exited_on: Day
    follow_ups: list[FollowUp]


class RecordFollowUp(Command):
    type_name = "kit.intake.record_follow_up.v1"
    summary = "Record the youth's situation at a follow-up checkpoint after exit."

    youth_id: YouthId
    checkpoint_months: int = Field(ge=1, le=60, description="One of the checkpoints scheduled at closure (6, 12, 18 by default).")
    situation: Literal["employment", "education", "training", "neet", "unknown"]
    recorded_on: Day


class FollowUpRecorded(Event):
    type_name = "kit.intake.follow_up_recorded.v1"
    summary = "A follow-up checkpoint was recorded."

    youth_id: YouthId
    checkpoint_months: int
    situation: str
    recorded_on: Day
    on_time: bool
