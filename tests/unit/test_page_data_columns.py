"""When each thing on a youth's timeline happened (`views.timeline.happened_at`): which field of
each event says it, and how it is read, without a database (the rows themselves are tested on a
real PostgreSQL in tests/integration/test_page_data.py)."""

import uuid
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from events import intake as ev
from events.builders import envelope
from projections.integration_event import IntegrationEvent, read_event
from projections.timeline import HAPPENED_AT, _happened_text, happened_at

MILANO = "comune-milano-m7"
RECORDED = datetime(2026, 10, 4, 9, 0, tzinfo=timezone.utc)
YOUTH = str(uuid.uuid4())


def day(n: int, hour: int = 9) -> datetime:
    return datetime(2026, 10, 1, hour, tzinfo=timezone.utc) + timedelta(days=n)


def noon(d: date) -> datetime:
    return datetime.combine(d, time(12), tzinfo=timezone.utc)


def recorded(data, at: datetime = RECORDED) -> IntegrationEvent:
    return read_event(envelope(data, agency=MILANO, subject=YOUTH, time=at, source="urn:kit:service:intake",
                               kitseq=1).to_json_bytes())


def test_every_date_an_intake_event_carries_either_dates_it_or_is_named_as_saying_something_else():
    not_when = {
        (ev.YouthRegistered, "first_contact_at"),  # when the path began, not the registration
        (ev.YouthAssessed, "neet_since"),  # since when the youth is NEET
        (ev.ProjectOfLifeAgreed, "next_review_due"), (ev.ProjectReviewRecorded, "next_review_due"),  # ahead
        (ev.ConsentOverridden, "expires_at"),  # ahead
        (ev.ContactLost, "last_contact_at"),  # the contact before, not the alert
        (ev.ErasureScheduled, "scheduled_for"),  # ahead
    }
    events = [m for m in vars(ev).values() if isinstance(m, type) and issubclass(m, ev.Event) and m is not ev.Event]
    assert len(events) > 30
    for model in events:
        for name, schema in model.model_json_schema()["properties"].items():
            if {"date", "date-time"} & {s.get("format") for s in [schema, *schema.get("anyOf", ())]}:
                taken = HAPPENED_AT.get(model.type_name, ((), ""))[0][:1] == (name,)
                assert (model, name) in not_when or taken, (model.__name__, name)
        where = HAPPENED_AT.get(model.type_name)
        if where is not None:
            assert where[0][0] in model.model_fields, model.__name__
    assert HAPPENED_AT[ev.ConsentRecorded.type_name][0] == ("consent", "given_at")  # inside the consent's terms


def test_an_event_is_dated_by_its_own_date_a_day_at_noon_utc_else_when_it_was_recorded():
    for data, expected in (
            (ev.ContactLogged(youth_id=YOUTH, contact_id=str(uuid.uuid4()), agency=MILANO, contact_type="meeting",
                              channel="in_person", outcome="reached", occurred_at=day(1, 15),
                              related_person_ids=[]), day(1, 15)),
            (ev.ConsentWithdrawn(youth_id=YOUTH, consent_id=str(uuid.uuid4()), withdrawn_at=day(1)), day(1)),
            (ev.ConsentInvalidated(youth_id=YOUTH, consent_id=str(uuid.uuid4()), reason="wrong form",
                                   invalidated_at=day(2)), day(2)),
            (ev.FollowUpRecorded(youth_id=YOUTH, checkpoint_months=6, situation="employment",
                                 recorded_on=day(2).date(), on_time=True), noon(day(2).date())),
            (ev.CaseClosed(youth_id=YOUTH, destination="employment", exited_on=day(2).date(), follow_ups=[]),
             noon(day(2).date())),
            (ev.OutreachContactRecorded(engagement_id=YOUTH, agency=MILANO, handle_ciphertext="v1.x",
                                        place_type="street", territory=ev.Territory(country="IT", municipality="Milano"),
                                        channel="in_person", outcome="hooked", occurred_at=day(1, 18)), day(1, 18)),
            (ev.ProcessingRestricted(youth_id=YOUTH, restricted_at=day(2), by_agency=MILANO,
                                     legal_reason="legal hold"), day(2)),
            (ev.YouthAssessed(youth_id=YOUTH, neet_status="neet", neet_since=date(2025, 1, 1),
                              education_level="primary", family_context="alone", aspirations=[]), RECORDED),
            (ev.CaseOpened(youth_id=YOUTH, lead_agency=MILANO, key_worker="giulia"), RECORDED)):
        assert happened_at(recorded(data)) == expected, data.type_name
    # noon UTC is the same day in Rome and in Zurich, summer and winter
    for d in (date(2026, 7, 1), date(2026, 12, 1)):
        at = happened_at(recorded(ev.CaseClosed(youth_id=YOUTH, destination="employment", exited_on=d, follow_ups=[])))
        assert {at.astimezone(ZoneInfo(zone)).date() for zone in ("Europe/Rome", "Europe/Zurich", "UTC")} == {d}


def test_a_date_that_cannot_be_read_dates_the_event_when_it_was_recorded_and_never_fails_the_page():
    event = recorded(ev.ContactCadenceSet(youth_id=YOUTH, every_days=7, lost_after_days=30))
    event.type = ev.ContactLogged.type_name
    for odd in ("yesterday", "2026-13-01T10:00:00Z", 20261001, None, {"at": "2026-10-01"}):
        event.data = {"youth_id": YOUTH, "occurred_at": odd}
        assert happened_at(event) == RECORDED and _happened_text(event) is None, odd
    event.data = {"youth_id": YOUTH}
    assert happened_at(event) == RECORDED
    event.type, event.data = ev.CaseClosed.type_name, {"youth_id": YOUTH, "exited_on": "2026-10-01T10:00:00Z"}
    assert happened_at(event) == RECORDED


def test_what_copy_is_given_is_text_postgresql_reads_as_the_same_instant():
    event = recorded(ev.ConsentWithdrawn(youth_id=YOUTH, consent_id=str(uuid.uuid4()), withdrawn_at=day(1)))
    # the form the platform writes goes as it is
    for text in ("2026-10-02T09:00:00Z", "2026-10-02T11:00:00.250000+02:00"):
        event.data = {"youth_id": YOUTH, "withdrawn_at": text}
        assert _happened_text(event) == text
    # any other form Python reads is written out in full, without an offset taken as UTC
    for text, expected in (("2026-10-02 09:00:00+00:00", "2026-10-02T09:00:00+00:00"),
                           ("2026-10-02T09:00", "2026-10-02T09:00:00+00:00"),
                           ("2026-10-02T09:00:00,5+01:00", "2026-10-02T09:00:00.500000+01:00")):
        event.data = {"youth_id": YOUTH, "withdrawn_at": text}
        assert _happened_text(event) == expected, text
    event.type, event.data = ev.CaseClosed.type_name, {"youth_id": YOUTH, "exited_on": "20261002"}
    assert _happened_text(event) == "2026-10-02T12:00:00+00:00"
