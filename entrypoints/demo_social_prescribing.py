"""The demo's social prescribing: its directory of activities in Milan, Turin and Ticino
(`deploy/demo/activities.json`, fictitious, HSDS 3.0), and, for each demo youth whom intake refers to
social prescribing (the service receives that referral from intake by itself), the link worker's
work up to the stage the intake referral reached:

- requested: referred to social prescribing, waiting for the link worker's answer;
- rejected: referred, declined with a reason;
- accepted: followed by the link worker, with a "what matters to you" conversation;
- in-progress: and a plan with goals, an activity prescribed (a place, or the waitlist of a full
  one), accompanied to the first session, the session recorded (by the provider's own system where
  the provider is an agency of the platform), an ONS4 baseline;
- completed: and an ONS4 follow-up, the goals reviewed, the activity completed.

Sent like every other demo command, in phases after intake's; their ids derive from the youth's
key, so a second run sends nothing new. Details are drawn from a generator of their own, so the
intake part of each youth stays as it was."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg

from events import social_prescribing as sp
from services.social_prescribing import directory
from services.social_prescribing.decisions import ages_now

DIRECTORY_FILE = Path(__file__).parents[1] / "deploy" / "demo" / "activities.json"
PHASES = ("sp-answer", "sp-work", "sp-close")
FROM_INTAKE = "intake-referral-"  # the ingest id social prescribing gives a referral it takes from intake
CITIES = {"IT-25": ("milano",), "IT-21": ("torino",), "CH-TI": ("lugano", "mendrisio")}
WORDS = ("Da quando ho lasciato la scuola esco poco; vorrei fare qualcosa con altri della mia età.",
         "Mi piacerebbe tornare a fare sport: mi faceva stare bene e conoscevo gente.",
         "Ho bisogno di uscire di casa e di sentirmi utile a qualcuno.",
         "Vorrei imparare qualcosa di pratico, con le mani, e non stare sempre da solo.",
         "Sto male quando sto troppo a casa; con gli altri mi sento più tranquillo.",
         "Mi manca avere un ritmo nella settimana: un impegno fisso mi aiuterebbe.")
NEEDS = (("loneliness", "confidence"), ("physical_activity", "mental_wellbeing"), ("loneliness", "work_and_volunteering"),
         ("learning_and_skills", "confidence"), ("mental_wellbeing", "loneliness"), ("confidence", "arts_and_culture"))
GOALS = (("loneliness", "Uscire almeno due volte alla settimana con altri"),
         ("physical_activity", "Tornare a fare sport una volta alla settimana"),
         ("confidence", "Parlare in gruppo senza sentirmi a disagio"),
         ("work_and_volunteering", "Provare un'attività di volontariato per un mese"),
         ("learning_and_skills", "Imparare a riparare una bicicletta da solo"))
DECLINED = ("Il giovane preferisce un percorso individuale per ora", "Nessuna attività adatta nella sua zona")


def activities() -> list[dict[str, Any]]:
    return json.loads(DIRECTORY_FILE.read_text())


def import_directory(db_url: str) -> int:
    """The demo's directory, as `kit directory import` imports it (the places the service keeps for
    an activity are not overwritten)."""
    with psycopg.connect(db_url) as conn, conn.transaction():
        directory.create_tables(conn)
        return directory.import_records(conn, activities(), datetime.now(timezone.utc))


class Places:
    """The activities of a region a youth's age fits, with the places the demo has not planned to
    take yet: a youth who must complete an activity gets one with a place to spare (the commands
    of many youths are handled in any order), one who waits gets a full one."""

    def __init__(self, records: list[dict[str, Any]]):
        self.records = records
        self.free = {r["id"]: (r.get("service_capacity") or [{}])[0].get("available") for r in records}

    def of(self, region: str, birth_year: int, today: date) -> list[dict[str, Any]]:
        low, high = ages_now(birth_year, today)
        cities = CITIES[region]
        return [r for r in self.records
                if any(a.get("city", "").lower() in cities for at in r["service_at_locations"]
                       for a in at["location"].get("addresses", []))
                and (r.get("minimum_age") is None or high >= r["minimum_age"])
                and (r.get("maximum_age") is None or low <= r["maximum_age"])]

    def with_place(self, candidates: list[dict[str, Any]], rng: random.Random) -> dict[str, Any] | None:
        roomy = [r for r in candidates if self.free[r["id"]] is None or self.free[r["id"]] >= 2]
        if not roomy:
            return None
        chosen = rng.choice(roomy)
        if self.free[chosen["id"]] is not None:
            self.free[chosen["id"]] -= 1
        return chosen

    def full(self, candidates: list[dict[str, Any]]) -> dict[str, Any] | None:
        return next((r for r in candidates if self.free[r["id"]] == 0), None)


def plan(people: list[Any], step: Callable[..., Any], local: Callable[[Any, str], str],
         link_worker_of: Callable[[str], Any], phase: dict[str, int], today: date, now: datetime) -> None:
    """Append each referred youth's social prescribing steps (`step(phase, youth, name, agency,
    model, fields, role=, actor=, for_youth=)` makes one)."""
    places = Places(activities())
    for y in people:
        if not y.referral or y.referral[1] != "social_prescribing" or y.birth_year is None:
            continue
        status = y.referral[2]
        if status not in ("requested", "rejected", "accepted", "in-progress", "completed"):
            continue
        rng = random.Random(f"{y.key}-social-prescribing")
        to, worker = y.referral[0], link_worker_of(y.referral[0])
        lw = dict(role=worker.role, actor=worker.username)
        referral = local(y, "referral")  # intake's: the service took it from there
        y.social_prescribing = "referred"
        if status == "requested":
            continue
        if status == "rejected":
            y.steps.append(step(phase["sp-answer"], y.key, "sp-decline", to, sp.AnswerSocialPrescribingReferral, dict(
                referral_id=referral, decision="declined", reason=rng.choice(DECLINED)), **lw))
            y.social_prescribing = "declined"
            continue
        y.steps.append(step(phase["sp-answer"], y.key, "sp-accept", to, sp.AnswerSocialPrescribingReferral, dict(
            referral_id=referral, decision="accepted", link_worker=worker.username), **lw))
        talk = rng.randrange(len(WORDS))
        y.steps.append(step(phase["sp-work"], y.key, "sp-what-matters", to, sp.RecordWhatMatters, dict(
            conversation_id=local(y, "sp-conversation"), conversation_on=today - timedelta(days=rng.randint(5, 20)),
            needs=list(NEEDS[talk]), in_their_words=WORDS[talk]), **lw))
        y.steps.append(step(phase["sp-work"], y.key, "sp-contact-1", to, sp.RecordLinkWorkerContact, dict(
            contact_id=local(y, "sp-contact-1"), channel="in_person", outcome="reached",
            occurred_at=now - timedelta(days=rng.randint(3, 20), hours=rng.randint(1, 5))), **lw))
        y.social_prescribing = "followed"
        if status == "accepted":
            continue
        goals = rng.sample(GOALS, 2)
        y.steps.append(step(phase["sp-work"], y.key, "sp-plan", to, sp.AgreePlan, dict(
            plan_id=local(y, "sp-plan"), agreed_on=today - timedelta(days=rng.randint(1, 4)),
            review_on=today + timedelta(days=30),
            goals=[dict(goal_id=local(y, f"sp-goal-{i + 1}"), area=area, goal=text)
                   for i, (area, text) in enumerate(goals)]), **lw))
        y.steps.append(step(phase["sp-work"], y.key, "sp-ons4-baseline", to, sp.RecordWellbeing, dict(
            questionnaire_id=local(y, "sp-ons4-1"), instrument="ons4", version="1", occasion="baseline",
            taken_on=today - timedelta(days=rng.randint(1, 4)), answers=dict(
                life_satisfaction=rng.randint(2, 5), worthwhile=rng.randint(3, 6), happiness=rng.randint(2, 6),
                anxiety=rng.randint(5, 8))), **lw))
        candidates = places.of(y.region, y.birth_year, today)
        waits = (y.stage == "sp_waiting" or (status == "in-progress" and rng.random() < 0.35)) \
            and places.full(candidates) is not None
        activity = places.full(candidates) if waits else places.with_place(candidates, rng)
        if activity is None:
            continue  # nothing in the directory fits: followed, with a plan
        prescription = local(y, "sp-prescription")
        y.steps.append(step(phase["sp-work"], y.key, "sp-prescribe", to, sp.PrescribeActivity, dict(
            prescription_id=prescription, activity_id=activity["id"]), **lw))
        y.social_prescribing = "waiting" if waits else "prescribed"
        if waits:
            continue
        y.steps.append(step(phase["sp-close"], y.key, "sp-accompanied", to, sp.RecordLinkWorkerContact, dict(
            contact_id=local(y, "sp-contact-2"), channel="accompanied_to_activity", outcome="reached",
            occurred_at=now - timedelta(minutes=30)), **lw))
        provider = directory.provider_agency(activity)
        session = dict(prescription_id=prescription, activity_id=activity["id"], session_on=today, present=True)
        if provider:  # the provider's own system, knowing the participant by code only
            y.steps.append(step(phase["sp-close"], y.key, "sp-session-1", provider, sp.RecordAttendance, session,
                                for_youth=False))
        else:
            y.steps.append(step(phase["sp-close"], y.key, "sp-session-1", to, sp.RecordAttendance, session,
                                for_youth=False, **lw))
        if status != "completed":
            continue
        y.steps.append(step(phase["sp-close"], y.key, "sp-ons4-follow-up", to, sp.RecordWellbeing, dict(
            questionnaire_id=local(y, "sp-ons4-2"), instrument="ons4", version="1", occasion="follow_up",
            taken_on=today, answers=dict(life_satisfaction=rng.randint(5, 8), worthwhile=rng.randint(5, 8),
                                         happiness=rng.randint(5, 8), anxiety=rng.randint(2, 5))), **lw))
        for i, progress in enumerate(("achieved", "some_progress")):
            y.steps.append(step(phase["sp-close"], y.key, f"sp-review-{i + 1}", to, sp.ReviewGoal, dict(
                goal_id=local(y, f"sp-goal-{i + 1}"), progress=progress, reviewed_on=today), **lw))
        y.steps.append(step(phase["sp-close"], y.key, "sp-end", to, sp.EndPrescription, dict(
            prescription_id=prescription, ending="completed"), **lw))
        y.social_prescribing = "completed"


def from_intake(people: list[Any], local: Callable[[Any, str], str]) -> list[tuple[str, str]]:
    """(referring agency, ingest id) of the `refer` social prescribing sends itself for each intake
    referral to it: its receipt says the service holds the referral (or why not)."""
    return [(y.agency, FROM_INTAKE + local(y, "referral")) for y in people
            if y.referral and y.referral[1] == "social_prescribing"]


def summary(people: list[Any]) -> dict[str, int]:
    stages: dict[str, int] = {}
    for y in people:
        if y.social_prescribing:
            stages[y.social_prescribing] = stages.get(y.social_prescribing, 0) + 1
    return dict(sorted(stages.items()))
