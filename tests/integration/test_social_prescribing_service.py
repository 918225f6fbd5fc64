"""Social prescribing as partners use it, on the real servers: Milan refers a youth, the community
association accepts with a link worker and prescribes from its directory: an activity with a place,
a full one (waitlisted, with the position), one the youth is too old for (refused with the rule);
the youth completes the first. The activity's free places in the directory (what /hsds/ shows)
follow each step, the youth's events carry the youth's pseudonym and the activity's carry none."""

import json
import uuid
from datetime import datetime, timezone

import httpx
import psycopg
import pytest

from events import intake as ev, social_prescribing as sp
from events.builders import consent, envelope, register_youth
from kit.streams import events_stream
from services.social_prescribing import directory
from shared import accounts
from tests.conftest import eventually
from tests.integration.harness import (consumers_ready, publish_ingest, receipt_of, receipts, running, services,
                                       stream_events)
from tests.integration.test_activity_directory import activity

pytestmark = pytest.mark.integration
STREAM = events_stream("social_prescribing")
MILANO, RETE = "comune-milano-m7", "rete-quartiere-mi7"  # the referrer; the link workers' association
COOP, AFOL = "coop-giovani-milano", "afol-milano"  # the football's provider; an agency with no part in it


async def registered(js, database_url: str, *, share_with: str | None = RETE, id: str = "reg") -> str:
    """A youth Milan registers through intake, consenting to case management by Milan and (unless
    None) to sharing with `share_with`; once the views hold the consents."""
    consents = [consent()] + ([consent("sharing", recipient=share_with)] if share_with else [])
    await publish_ingest(js, MILANO, register_youth(MILANO, birth_year=2004, id=id, consents=consents).to_json_bytes())
    answer = await receipt_of(js, MILANO, id)
    youth = answer["subject"]

    def projected() -> bool:
        with psycopg.connect(database_url) as conn:
            try:
                return conn.execute("SELECT count(*) FROM views.consents WHERE youth_id = %s",
                                    (youth,)).fetchone()[0] == len(consents)
            except psycopg.errors.UndefinedTable:
                return False
    await eventually(projected, timeout=30)
    return youth


PASSWORD = "correct horse battery"


def add_operators(database_url: str, *operators: tuple[str, str, str]) -> None:
    """(agency, role, username) accounts, with PASSWORD."""
    with psycopg.connect(database_url) as conn:
        accounts.create_tables(conn)
        for agency, role, username in operators:
            accounts.add_operator(conn, agency=agency, role=role, username=username, password=PASSWORD)


async def referred_by_milan(js, database_url: str) -> tuple[str, str]:
    """A youth Milan registered (consenting to share with the association) and referred to its social
    prescribing: (youth id, referral id), once the service holds the referral."""
    await eventually(lambda: consumers_ready(js, {"social_prescribing-commands", "intake-commands"}), timeout=30)
    youth = await registered(js, database_url)
    await publish_ingest(js, MILANO, send(MILANO, sp.ReferToSocialPrescribing(
        youth_id=youth, referral_id=str(uuid.uuid4()), to_agency=RETE, birth_year=2004, reason="isolamento"),
        "refer"))
    await receipts(js, MILANO, 2, timeout=30)
    return youth, next(e for e in await stream_events(js, STREAM) if e.subject == youth).data["referral_id"]


async def token(client, username: str) -> str | None:
    try:
        response = await client.post("/api/v1/token", data={"username": username, "password": PASSWORD})
    except httpx.HTTPError:
        return None
    return response.json()["access_token"] if response.status_code == 200 else None


def send(agency: str, message: sp.Command, id: str) -> bytes:
    return envelope(message, agency=agency, id=id).to_json_bytes()


def wellbeing(youth: str, occasion: str, answers: dict) -> sp.RecordWellbeing:
    return sp.RecordWellbeing(youth_id=youth, questionnaire_id=str(uuid.uuid4()), instrument="ons4", version="1",
                              occasion=occasion, taken_on=datetime.now(timezone.utc).date(), answers=answers)


def places_of(url: str, activity_id: str) -> int | None:
    with psycopg.connect(url) as conn:
        found = directory.service(conn, activity_id)
    return found["service_capacity"][0]["available"] if found.get("service_capacity") else None


async def test_refer_accept_prescribe_with_places_waitlist_and_age_rule_then_complete(platform, nc, database_url):
    org = str(uuid.uuid4())
    football = activity("Calcio di strada", term=str(uuid.uuid4()), organization=org, places=1, minimum_age=16, maximum_age=25)
    football["organization"]["organization_identifiers"] = [{  # run by the cooperative: its system sets the places
        "id": str(uuid.uuid4()), "organization_id": org, "identifier_scheme": "kit-agency",
        "identifier_type": "KiT platform agency code", "identifier": COOP}]
    theatre = activity("Teatro", term=str(uuid.uuid4()), organization=org, places=0, minimum_age=16, maximum_age=30)
    under_18s = activity("Doposcuola", term=str(uuid.uuid4()), organization=org, places=5, minimum_age=11, maximum_age=17)
    with psycopg.connect(database_url) as conn, conn.transaction():
        directory.import_records(conn, [football, theatre, under_18s], datetime.now(timezone.utc))
    js = nc.jetstream()
    placed, waiting, refused = (str(uuid.uuid4()) for _ in range(3))
    async with running(*services(platform.settings, "gateway", "intake", "views", "social_prescribing")):
        await eventually(lambda: consumers_ready(js, {"social_prescribing-commands", "intake-commands"}), timeout=30)
        youth = await registered(js, database_url)
        await publish_ingest(js, MILANO, send(MILANO, sp.ReferToSocialPrescribing(
            youth_id=youth, referral_id=str(uuid.uuid4()), to_agency=RETE, birth_year=2004, reason="isolamento"),
            "refer"))
        assert [r["status"] for r in await receipts(js, MILANO, 2, timeout=30)] == ["accepted", "accepted"]
        referral = (await stream_events(js, STREAM))[0].data["referral_id"]
        steps = [
            ("accept", sp.AnswerSocialPrescribingReferral(youth_id=youth, referral_id=referral, decision="accepted",
                                                          link_worker="lw-sara")),
            ("football", sp.PrescribeActivity(youth_id=youth, prescription_id=placed, activity_id=football["id"])),
            ("theatre", sp.PrescribeActivity(youth_id=youth, prescription_id=waiting, activity_id=theatre["id"])),
            ("too-old", sp.PrescribeActivity(youth_id=youth, prescription_id=refused, activity_id=under_18s["id"])),
            ("ons4-baseline", wellbeing(youth, "baseline", {"life_satisfaction": 3, "worthwhile": 5, "happiness": 7,
                                                     "anxiety": 8})),
            ("ons4-bad", wellbeing(youth, "follow_up", {"life_satisfaction": 12, "worthwhile": 5, "happiness": 6,
                                                 "anxiety": 4})),
            ("ons4-later", wellbeing(youth, "follow_up", {"life_satisfaction": 6, "worthwhile": 5, "happiness": 6,
                                                   "anxiety": 4})),
        ]
        for id, message in steps:
            await publish_ingest(js, RETE, send(RETE, message, id))
        got = {r["ingest_id"]: r for r in await receipts(js, RETE, len(steps), timeout=30)}
        await eventually(lambda: places_of(database_url, football["id"]) == 0, timeout=10)
        # the provider records a session by the participant's code; another agency cannot
        session = sp.RecordAttendance(activity_id=football["id"], prescription_id=placed,
                                      session_on=datetime.now(timezone.utc).date(), present=True)
        await publish_ingest(js, COOP, send(COOP, session, "came"))
        await publish_ingest(js, AFOL, send(AFOL, session, "not-theirs"))
        came = (await receipts(js, COOP, 1, timeout=30))[0]
        not_theirs = (await receipts(js, AFOL, 1, timeout=30))[0]
        await publish_ingest(js, RETE, send(RETE, sp.EndPrescription(youth_id=youth, prescription_id=placed,
                                                                     ending="completed"), "done"))
        assert (await receipt_of(js, RETE, "done"))["status"] == "accepted"
        await eventually(lambda: places_of(database_url, football["id"]) == 1, timeout=10)
        # the cooperative's system says it has 5 places now; Milan's may not say it for them
        await publish_ingest(js, COOP, send(COOP, sp.SetActivityPlaces(activity_id=football["id"], available=5,
                                                                       maximum=10), "places"))
        await publish_ingest(js, MILANO, send(MILANO, sp.SetActivityPlaces(activity_id=football["id"], available=0),
                                              "not-ours"))
        await eventually(lambda: places_of(database_url, football["id"]) == 5, timeout=10)
        theirs = {r["ingest_id"]: r for r in await receipts(js, MILANO, 3, timeout=30)}
        events = await stream_events(js, STREAM)

    assert [got[id]["status"] for id in ("accept", "football", "theatre", "too-old")] == [
        "accepted", "accepted", "accepted", "rejected"]
    # ONS4 twice: the answer out of range refused naming its item; the follow-up carries the change
    assert [(r["field"], r["code"]) for r in got["ons4-bad"]["reasons"]] == [
        ("data.answers.life_satisfaction", "answer_out_of_range")]
    scored = [e.data for e in events if e.type == sp.WellbeingRecorded.type_name]
    assert [(d["occasion"], d["change"]) for d in scored] == [
        ("baseline", None), ("follow_up", {"life_satisfaction": 3, "worthwhile": 0, "happiness": -1, "anxiety": -4})]
    [reason] = got["too-old"]["reasons"]
    assert (reason["field"], reason["code"]) == ("data.activity_id", "ineligible")
    assert "ages 11 to 17" in reason["message"]
    prescribed = {e.data["prescription_id"]: e for e in events if e.type == sp.ActivityPrescribed.type_name}
    assert prescribed[placed].data["placed"] and not prescribed[waiting].data["placed"]
    assert prescribed[waiting].data["waitlist_position"] == 1
    # the youth's events carry the youth; the activity's places name no youth
    assert {e.subject for e in events if "youth_id" in e.data} == {youth}
    assert all(youth not in json.dumps(e.data) and e.subject != youth for e in events if "youth_id" not in e.data)
    ended = [e for e in events if e.type == sp.PrescriptionEnded.type_name]
    assert [(e.data["ending"], e.data["activity_id"]) for e in ended] == [("completed", football["id"])]
    assert places_of(database_url, theatre["id"]) == 0  # still full: the waitlisted youth waits
    assert [(r["field"], r["code"]) for r in theirs["not-ours"]["reasons"]] == [("data.activity_id", "not_your_activity")]
    assert places_of(database_url, football["id"]) == 5
    with psycopg.connect(database_url) as conn:  # the directory's own id and unit for the places are kept
        live = directory.service(conn, football["id"])["service_capacity"][0]
    assert (live["id"], live["unit"]) == (football["service_capacity"][0]["id"], {"name": "posti"})
    # the provider's receipt names the participant's code, never the youth; the youth's path has the session
    assert came["status"] == "accepted" and came["subject"] == placed and youth not in json.dumps(came)
    assert (not_theirs["status"], not_theirs["reasons"][0]["code"]) == ("rejected", "unknown_prescription")
    [attended] = [e for e in events if e.type == sp.AttendanceRecorded.type_name]
    assert (attended.subject, attended.data["by"], attended.data["present"]) == (youth, "provider", True)
    # a later import changes the record, not the places the service now keeps
    renamed = football | {"name": "Calcio di strada (nuovo orario)"}
    renamed["service_capacity"] = [football["service_capacity"][0] | {"available": 9}]
    with psycopg.connect(database_url) as conn, conn.transaction():
        directory.import_records(conn, [renamed], datetime.now(timezone.utc))
    with psycopg.connect(database_url) as conn:
        assert directory.service(conn, football["id"])["name"] == "Calcio di strada (nuovo orario)"
    assert places_of(database_url, football["id"]) == 5


async def test_the_outcome_comes_back_on_the_referrers_view_of_the_youths_path(platform, nc, database_url):
    """Closed loop: Milan registers a youth (intake) and refers them; the association prescribes, the
    provider records a session, the prescription is completed. Milan's view of the youth's path
    (views.timeline, what its pages and API read) has each step, and the end says how it went."""
    org = str(uuid.uuid4())
    walk = activity("Gruppo di cammino", term=str(uuid.uuid4()), organization=org, places=4, minimum_age=15,
                    maximum_age=30)
    walk["organization"]["organization_identifiers"] = [{"id": str(uuid.uuid4()), "identifier_scheme": "kit-agency",
                                                         "identifier_type": "KiT platform agency code",
                                                         "identifier": COOP}]
    with psycopg.connect(database_url) as conn, conn.transaction():
        directory.import_records(conn, [walk], datetime.now(timezone.utc))
    js = nc.jetstream()
    prescription, today = str(uuid.uuid4()), datetime.now(timezone.utc).date()
    add_operators(database_url, (MILANO, "key_worker", "giulia"), (AFOL, "key_worker", "marco"))
    async with running(*services(platform.settings, "gateway", "intake", "social_prescribing", "views", "api")):
        youth, referral = await referred_by_milan(js, database_url)
        for agency, id, message in [
            (RETE, "accept", sp.AnswerSocialPrescribingReferral(youth_id=youth, referral_id=referral,
                                                                decision="accepted", link_worker="lw-sara")),
            (RETE, "prescribe", sp.PrescribeActivity(youth_id=youth, prescription_id=prescription,
                                                     activity_id=walk["id"])),
            (RETE, "accompanied", sp.RecordLinkWorkerContact(youth_id=youth, contact_id=str(uuid.uuid4()),
                                                             channel="accompanied_to_activity", outcome="reached",
                                                             occurred_at=datetime.now(timezone.utc))),
            (COOP, "came", sp.RecordAttendance(activity_id=walk["id"], prescription_id=prescription,
                                               session_on=today, present=True)),
            (RETE, "done", sp.EndPrescription(youth_id=youth, prescription_id=prescription, ending="completed")),
        ]:
            await publish_ingest(js, agency, send(agency, message, id))
            answer = await receipt_of(js, agency, id)
            assert answer["status"] == "accepted", answer

        def path() -> list[tuple[str, dict]]:
            with psycopg.connect(database_url) as conn:
                return conn.execute("SELECT type, data FROM views.timeline WHERE youth_id = %s ORDER BY stream_seq,"
                                    " happened_at", (youth,)).fetchall()
        await eventually(lambda: any(t == sp.PrescriptionEnded.type_name for t, _ in path()), timeout=20)
        # the referrer reads the minimum dataset; an agency the youth did not consent to gets no such youth
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{platform.settings.http_port}", timeout=30) as client:
            giulia, marco = [await eventually(lambda u=u: token(client, u), timeout=30) for u in ("giulia", "marco")]
            read = await client.get(f"/api/v1/social_prescribing/youths/{youth}/dataset",
                                    headers={"Authorization": f"Bearer {giulia}"})
            hidden = await client.get(f"/api/v1/social_prescribing/youths/{youth}/dataset",
                                      headers={"Authorization": f"Bearer {marco}"})

    steps = {t: d for t, d in path()}
    assert {sp.SocialPrescribingReferralReceived.type_name, sp.SocialPrescribingReferralAccepted.type_name,
            sp.ActivityPrescribed.type_name, sp.AttendanceRecorded.type_name} <= set(steps)
    assert steps[sp.AttendanceRecorded.type_name]["first_attendance"]
    assert steps[sp.AttendanceRecorded.type_name]["days_from_referral"] == 0
    ended = steps[sp.PrescriptionEnded.type_name]
    assert (ended["ending"], ended["sessions_attended"], ended["sessions_recorded"]) == ("completed", 1, 1)
    assert read.status_code == 200 and hidden.status_code == 404
    found = read.json()
    assert (found["who"]["referred_by"], found["who"]["link_worker"]) == (MILANO, "lw-sara")
    assert found["support_offered"]["activities_completed"] == 1
    assert found["support_offered"]["link_worker_contacts"] == {"recorded": 1, "reached": 1}
    assert found["support_offered"]["activities"][0]["sessions_attended"] == 1
    assert found["outcomes"]["days_from_referral_to_first_activity"] == 0
    with psycopg.connect(database_url) as conn:  # the read is in the access log, under the reader's agency
        logged = conn.execute("SELECT agency, what FROM api.access_log WHERE youth_id = %s", (youth,)).fetchall()
    assert (MILANO, "social prescribing minimum dataset") in logged


async def test_consent_first_a_referral_the_receiver_may_not_see_or_of_a_youth_the_referrer_may_not_see_is_refused(
        platform, nc, database_url):
    js = nc.jetstream()
    async with running(*services(platform.settings, "gateway", "intake", "views", "social_prescribing")):
        await eventually(lambda: consumers_ready(js, {"social_prescribing-commands", "intake-commands"}), timeout=30)
        not_shared = await registered(js, database_url, share_with=None)  # consent to Milan only

        def refer(youth: str) -> sp.ReferToSocialPrescribing:
            return sp.ReferToSocialPrescribing(youth_id=youth, referral_id=str(uuid.uuid4()), to_agency=RETE,
                                               birth_year=2004, reason="isolamento")
        await publish_ingest(js, MILANO, send(MILANO, refer(not_shared), "no-consent"))
        await publish_ingest(js, MILANO, send(MILANO, refer(str(uuid.uuid4())), "nobody"))
        await publish_ingest(js, AFOL, send(AFOL, refer(not_shared), "not-afols"))  # AFOL may not see the youth
        shared = await registered(js, database_url, id="reg-shared")
        await publish_ingest(js, MILANO, send(MILANO, refer(shared).model_copy(update={"birth_year": 2001}),
                                              "wrong-year"))  # registered as born in 2004
        await receipt_of(js, MILANO, "wrong-year")
        got = {r["ingest_id"]: r for r in await receipts(js, MILANO, 5, timeout=30)}
        afol = (await receipts(js, AFOL, 1, timeout=30))[0]
    assert [(r["field"], r["code"]) for r in got["no-consent"]["reasons"]] == [("data.to_agency", "no_consent_to_share")]
    assert [(r["field"], r["code"]) for r in got["nobody"]["reasons"]] == [("data.youth_id", "unknown_youth")]
    assert [(r["field"], r["code"]) for r in afol["reasons"]] == [("data.youth_id", "unknown_youth")]
    assert [(r["field"], r["code"], r["message"]) for r in got["wrong-year"]["reasons"]] == [
        ("data.birth_year", "not_the_registered_birth_year", "the youth is registered as born in 2004")]


async def test_a_link_worker_over_the_caseload_threshold_is_assigned_with_a_notice_and_the_agency_sees_the_loads(
        platform, nc, database_url, monkeypatch):
    monkeypatch.setenv("KIT_LINK_WORKER_CASELOAD", "2")
    with psycopg.connect(database_url) as conn:
        accounts.create_tables(conn)
        accounts.add_operator(conn, agency=RETE, role="supervisor", username="sup-rete", password=PASSWORD)
    js = nc.jetstream()
    settings = platform.settings
    async with running(*services(settings, "gateway", "intake", "views", "social_prescribing", "api")):
        await eventually(lambda: consumers_ready(js, {"social_prescribing-commands", "intake-commands"}), timeout=30)
        answers = []
        for n in range(3):
            youth = await registered(js, database_url, id=f"reg-{n}")
            referral = str(uuid.uuid4())
            await publish_ingest(js, MILANO, send(MILANO, sp.ReferToSocialPrescribing(
                youth_id=youth, referral_id=referral, to_agency=RETE, birth_year=2004, reason="isolamento"),
                f"refer-{n}"))
            await publish_ingest(js, RETE, send(RETE, sp.AnswerSocialPrescribingReferral(
                youth_id=youth, referral_id=referral, decision="accepted", link_worker="lw-sara"), f"accept-{n}"))
            answer = await receipt_of(js, RETE, f"accept-{n}")
            answers.append(answer)

            def counted(expected: int = n + 1) -> bool:
                with psycopg.connect(database_url) as conn:
                    return caseload_of(conn) == expected
            await eventually(counted, timeout=15)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}", timeout=30) as client:
            token_ = await eventually(lambda: token(client, "sup-rete"), timeout=30)
            loads = (await client.get("/api/v1/social_prescribing/caseload",
                                      headers={"Authorization": f"Bearer {token_}"})).json()

    assert [a["status"] for a in answers] == ["accepted"] * 3
    assert [[(n["field"], n["code"]) for n in a["notices"]] for a in answers] == [
        [], [], [("data.link_worker", "caseload_over_threshold")]]  # the third, with 2 already followed
    assert loads == {"agency": RETE, "threshold": 2,
                     "link_workers": [{"link_worker": "lw-sara", "active_youths": 3, "over_threshold": True}]}


def caseload_of(conn) -> int:
    try:
        return conn.execute("SELECT count(*) FROM social_prescribing.cases WHERE active").fetchone()[0]
    except psycopg.errors.UndefinedTable:
        return 0


async def test_a_place_freed_goes_to_the_first_youth_on_the_waitlist(platform, nc, database_url):
    org = str(uuid.uuid4())
    choir = activity("Coro", term=str(uuid.uuid4()), organization=org, places=1, minimum_age=15, maximum_age=30)
    choir["organization"]["organization_identifiers"] = [{"id": str(uuid.uuid4()), "identifier_scheme": "kit-agency",
                                                          "identifier_type": "KiT platform agency code",
                                                          "identifier": COOP}]
    with psycopg.connect(database_url) as conn, conn.transaction():
        directory.import_records(conn, [choir], datetime.now(timezone.utc))
    js = nc.jetstream()
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    async with running(*services(platform.settings, "gateway", "intake", "views", "social_prescribing")):
        await eventually(lambda: consumers_ready(js, {"social_prescribing-commands", "intake-commands"}), timeout=30)
        youths = [await registered(js, database_url, id=f"reg-{n}") for n in range(2)]
        steps = []
        for n, (youth, prescription) in enumerate(zip(youths, (first, second))):
            referral = str(uuid.uuid4())
            steps += [
                (MILANO, f"refer-{n}", sp.ReferToSocialPrescribing(youth_id=youth, referral_id=referral, to_agency=RETE,
                                                                   birth_year=2004, reason="isolamento")),
                (RETE, f"accept-{n}", sp.AnswerSocialPrescribingReferral(youth_id=youth, referral_id=referral,
                                                                         decision="accepted", link_worker="lw-sara")),
                (RETE, f"prescribe-{n}", sp.PrescribeActivity(youth_id=youth, prescription_id=prescription,
                                                              activity_id=choir["id"])),
            ]
        steps += [(RETE, "first-done", sp.EndPrescription(youth_id=youths[0], prescription_id=first,
                                                          ending="completed")),
                  (COOP, "second-came", sp.RecordAttendance(activity_id=choir["id"], prescription_id=second,
                                                            session_on=datetime.now(timezone.utc).date(),
                                                            present=True))]
        for agency, id, message in steps:
            await publish_ingest(js, agency, send(agency, message, id))
            answer = await receipt_of(js, agency, id)
            assert answer["status"] == "accepted", (id, answer)
        await eventually(lambda: places_of(database_url, choir["id"]) == 0, timeout=10)
        events = await stream_events(js, STREAM)

    prescribed = {e.data["prescription_id"]: e.data for e in events if e.type == sp.ActivityPrescribed.type_name}
    assert (prescribed[first]["placed"], prescribed[second]["placed"], prescribed[second]["waitlist_position"]) == (
        True, False, 1)
    [given] = [e for e in events if e.type == sp.WaitlistPlaceGiven.type_name]
    assert (given.subject, given.data["prescription_id"]) == (youths[1], second)  # on the second youth's path
    assert places_of(database_url, choir["id"]) == 0  # the freed place is taken again at once


WORDS = "Mi sento solo da quando ho lasciato la scuola; vorrei suonare con altri."
GOAL_WORDS = "Andare al laboratorio di musica due volte al mese"


async def test_what_matters_and_the_plan_are_sealed_read_by_need_to_know_only_logged_and_erased_with_the_youth(
        platform, nc, database_url):
    """The link worker records the conversation and the plan over the API; the youth's words are in
    no event, stream or table in clear, only under the youth's own vault key. A link worker reads
    them back; a role without need to know gets 403, an agency without consent 404; the read is
    in the access log. Milan erases the youth (intake destroys the key): the words read as erased."""
    js = nc.jetstream()
    goal = str(uuid.uuid4())
    add_operators(database_url, (RETE, "link_worker", "sara"), (RETE, "operator", "piero"),
                  (AFOL, "link_worker", "marco"))
    async with running(*services(platform.settings, "gateway", "intake", "social_prescribing", "views", "api")):
        youth, referral = await referred_by_milan(js, database_url)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{platform.settings.http_port}", timeout=30) as client:
            sara, piero, marco = [{"Authorization": f"Bearer {await eventually(lambda u=u: token(client, u), timeout=30)}"}
                                  for u in ("sara", "piero", "marco")]
            today = datetime.now(timezone.utc).date().isoformat()
            for name, body in [
                ("answer_referral", {"youth_id": youth, "referral_id": referral, "decision": "accepted",
                                     "link_worker": "sara"}),
                ("record_what_matters", {"youth_id": youth, "conversation_id": str(uuid.uuid4()),
                                         "conversation_on": today, "needs": ["loneliness", "arts_and_culture"],
                                         "in_their_words": WORDS}),
                ("agree_plan", {"youth_id": youth, "plan_id": str(uuid.uuid4()), "agreed_on": today,
                                "goals": [{"goal_id": goal, "area": "loneliness", "goal": GOAL_WORDS}]}),
                ("review_goal", {"youth_id": youth, "goal_id": goal, "progress": "some_progress",
                                 "reviewed_on": today}),
            ]:
                answer = await client.post(f"/api/v1/social_prescribing/commands/{name}", json=body, headers=sara)
                assert answer.status_code == 200, answer.text
            url = f"/api/v1/social_prescribing/youths/{youth}/what_matters"

            async def read_back():
                found = (await client.get(url, headers=sara)).json()
                return found if found["plan"]["goals"] and found["plan"]["goals"][0]["progress"] != "not_started" \
                    else None
            opened = await eventually(read_back, timeout=20)
            no_need, no_consent = await client.get(url, headers=piero), await client.get(url, headers=marco)
            dataset = (await client.get(f"/api/v1/social_prescribing/youths/{youth}/dataset", headers=sara)).json()
            # an operator of the same association has no need to know: the areas and goals are withheld
            withheld = (await client.get(f"/api/v1/social_prescribing/youths/{youth}/dataset", headers=piero)).json()
            events = await stream_events(js, STREAM)
            # Milan's data protection contact erases the youth: intake destroys the youth's key
            await publish_ingest(js, MILANO, envelope(
                ev.EraseYouth(youth_id=youth, mode="erasure", legal_reason="Art. 17 request"), agency=MILANO,
                id="erase", kitrole="agency_admin").to_json_bytes())
            assert (await receipt_of(js, MILANO, "erase"))["status"] == "accepted"
            erased = await eventually(lambda: _erased(client, url, sara), timeout=20)

    [conversation] = opened["conversations"]
    assert (conversation["in_their_words"], conversation["needs"]) == (WORDS, ["loneliness", "arts_and_culture"])
    assert [(g["goal"], g["area"], g["progress"]) for g in opened["plan"]["goals"]] == [
        (GOAL_WORDS, "loneliness", "some_progress")]
    assert no_need.status_code == 403 and "need to know" in no_need.json()["detail"]
    assert no_consent.status_code == 404
    assert dataset["needs_and_concerns"]["areas"] == ["loneliness", "arts_and_culture"]
    assert dataset["outcomes"]["goals"] == [{"goal_id": goal, "area": "loneliness", "progress": "some_progress"}]
    assert withheld["needs_and_concerns"]["areas"] == [] and withheld["outcomes"]["goals"] == []
    assert withheld["outcomes"]["withheld_entries"] == 3  # the conversation, the plan, the review
    assert WORDS not in json.dumps([e.data for e in events]) and GOAL_WORDS not in json.dumps([e.data for e in events])
    with psycopg.connect(database_url) as conn:
        for table, row in (("social_prescribing.social_prescribing_events", "convert_from(t.state, 'UTF8')"),
                           ("social_prescribing.youth_words", "t::text"), ("views.timeline", "t::text")):
            dump = conn.execute(f"SELECT string_agg({row}, ' ') FROM {table} t").fetchone()[0] or ""
            assert "musica" not in dump and "solo da quando" not in dump, table
            if table != "views.timeline":  # (the path's data of an erased youth is purged as well)
                assert "loneliness" in dump, table  # readable rows: the areas are coded in clear, the words not
        logged = conn.execute("SELECT agency, what FROM api.access_log WHERE youth_id = %s", (youth,)).fetchall()
    assert (RETE, "social prescribing conversation and plan") in logged
    assert erased["conversations"][0]["in_their_words"] is None and erased["conversations"][0]["erased"]
    assert erased["plan"]["goals"][0]["goal"] is None


async def _erased(client, url: str, headers: dict):
    answer = await client.get(url, headers=headers)
    if answer.status_code == 404:  # an erased youth may be hidden from lists; the words must not open either way
        return {"conversations": [{"in_their_words": None, "erased": True}], "plan": {"goals": [{"goal": None}]}}
    found = answer.json()
    return found if found["conversations"] and found["conversations"][0]["erased"] else None


async def test_a_referral_made_in_intake_reaches_social_prescribing_and_its_answer_goes_back(platform, nc, database_url):
    """Milan refers the youth in intake (its usual referral, service social prescribing): the
    service receives it as Milan's own `refer` (same referral id), Milan's receipts say so; a
    referral in intake to another service is left alone. The association accepts in social
    prescribing, with its link worker: intake's referral is accepted too, by the same operator;
    the youth's first session puts it in progress, the activity completed completes it."""
    js = nc.jetstream()
    to_sp, to_other, prescription = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    walk = activity("Gruppo di cammino", term=str(uuid.uuid4()), organization=str(uuid.uuid4()), places=4,
                    minimum_age=15, maximum_age=30)
    with psycopg.connect(database_url) as conn, conn.transaction():
        directory.import_records(conn, [walk], datetime.now(timezone.utc))
    async with running(*services(platform.settings, "gateway", "intake", "views", "social_prescribing")):
        await eventually(lambda: consumers_ready(js, {"social_prescribing-commands", "intake-commands"}), timeout=30)
        youth = await registered(js, database_url)
        for id, referral, service in (("ask-sp", to_sp, "social_prescribing"), ("ask-other", to_other, "partner_service")):
            await publish_ingest(js, MILANO, envelope(ev.RequestReferral(
                youth_id=youth, referral_id=referral, to_agency=RETE, service=service, reason="isolamento"),
                agency=MILANO, id=id, kitrole="key_worker", kitactor="op-giulia").to_json_bytes())
            assert (await receipt_of(js, MILANO, id))["status"] == "accepted"
        forwarded = await receipt_of(js, MILANO, f"intake-referral-{to_sp}")
        await publish_ingest(js, RETE, envelope(sp.AnswerSocialPrescribingReferral(
            youth_id=youth, referral_id=to_sp, decision="accepted", link_worker="lw-sara"), agency=RETE, id="take",
            kitrole="link_worker", kitactor="op-sara").to_json_bytes())
        assert (await receipt_of(js, RETE, "take"))["status"] == "accepted"
        answered = await receipt_of(js, RETE, f"social-prescribing-answer-{to_sp}")

        async def intake_says_accepted() -> bool:
            return any(e.data["referral_id"] == to_sp and e.data["status"] == "accepted"
                       for e in await stream_events(js, events_stream("intake"))
                       if e.type == ev.ReferralStatusChanged.type_name)
        await eventually(intake_says_accepted, timeout=20)
        for id, message in (
                ("prescribe", sp.PrescribeActivity(youth_id=youth, prescription_id=prescription, activity_id=walk["id"])),
                ("came", sp.RecordAttendance(activity_id=walk["id"], prescription_id=prescription, present=True,
                                             session_on=datetime.now(timezone.utc).date())),
                ("done", sp.EndPrescription(youth_id=youth, prescription_id=prescription, ending="completed"))):
            await publish_ingest(js, RETE, send(RETE, message, id))
            assert (await receipt_of(js, RETE, id))["status"] == "accepted"

        async def intake_says_completed() -> bool:
            return any(e.data["referral_id"] == to_sp and e.data["status"] == "completed"
                       for e in await stream_events(js, events_stream("intake"))
                       if e.type == ev.ReferralStatusChanged.type_name)
        await eventually(intake_says_completed, timeout=20)
        received = [e for e in await stream_events(js, STREAM) if e.type == sp.SocialPrescribingReferralReceived.type_name]
        changes = [e for e in await stream_events(js, events_stream("intake")) if e.type == ev.ReferralStatusChanged.type_name]

    assert forwarded["status"] == "accepted" and answered["status"] == "accepted"
    assert [(e.data["referral_id"], e.data["from_agency"], e.data["to_agency"], e.data["birth_year"]) for e in received
            ] == [(to_sp, MILANO, RETE, 2004)]  # the other service's referral stays in intake
    accepted, started, completed = [e for e in changes if e.data["referral_id"] == to_sp]
    assert (accepted.data["by_agency"], accepted.kitactor, accepted.kitrole) == (RETE, "op-sara", "link_worker")
    assert [(e.data["previous_status"], e.data["status"], e.data["note"]) for e in (started, completed)] == [
        ("accepted", "in-progress", "prima attività frequentata"),
        ("in-progress", "completed", "attività completate: 1 su 1")]


async def test_an_agency_imports_its_own_activities_over_http_all_or_nothing(platform, database_url):
    """The association's admin imports its activities over HTTP: a file with one bad record
    imports nothing and names it; the good file imports; another agency's admin may not replace
    them, nor import an activity whose organisation names another agency; an operator may not
    import at all."""
    add_operators(database_url, (RETE, "agency_admin", "ada-rete"), (COOP, "agency_admin", "ada-coop"),
                  (RETE, "operator", "piero"))
    org = str(uuid.uuid4())
    walk = activity("Gruppo di cammino", term=str(uuid.uuid4()), organization=org, places=4)
    bad = activity("Scacchi", term=str(uuid.uuid4()), organization=org)
    bad["schedules"] = [{"id": str(uuid.uuid4()), "freq": "FORTNIGHTLY"}]
    theirs = activity("Calcio", term=str(uuid.uuid4()), organization=org)
    theirs["organization"]["organization_identifiers"] = [{
        "id": str(uuid.uuid4()), "organization_id": org, "identifier_scheme": "kit-agency",
        "identifier_type": "KiT platform agency code", "identifier": COOP}]
    async with running(*services(platform.settings, "api")):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{platform.settings.http_port}", timeout=30) as client:
            rete, coop, piero = [{"Authorization": f"Bearer {await eventually(lambda u=u: token(client, u), timeout=30)}"}
                                 for u in ("ada-rete", "ada-coop", "piero")]
            url = "/api/v1/social_prescribing/directory"
            one_bad = await client.post(url, json=[walk, bad], headers=rete)
            after_bad = (await client.get("/hsds/services")).json()["total_items"]
            good = await client.post(url, json=[walk], headers=rete)
            replaced = await client.post(url, json=[walk], headers=coop)
            not_ours = await client.post(url, json=[theirs], headers=rete)
            operator = await client.post(url, json=[walk], headers=piero)
            listed = (await client.get("/hsds/services")).json()

    assert one_bad.status_code == 422
    assert one_bad.json() == {"detail": f"record 2 (id {bad['id']}), at $[1].schedules[0].freq: 'FORTNIGHTLY' is not"
                                        " one of ['WEEKLY', 'MONTHLY']",
                              "reasons": [{"field": "$[1].schedules[0].freq", "code": "not_hsds",
                                           "message": "'FORTNIGHTLY' is not one of ['WEEKLY', 'MONTHLY']"}]}
    assert after_bad == 0  # nothing imported
    assert good.status_code == 200 and good.json() == {"imported": 1, "agency": RETE}
    assert [s["name"] for s in listed["contents"]] == ["Gruppo di cammino"]
    assert replaced.status_code == 422 and [(r["field"], r["code"]) for r in replaced.json()["reasons"]] == [
        ("$[0].id", "not_your_activity")]
    assert not_ours.status_code == 422 and COOP in not_ours.json()["reasons"][0]["message"]
    assert operator.status_code == 403
