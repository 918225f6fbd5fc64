"""A referral made in intake to social prescribing reaches the service, and the service's answer
goes back to intake: one referral, seen in both places, answered once.

- In: intake's `referral_requested` with service `social_prescribing` becomes the service's own
  `refer`, as the referring agency's system would send it: same referral id, the youth's registered
  birth year, intake's reason. Its ingest id is `intake-referral-<referral id>`, so a redelivery is
  answered with the first receipt (the referring agency's receipts show it: accepted, or refused
  with the reason). It is sent once the views hold intake's events up to the referral: the service
  reads consent there, and the consent intake just checked must be there too (until then the
  referral waits; nothing is lost). A youth born outside the years the service takes is answered
  in intake at once: rejected, saying which years.
- Back: the service's answer to such a referral (accepted with a link worker, declined with a
  reason) becomes intake's `respond_to_referral` from the receiving agency, by the same operator,
  so intake's inbox and the referrer's sent list show it; and how it goes, as intake's
  `update_referral`: in progress at the youth's first activity attended, completed once every
  activity of the referral has ended with one completed (failed if none was).

Only the referrals that came this way are answered back (`social_prescribing.intake_referrals`).
The translations are pure (`referral_in`, `answer_back`); `IntakeReferrals` runs them on two
durable consumers, each message published before it is acked (at least once: the receipts make a
repeat harmless)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from pydantic import ValidationError

from events import intake as ev
from events import social_prescribing as sp
from events.base import Message
from events.builders import envelope
from events.envelope import CloudEvent
from kit.config import Settings, database_url, nats_url
from kit.consumer import Consumer, Item
from kit.nats_auth import connect
from kit.nats_permissions import service_user
from kit.nats_setup import prepare
from kit.service import Platform
from kit.store import Store
from kit.streams import COMMANDS_STREAM, command_subject, event_subject, events_filter, events_stream
from projections.youth_directory import YouthDirectory
from services.social_prescribing.case import Case
from services.social_prescribing.directory import SCHEMA

log = logging.getLogger("kit.social_prescribing.intake_referrals")
ANSWERS = (sp.SocialPrescribingReferralAccepted.type_name, sp.SocialPrescribingReferralDeclined.type_name)
BACK = (*ANSWERS, sp.AttendanceRecorded.type_name, sp.PrescriptionEnded.type_name)
SERVICE = "social_prescribing"
TABLE = f"{SCHEMA}.intake_referrals"
DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    referral_id text PRIMARY KEY, youth_id uuid NOT NULL, from_agency text NOT NULL, to_agency text NOT NULL)"""
# the birth years `refer` takes (15 to 30 at referral)
BIRTH_YEARS = (sp.ReferToSocialPrescribing.model_fields["birth_year"].metadata[0].ge,
               sp.ReferToSocialPrescribing.model_fields["birth_year"].metadata[1].le)
# intake's events as far as the views hold them (consent is read there)
VIEWS_AT_SQL = "SELECT position FROM views.positions WHERE projection = %s AND stream = %s"


@dataclass(frozen=True)
class Outgoing:
    """A command to publish as `agency` (its system, or the operator `actor` in `role`)."""

    service: str
    agency: str
    ingest_id: str
    command: Message
    actor: str | None = None
    role: str | None = None

    def to_bytes(self) -> bytes:
        extensions = {k: v for k, v in (("kitactor", self.actor), ("kitrole", self.role)) if v}
        return envelope(self.command, agency=self.agency, id=self.ingest_id, source=f"urn:kit:service:{SERVICE}",
                        **extensions).to_json_bytes()


def referral_in(event: CloudEvent, birth_year: Callable[[str], int | None]) -> Outgoing | None:
    """The service's `refer` for intake's referral to social prescribing (or intake's rejection, for
    a youth born outside the years it takes); None for any other referral. LookupError while the
    youth's birth year is not known yet (the views are behind)."""
    if event.type != ev.ReferralRequested.type_name or (event.data or {}).get("service") != SERVICE:
        return None
    referral = ev.ReferralRequested.model_validate(event.data)
    year = birth_year(referral.youth_id)
    if year is None:
        raise LookupError(f"the views do not hold the birth year of the youth of referral {referral.referral_id} yet")
    low, high = BIRTH_YEARS
    if not low <= year <= high:  # the service's own age rule, answered in intake at once
        return Outgoing("intake", referral.to_agency, f"social-prescribing-answer-{referral.referral_id}",
                        ev.RespondToReferral(youth_id=referral.youth_id, referral_id=referral.referral_id,
                                             decision="rejected", reason=f"social prescribing takes youths born"
                                                                         f" {low} to {high}"))
    return Outgoing(SERVICE, referral.from_agency, f"intake-referral-{referral.referral_id}",
                    sp.ReferToSocialPrescribing(youth_id=referral.youth_id, referral_id=referral.referral_id,
                                                to_agency=referral.to_agency, birth_year=year,
                                                reason=referral.reason[:200]))


def answer_back(event: CloudEvent, came_from_intake: Callable[[str], str | None]) -> Outgoing | None:
    """Intake's `respond_to_referral` for the service's answer to a referral that came from intake
    (`came_from_intake`: referral id -> the receiving agency, or None); None for anything else."""
    if event.type == sp.SocialPrescribingReferralAccepted.type_name:
        answer = sp.SocialPrescribingReferralAccepted.model_validate(event.data)
        decision, reason = "accepted", None
    elif event.type == sp.SocialPrescribingReferralDeclined.type_name:
        answer = sp.SocialPrescribingReferralDeclined.model_validate(event.data)
        decision, reason = "rejected", answer.reason
    else:
        return None
    agency = came_from_intake(answer.referral_id)
    if agency is None:
        return None
    return Outgoing("intake", agency, f"social-prescribing-answer-{answer.referral_id}",
                    ev.RespondToReferral(youth_id=answer.youth_id, referral_id=answer.referral_id, decision=decision,
                                         reason=reason), actor=event.kitactor, role=event.kitrole)


def progress_back(event: CloudEvent, case: Case | None, came_from_intake: Callable[[str], str | None]
                  ) -> Outgoing | None:
    """Intake's `update_referral` for a step of a referral that came from intake (`case`: the
    youth's case now): in progress at the first activity attended; completed, or failed, once every
    activity prescribed since the referral has ended. None for anything else."""
    referral = case.referral if case is not None else None
    if referral is None or referral.status != "accepted":
        return None
    agency = came_from_intake(referral.referral_id)
    if agency is None:
        return None
    data = event.data or {}
    if event.type == sp.AttendanceRecorded.type_name and data.get("present") and data.get("first_attendance"):
        status, outcome = "in-progress", "prima attività frequentata"
    elif event.type == sp.PrescriptionEnded.type_name and case.ended():
        completed = sum(1 for p in case.episode if case.prescriptions[p].ended == "completed")
        status = "completed" if completed else "failed"
        outcome = f"attività completate: {completed} su {len(case.episode)}"
    else:
        return None
    return Outgoing("intake", agency, f"social-prescribing-progress-{referral.referral_id}-{status}",
                    ev.UpdateReferral(youth_id=data["youth_id"], referral_id=referral.referral_id, status=status,
                                      outcome=outcome))


class IntakeReferrals:
    """The two consumers, run beside the service's commands (a job of its command service)."""

    def __init__(self, settings: Settings, platform: Platform, store: Store):
        self.settings, self.platform, self.store = settings, platform, store
        self.url = database_url(settings)
        self.nats_url = nats_url(settings, service_user(platform.service(SERVICE)))
        retry = dict(dead_letter_after=settings.dead_letter_after, max_deliveries=settings.max_deliver,
                     ack_wait=settings.ack_wait)
        self.incoming = Consumer(name=f"{SERVICE}-referrals-from-intake", handle=self._forward_in, **retry)
        self.incoming.declare(stream=events_stream("intake"),
                              subject=event_subject("intake", ev.ReferralRequested.type_name), batch_size=50)
        self.answers = Consumer(name=f"{SERVICE}-answers-to-intake", handle=self._answer_back, **retry)
        self.answers.declare(stream=events_stream(SERVICE), subject=events_filter(SERVICE), batch_size=200)
        self.js = None

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.to_thread(self._create_table)
        await prepare(self.nats_url, self.platform, [self.incoming.declaration, self.answers.declaration])
        nc = await connect(self.nats_url, name=f"kit-{SERVICE}-intake-referrals")
        try:
            self.js = nc.jetstream()
            await asyncio.gather(self.incoming.run(self.js, stop), self.answers.run(self.js, stop))
        finally:
            await nc.close()

    def _create_table(self) -> None:
        with psycopg.connect(self.url) as conn:
            conn.execute(DDL)

    async def _publish(self, outgoing: Outgoing) -> None:
        await self.js.publish(command_subject(outgoing.service, outgoing.agency), outgoing.to_bytes(),
                              stream=COMMANDS_STREAM, headers={"Nats-Msg-Id": f"{outgoing.agency}:{outgoing.ingest_id}"})

    async def _forward_in(self, items: list[Item]) -> list[int]:
        """In order; a referral the views are not yet up to (nor those after it) is handed back to
        come again, without counting as a failure: lagging views lose nothing."""
        done = []
        for item in items:
            event = _event(item)
            if event is not None:
                if not await asyncio.to_thread(self._views_at, item.seq):
                    break
                outgoing = await asyncio.to_thread(self._referral_in, event)
                if outgoing is not None:
                    await self._publish(outgoing)
                    log.info("an intake referral to social prescribing forwarded (%s)", outgoing.ingest_id)
            done.append(item.seq)
        return done

    def _referral_in(self, event: CloudEvent) -> Outgoing | None:
        with psycopg.connect(self.url) as conn:
            def birth_year(youth_id: str) -> int | None:
                row = conn.execute("SELECT birth_year FROM views.youths WHERE youth_id = %s::uuid", (youth_id,)
                                   ).fetchone()
                return row[0] if row else None
            outgoing = referral_in(event, birth_year)
            if outgoing is not None and outgoing.service == SERVICE:
                command = outgoing.command
                conn.execute(f"INSERT INTO {TABLE} VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                             (command.referral_id, command.youth_id, outgoing.agency, command.to_agency))
        return outgoing

    def _views_at(self, seq: int, wait: float = 2.0) -> bool:
        """Whether the views hold intake's events up to `seq` (waiting a moment for them)."""
        deadline = time.monotonic() + wait
        while True:
            with psycopg.connect(self.url) as conn:
                try:
                    row = conn.execute(VIEWS_AT_SQL, (YouthDirectory.name, events_stream("intake"))).fetchone()
                except psycopg.errors.UndefinedTable:
                    row = None
            if row is not None and row[0] >= seq:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    async def _answer_back(self, items: list[Item]) -> list[int]:
        for item in items:
            event = _event(item)
            if event is None or event.type not in BACK:
                continue
            outgoing = await asyncio.to_thread(self._back_of, event)
            if outgoing is not None:
                await self._publish(outgoing)
        return [i.seq for i in items]

    def _back_of(self, event: CloudEvent) -> Outgoing | None:
        with psycopg.connect(self.url) as conn:
            def came_from_intake(referral_id: str) -> str | None:
                row = conn.execute(f"SELECT to_agency FROM {TABLE} WHERE referral_id = %s", (referral_id,)).fetchone()
                return row[0] if row else None
            if event.type in ANSWERS:
                return answer_back(event, came_from_intake)
            history = self.store.get(uuid.UUID(str((event.data or {}).get("youth_id"))))
            return progress_back(event, history.state if history is not None else None, came_from_intake)


def _event(item: Item) -> CloudEvent | None:
    try:
        return CloudEvent.model_validate_json(item.data)
    except ValidationError:  # not an integration event: nothing to translate
        log.warning("an unreadable event at %s skipped", item.seq)
        return None
