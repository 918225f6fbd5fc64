"""Test-data builders: valid messages for every type, used by contracts/examples, tests and partners.

`example(type_name)` is deterministic (the checked-in examples are generated from it);
`register_youth(...)` builds fresh ingest messages with overridable fields.
"""

from __future__ import annotations

import base64
import uuid
from datetime import date, datetime, timezone
from typing import Any

from events.base import Message
from events.envelope import CloudEvent, dataschema_for
from events import intake as ev
from events import social_prescribing as sp

EXAMPLE_TIME = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)
EXAMPLE_YOUTH = "2f1d5a8e-6c3b-4f7a-9d2e-8b1c0a7f6e54"
EXAMPLE_AGENCY = "comune-milano-m7"
NOTICE = "2026-1"


def _id(n: int) -> str:
    """Readable fixed UUIDs for the examples."""
    return f"00000000-0000-4000-8000-{n:012d}"


EXAMPLE_SEALED = "v1." + base64.urlsafe_b64encode(bytes(range(96))).decode()  # shape only: seal real identities with kit.vault.seal
EXAMPLE_CIPHERTEXT = "v1." + base64.urlsafe_b64encode(bytes(range(64))).decode()
_TERRITORY = ev.Territory(country="IT", municipality="Milano", district="Municipio 7")
_CONSENT = ev.ConsentTerms(consent_id=_id(1), purpose="case_management", legal_basis="consent", given_by="youth",
                           notice_version=NOTICE, given_at=EXAMPLE_TIME)
_SHARE = ev.ConsentTerms(consent_id=_id(2), purpose="sharing", recipient="afol-milano", legal_basis="consent",
                         given_by="youth", notice_version=NOTICE, given_at=EXAMPLE_TIME,
                         expires_at=datetime(2027, 11, 2, tzinfo=timezone.utc))
_GOAL = ev.Goal(goal_id=_id(10), description="Find an apprenticeship as an electrician", category="employment",
                lifecycle_status="active", achievement_status="in-progress",
                milestones=[ev.Milestone(milestone_id=_id(11), description="CV ready", due=date(2026, 12, 15))])
_Y = {"youth_id": EXAMPLE_YOUTH}

EXAMPLE_DATA: dict[str, Message] = {m.type_name: m for m in (
    ev.RecordOutreachContact(handle="Gio", place_type="street", territory=_TERRITORY, channel="in_person",
                             outcome="first_contact", occurred_at=EXAMPLE_TIME),
    ev.OutreachContactRecorded(engagement_id=_id(20), agency=EXAMPLE_AGENCY, handle_ciphertext=EXAMPLE_CIPHERTEXT,
                               place_type="street",
                               territory=_TERRITORY, channel="in_person", outcome="first_contact", occurred_at=EXAMPLE_TIME),
    ev.EngagementLinked(engagement_id=_id(20), **_Y),
    ev.RegisterYouth(partner_case_ref="MI7-2026-0042", birth_year=2005, country="IT", region="IT-25",
                     sealed_identity=EXAMPLE_SEALED, engagement_handle="Gio", consents=[_CONSENT]),
    ev.YouthRegistered(registering_agency=EXAMPLE_AGENCY, partner_case_ref="MI7-2026-0042", birth_year=2005,
                       country="IT", region="IT-25", engagement_id=_id(20), first_contact_at=EXAMPLE_TIME, **_Y),
    ev.AgencyJoined(agency="ngo-lugano", partner_case_ref="LUG-77", matched_by="national_id", **_Y),
    ev.RecordIdentity(sealed_identity=EXAMPLE_SEALED, **_Y),
    ev.IdentityRecorded(person_id=EXAMPLE_YOUTH, ciphertext=EXAMPLE_CIPHERTEXT, **_Y),
    ev.MergeYouths(duplicate_youth_id=_id(30), reason="Same person registered twice before the CF was known", **_Y),
    ev.YouthMerged(youth_id=_id(30), merged_into=EXAMPLE_YOUTH, reason="Same person registered twice",
                   by_agency=EXAMPLE_AGENCY),
    ev.RecordConsent(consent=_SHARE, **_Y),
    ev.ConsentRecorded(consent=_SHARE, recorded_by=EXAMPLE_AGENCY, **_Y),
    ev.WithdrawConsent(consent_id=_id(2), **_Y),
    ev.ConsentWithdrawn(consent_id=_id(2), withdrawn_at=EXAMPLE_TIME, **_Y),
    ev.InvalidateConsent(consent_id=_id(2), reason="Recipient recorded wrongly", **_Y),
    ev.ConsentInvalidated(consent_id=_id(2), reason="Recipient recorded wrongly", invalidated_at=EXAMPLE_TIME, **_Y),
    ev.OverrideConsent(agency="afol-milano", purpose="sharing", reason="Imminent risk: coordinated response needed",
                       expires_at=datetime(2026, 11, 9, tzinfo=timezone.utc), **_Y),
    ev.ConsentOverridden(agency="afol-milano", purpose="sharing", reason="Imminent risk: coordinated response needed",
                         expires_at=datetime(2026, 11, 9, tzinfo=timezone.utc), overridden_at=EXAMPLE_TIME,
                         by_agency=EXAMPLE_AGENCY, by_role="supervisor", **_Y),
    ev.AssessYouth(neet_status="neet", neet_since=date(2025, 6, 1), education_level="lower_secondary",
                   vulnerabilities=ev.Vulnerabilities(socio_economic=True), family_context="single_parent",
                   aspirations=["work", "training"], lead_agency=EXAMPLE_AGENCY, key_worker="giulia", **_Y),
    ev.YouthAssessed(neet_status="neet", neet_since=date(2025, 6, 1), education_level="lower_secondary",
                     family_context="single_parent", aspirations=["work", "training"], **_Y),
    ev.VulnerabilitiesAssessed(vulnerabilities=ev.Vulnerabilities(socio_economic=True), **_Y),
    ev.CaseOpened(lead_agency=EXAMPLE_AGENCY, key_worker="giulia", **_Y),
    ev.AgreeProjectOfLife(based_on_version=0, goals=[_GOAL], next_review_due=date(2027, 1, 15), agreed_by_youth=True, **_Y),
    ev.ProjectOfLifeAgreed(version=1, goals=[_GOAL], next_review_due=date(2027, 1, 15), agreed_by_youth=True,
                           agreed_by_guardian=False, **_Y),
    ev.UpdateGoal(goal_id=_id(10), lifecycle_status="active", achievement_status="improving", **_Y),
    ev.GoalUpdated(project_version=1, goal_id=_id(10), lifecycle_status="active", achievement_status="improving", **_Y),
    ev.RecordProjectReview(held_on=date(2026, 11, 2), outcome="on_track", next_review_due=date(2027, 2, 1), **_Y),
    ev.ProjectReviewRecorded(project_version=1, held_on=date(2026, 11, 2), outcome="on_track",
                             next_review_due=date(2027, 2, 1), **_Y),
    ev.RequestReferral(referral_id=_id(40), to_agency="afol-milano", service="ips_placement",
                       reason="Wants to work; IPS job search", **_Y),
    ev.ReferralRequested(referral_id=_id(40), from_agency=EXAMPLE_AGENCY, to_agency="afol-milano",
                         service="ips_placement", reason="Wants to work; IPS job search", transfer_lead=False,
                         basis=f"consent:{_id(2)}", **_Y),
    ev.RespondToReferral(referral_id=_id(40), decision="accepted", **_Y),
    ev.UpdateReferral(referral_id=_id(40), status="in-progress", **_Y),
    ev.CancelReferral(referral_id=_id(40), reason="The youth moved to another region", **_Y),
    ev.ReferralStatusChanged(referral_id=_id(40), from_agency=EXAMPLE_AGENCY, to_agency="afol-milano",
                             previous_status="requested", status="accepted", by_agency="afol-milano", **_Y),
    ev.LeadTransferred(from_agency=EXAMPLE_AGENCY, to_agency="afol-milano", referral_id=_id(40), **_Y),
    ev.LogContact(contact_id=_id(50), contact_type="meeting", channel="in_person", outcome="reached",
                  occurred_at=EXAMPLE_TIME, **_Y),
    ev.ContactLogged(contact_id=_id(50), agency=EXAMPLE_AGENCY, contact_type="meeting", channel="in_person",
                     outcome="reached", occurred_at=EXAMPLE_TIME, related_person_ids=[], **_Y),
    ev.SetContactCadence(every_days=14, **_Y),
    ev.ContactCadenceSet(every_days=14, lost_after_days=30, **_Y),
    ev.FlagLostContact(**_Y),
    ev.ApplyRetention(**_Y),
    ev.ContactLost(last_contact_at=EXAMPLE_TIME, days_without_contact=31, lead_agency=EXAMPLE_AGENCY,
                   key_worker="giulia", **_Y),
    ev.YouthReengaged(contact_id=_id(51), agency=EXAMPLE_AGENCY, days_without_contact=40, **_Y),
    ev.AddRelatedPerson(related_person_id=_id(60), relationship="parent", sealed_identity=EXAMPLE_SEALED,
                        consents_to_contact=True, **_Y),
    ev.RelatedPersonAdded(related_person_id=_id(60), relationship="parent", consents_to_contact=True, **_Y),
    ev.RecordRelatedPersonConsent(related_person_id=_id(60), consents_to_contact=False, **_Y),
    ev.RelatedPersonConsentChanged(related_person_id=_id(60), consents_to_contact=False, **_Y),
    ev.AddCaseNote(note_id=_id(70), text="Asked to be called back on Monday about the apprenticeship", **_Y),
    ev.CaseNoteAdded(note_id=_id(70), ciphertext=EXAMPLE_CIPHERTEXT, **_Y),
    ev.EraseYouth(mode="erasure", legal_reason="Request of the data subject (GDPR art. 17), ticket DPO-2026-17", **_Y),
    ev.YouthErased(erased_at=EXAMPLE_TIME, by_agency=EXAMPLE_AGENCY, legal_reason="Request of the data subject (GDPR art. 17)",
                   keys_destroyed=[EXAMPLE_YOUTH], **_Y),
    ev.ProcessingRestricted(restricted_at=EXAMPLE_TIME, by_agency=EXAMPLE_AGENCY,
                            legal_reason="Accuracy contested by the data subject (GDPR art. 18)", **_Y),
    ev.ErasureScheduled(scheduled_for=date(2031, 12, 2), legal_reason="retention period ended: 5 years after the exit",
                        **_Y),
    ev.CancelScheduledErasure(reason="Litigation pending: records kept on counsel's request", **_Y),
    ev.ScheduledErasureCancelled(by_agency=EXAMPLE_AGENCY, reason="Litigation pending: records kept on counsel's request",
                                 cancelled_at=EXAMPLE_TIME, **_Y),
    ev.CloseCase(destination="employment", exited_on=date(2026, 11, 2), **_Y),
    ev.CaseClosed(destination="employment", exited_on=date(2026, 11, 2), follow_ups=[
        ev.FollowUp(checkpoint_months=6, due_on=date(2027, 5, 2)),
        ev.FollowUp(checkpoint_months=12, due_on=date(2027, 11, 2)),
        ev.FollowUp(checkpoint_months=18, due_on=date(2028, 5, 2))], **_Y),
    ev.RecordFollowUp(checkpoint_months=6, situation="employment", recorded_on=date(2027, 5, 3), **_Y),
    ev.FollowUpRecorded(checkpoint_months=6, situation="employment", recorded_on=date(2027, 5, 3), on_time=True, **_Y),
)}


_ACTIVITY = {"activity_id": "5b0c4a6e-2d7f-4e8a-9c1b-3f2e1d0c9b8a"}  # an HSDS service id of the directory
_REFERRAL = {"referral_id": "0d8e2f4a-6b1c-4d3e-8f5a-7c9b1e2d3f4a"}
_PRESCRIPTION = {"prescription_id": "9e7d5c3b-1a2f-4e6d-8c0b-2a4f6e8d0c1b"}
_GOAL = "4f6a8c0e-2b4d-4f6a-8c0e-2b4d6f8a0c2e"
EXAMPLE_DATA |= {m.type_name: m for m in (
    sp.ReferToSocialPrescribing(to_agency="rete-quartiere-mi7", birth_year=2005, reason="isolamento, nessuna attività",
                                **_REFERRAL, **_Y),
    sp.SocialPrescribingReferralReceived(from_agency=EXAMPLE_AGENCY, to_agency="rete-quartiere-mi7", birth_year=2005,
                                         reason="isolamento, nessuna attività", **_REFERRAL, **_Y),
    sp.AnswerSocialPrescribingReferral(decision="accepted", link_worker="lw-sara", **_REFERRAL, **_Y),
    sp.SocialPrescribingReferralAccepted(link_worker="lw-sara", **_REFERRAL, **_Y),
    sp.SocialPrescribingReferralDeclined(reason="fuori dal territorio servito", **_REFERRAL, **_Y),
    sp.SetActivityPlaces(available=3, maximum=12, **_ACTIVITY),
    sp.ActivityPlacesSet(available=3, maximum=12, **_ACTIVITY),
    sp.PrescribeActivity(**_PRESCRIPTION, **_ACTIVITY, **_Y),
    sp.ActivityPrescribed(placed=False, waitlist_position=2, expected_wait_days=21, **_PRESCRIPTION, **_ACTIVITY, **_Y),
    sp.PlaceTaken(**_PRESCRIPTION, **_ACTIVITY),
    sp.WaitlistJoined(position=2, **_PRESCRIPTION, **_ACTIVITY),
    sp.EndPrescription(ending="dropped_out", reason="orari incompatibili con il lavoro", **_PRESCRIPTION, **_Y),
    sp.PrescriptionEnded(ending="dropped_out", reason="orari incompatibili con il lavoro", days=24, **_PRESCRIPTION,
                         **_ACTIVITY, **_Y),
    sp.PlaceFreed(held_place=True, days=24, **_PRESCRIPTION, **_ACTIVITY),
    sp.RecordAttendance(session_on=date(2026, 11, 10), present=True, **_PRESCRIPTION, **_ACTIVITY),
    sp.AttendanceRecorded(session_on=date(2026, 11, 10), present=True, by="provider", **_PRESCRIPTION, **_ACTIVITY,
                          **_Y),
    sp.WaitlistPlaceGiven(**_PRESCRIPTION, **_ACTIVITY, **_Y),
    sp.RecordLinkWorkerContact(contact_id="7a1c3e5d-9b2f-4c6e-8a0d-1f3b5d7e9a2c", channel="accompanied_to_activity",
                               outcome="reached", occurred_at=EXAMPLE_TIME, **_Y),
    sp.LinkWorkerContactRecorded(contact_id="7a1c3e5d-9b2f-4c6e-8a0d-1f3b5d7e9a2c", channel="accompanied_to_activity",
                                 outcome="reached", occurred_at=EXAMPLE_TIME, **_Y),
    sp.RecordWellbeing(questionnaire_id="3c5e7a9b-1d2f-4a6c-8e0b-4d6f8a0c2e4b", instrument="ons4", version="1",
                       occasion="follow_up", taken_on=date(2026, 11, 30),
                       answers={"life_satisfaction": 6, "worthwhile": 5, "happiness": 6, "anxiety": 4}, **_Y),
    sp.WellbeingRecorded(questionnaire_id="3c5e7a9b-1d2f-4a6c-8e0b-4d6f8a0c2e4b", instrument="ons4", version="1",
                         occasion="follow_up", taken_on=date(2026, 11, 30),
                         answers={"life_satisfaction": 6, "worthwhile": 5, "happiness": 6, "anxiety": 4},
                         bands={"life_satisfaction": "medium", "worthwhile": "medium", "happiness": "medium",
                                "anxiety": "medium"},
                         change={"life_satisfaction": 3, "worthwhile": 0, "happiness": -1, "anxiety": -4},
                         change_direction={"life_satisfaction": "improved", "worthwhile": "no_change",
                                           "happiness": "worsened", "anxiety": "improved"}, **_Y),
    sp.RecordWhatMatters(conversation_id="5e7a9c1b-3d5f-4b7d-9f1a-6c8e0a2b4d6f", conversation_on=date(2026, 11, 3),
                         needs=["loneliness", "work_and_volunteering"],
                         in_their_words="Vorrei uscire di casa più spesso e fare qualcosa che mi piace con altri.",
                         **_Y),
    sp.WhatMattersRecorded(conversation_id="5e7a9c1b-3d5f-4b7d-9f1a-6c8e0a2b4d6f", conversation_on=date(2026, 11, 3),
                           needs=["loneliness", "work_and_volunteering"], words_ciphertext=EXAMPLE_CIPHERTEXT, **_Y),
    sp.AgreePlan(plan_id="8b0d2f4a-6c8e-4a1c-9e3b-7d9f1b3d5e7a", agreed_on=date(2026, 11, 5),
                 review_on=date(2026, 12, 5),
                 goals=[sp.PlanGoal(goal_id=_GOAL, area="loneliness",
                                    goal="Andare al laboratorio di musica due volte al mese")], **_Y),
    sp.PlanAgreed(plan_id="8b0d2f4a-6c8e-4a1c-9e3b-7d9f1b3d5e7a", agreed_on=date(2026, 11, 5),
                  review_on=date(2026, 12, 5),
                  goals=[sp.AgreedGoal(goal_id=_GOAL, area="loneliness", goal_ciphertext=EXAMPLE_CIPHERTEXT)], **_Y),
    sp.ReviewGoal(goal_id=_GOAL, progress="some_progress", reviewed_on=date(2026, 12, 5), **_Y),
    sp.GoalReviewed(goal_id=_GOAL, area="loneliness", progress="some_progress", reviewed_on=date(2026, 12, 5), **_Y),
)}


def envelope(data: Message, *, agency: str, id: str | None = None, subject: str | None = None,
             time: datetime | None = None, correlation_id: str | None = None,
             source: str | None = None, **ext: Any) -> CloudEvent:
    event_id = id or str(uuid.uuid4())
    return CloudEvent(
        specversion="1.0",
        id=event_id,
        source=source or f"urn:kit:agency:{agency}",
        type=data.type_name,
        subject=subject,
        time=time or datetime.now(timezone.utc),
        dataschema=dataschema_for(data.type_name),
        kitagency=agency,
        kitcorrelationid=correlation_id or event_id,
        kitclassification=data.classification,
        data=data.model_dump(mode="json"),
        **ext,
    )


def example(type_name: str) -> CloudEvent:
    """The checked-in example message of a type: a full CloudEvent, ready to publish."""
    data = EXAMPLE_DATA[type_name]
    model = type(data)
    agency = EXAMPLE_AGENCY
    if model.kind == "command":
        return envelope(data, agency=agency, id="mi7-ingest-0001", time=EXAMPLE_TIME)
    return envelope(
        data, agency=agency, id="6b0a3c2e-1f4d-5e8a-9b7c-2d1e0f3a4b5c",
        subject=getattr(data, "engagement_id", None) if data.type_name.startswith("kit.intake.outreach") else
        getattr(data, "youth_id", None) or getattr(data, "activity_id", EXAMPLE_YOUTH),
        source=f"urn:kit:service:{model.context}",
        time=EXAMPLE_TIME, correlation_id="mi7-ingest-0001", kitcausationid="mi7-ingest-0001",
        kitrecordedtime=EXAMPLE_TIME, kitseq=1,
    )


def consent(purpose: str = "case_management", *, recipient: str | None = None, given_by: str = "youth",
            given_at: datetime | None = None, expires_at: datetime | None = None,
            legal_basis: str = "consent") -> ev.ConsentTerms:
    return ev.ConsentTerms(consent_id=str(uuid.uuid4()), purpose=purpose, recipient=recipient,  # type: ignore[arg-type]
                           legal_basis=legal_basis, given_by=given_by, notice_version=NOTICE,  # type: ignore[arg-type]
                           given_at=given_at or datetime.now(timezone.utc), expires_at=expires_at)


def register_youth(agency: str = EXAMPLE_AGENCY, *, case_ref: str | None = None,
                   birth_year: int = 2005, country: str = "IT", region: str = "IT-25",
                   id: str | None = None, sealed_identity: str | None = None, engagement_handle: str | None = None,
                   consents: list[ev.ConsentTerms] | None = None, **ext: Any) -> CloudEvent:
    """A registration with the youth's consent to case management by the registering agency."""
    data = ev.RegisterYouth(
        partner_case_ref=case_ref or f"case-{uuid.uuid4().hex[:12]}",
        birth_year=birth_year, country=country, region=region,  # type: ignore[arg-type]
        sealed_identity=sealed_identity, engagement_handle=engagement_handle,
        consents=[consent()] if consents is None else consents,
    )
    return envelope(data, agency=agency, id=id, **ext)


def command(model: type[ev.Command], *, sender: str = EXAMPLE_AGENCY, id: str | None = None, role: str | None = None,
            actor: str | None = None, **fields: Any) -> CloudEvent:
    """Any intake command as the agency `sender` (or the API, with role and actor) publishes it."""
    ext = {k: v for k, v in (("kitrole", role), ("kitactor", actor)) if v}
    return envelope(model(**fields), agency=sender, id=id, **ext)
