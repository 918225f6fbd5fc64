"""`kit up --demo`, from outside: the platform seeds synthetic youths through its own commands, and
operators see every stage of the path over HTTP: registered, assessed, Project of Life, contacts,
referrals in every state (both ends), lost-contact alerts, closure; the auditor replays follow-ups
and outreach-only engagements. Each demo user the output names first finds something waiting at
the first sign-in, with the default alert interval. A second seed sends nothing and changes nothing."""

import asyncio
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from entrypoints import demo
from tests.e2e.test_thin_path import EmbeddedNatsOf, platform_env, stop_platform, wait_healthy

pytestmark = pytest.mark.e2e
YOUTHS = 40


def start_demo_platform(env) -> subprocess.Popen:
    log = open(Path(env["KIT_DATA_DIR"]).parent / "kit-up.log", "a")  # as test_thin_path.start_platform
    return subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "up", "--demo"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, text=True)


def wait_seeded(log_path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "kit up exited early"
        for line in log_path.read_text().splitlines():
            assert "seeding FAILED" not in line, log_path.read_text()[-3000:]
            if line.startswith("demo: seeding finished"):
                return json.loads(line.split(": ", 2)[2])
        time.sleep(0.2)
    raise AssertionError(f"the demo was not seeded within {timeout} s:\n{log_path.read_text()[-3000:]}")


class Operator:
    def __init__(self, base: str, username: str):
        response = httpx.post(f"{base}/api/v1/token", data={"username": username, "password": demo.DEMO_PASSWORD})
        assert response.status_code == 200, f"{username}: {response.text}"
        self.username = username
        self.base, self.headers = base, {"Authorization": f"Bearer {response.json()['access_token']}"}

    def get(self, path: str):
        response = httpx.get(f"{self.base}{path}", headers=self.headers, timeout=30)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
        return response.json()

    def caseload(self) -> list[dict]:
        page = self.get("/api/v1/youths?limit=200")
        assert page["total"] <= 200
        return page["items"]


def eventually(check, timeout: float = 20.0):
    """check() until it returns without AssertionError (views and the scheduler lag a little)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def test_kit_up_demo_seeds_every_stage_of_the_path_and_operators_see_it(tmp_path: Path):
    data_dir = tmp_path / "kit-data"
    env, base, nats_at = platform_env(data_dir, KIT_DEMO_YOUTHS=str(YOUTHS))  # the default alert interval (300 s)
    planned = demo.plan(YOUTHS)
    expected = demo.summary(planned)
    proc = start_demo_platform(env)
    try:
        wait_healthy(base, proc)
        counts = wait_seeded(tmp_path / "kit-up.log", proc)
        assert counts["commands_sent"] == counts["commands"] > 0 and counts["commands_already_answered"] == 0
        assert {k: counts[k] for k in expected} == expected
        assert set(expected["stages"]) == {"outreach_only", "registered_only", "assessed", "project_of_life",
                                           "referred", "lost_contact", "closed"}
        assert set(expected["referrals"]) >= {"requested", "accepted", "in-progress", "completed", "rejected"}
        log = (tmp_path / "kit-up.log").read_text()
        assert demo.DEMO_PASSWORD in log and "giulia.mi7" in log  # the credentials are printed
        # the web app's address comes first, then the demo users, each with what waits for them
        assert log.index(f"Web app:  {base}/") < log.index("API docs:") < log.index(f"sign in at {base}/")
        named = log.split(f"sign in at {base}/", 1)[1]
        for username in demo.START_HERE:
            assert f"{username}  ·  {demo.operator(username).role}  ·  {demo.operator(username).agency}" in named
        assert all(y.case_ref in named for y in planned if y.key in demo.SHOWCASE)

        # a key worker sees her agency's youths (only with consent in force: all of them here)
        giulia = Operator(base, "giulia.mi7")
        mine = [y for y in planned if y.registered and y.agency == "comune-milano-m7"]
        caseload = eventually(lambda: _at_least(giulia.caseload(), len(mine)))
        refs = {y["partner_case_ref"] for y in caseload}
        assert {y.case_ref for y in mine} <= refs
        assert any(y.get("key_worker") == "giulia.mi7" for y in caseload)

        # each named demo user has something waiting (the lost-contact alert without waiting for a scan)
        eventually(lambda: _waiting_for_each_named_user(base, planned, counts["showcase"]), timeout=30)

        # every stage, as the registering agencies' key workers see it
        youths = eventually(lambda: _every_stage(base, planned, expected))
        by_ref = {y["partner_case_ref"]: y for y in youths}

        # referrals in every state, at both ends: the receiver's inbox, the referrer's sent list
        for to in sorted({y.referral[0] for y in planned if y.referral}):
            want = sorted((s.fields["referral_id"], y.referral[2]) for y in planned if y.referral and y.referral[0] == to
                          for s in y.steps if s.name == "referral")
            receiver = Operator(base, demo.case_operator(to).username)
            eventually(lambda: _referrals(receiver, "inbox", want))
        luca = Operator(base, "luca.afol")
        assert luca.get("/api/v1/referrals?direction=inbox"), "the IPS specialist's inbox is empty"
        sent = eventually(lambda: _referrals(giulia, "sent", sorted(
            (s.fields["referral_id"], y.referral[2]) for y in mine if y.referral for s in y.steps if s.name == "referral")))
        assert sent or not any(y.referral for y in mine)

        # the auditor replays what the API lists do not show: follow-ups after the exit, and the
        # engagements of youths met only under a nickname (never registered)
        anna = Operator(base, "anna.audit")
        followed = [y for y in planned if y.follow_ups]
        assert followed
        for y in followed:
            youth_id = by_ref[_case_ref(y)]["youth_id"]
            eventually(lambda: _has_type(anna.get(f"/api/v1/audit/youths/{youth_id}/path"),
                                         "kit.intake.follow_up_recorded.v1"))
        receipts = asyncio.run(demo_receipts(nats_at))
        assert receipts and all(r["status"] == "accepted" for r in receipts.values())
        outreach_only = [y for y in planned if y.stage == "outreach"]
        assert outreach_only
        for y in outreach_only:
            engagement = receipts[(y.agency, f"demo-{y.key}-outreach-1")]["subject"]
            path = eventually(lambda: _has_type(anna.get(f"/api/v1/audit/youths/{engagement}/path"),
                                                "kit.intake.outreach_contact_recorded.v1"))
            assert {step["type"] for step in path} == {"kit.intake.outreach_contact_recorded.v1"}
            assert engagement not in {v["youth_id"] for v in youths}

        # seeding again is idempotent and fast: everything was answered, nothing is sent
        again = subprocess.run([sys.executable, "-m", "entrypoints.demo", "--youths", str(YOUTHS)], env=env,
                               capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
        second = json.loads(again.stdout.split("demo: seeding finished", 1)[1].split(": ", 1)[1])
        assert second["commands_sent"] == 0 and second["operators_created"] == 0
        assert second["commands_already_answered"] == counts["commands"] and second["seconds"] < 10
        assert len({y["youth_id"] for y in giulia.caseload()}) == len(caseload)
    finally:
        stop_platform(proc, data_dir)


def _case_ref(y: demo.Youth) -> str:
    return next(s.fields["partner_case_ref"] for s in y.steps if s.name == "register")


def _waiting_for_each_named_user(base: str, planned: list[demo.Youth], showcase: dict[str, str]) -> None:
    """What the demo output promises each named user, read over HTTP as that user."""
    ids = {y.key: showcase[y.case_ref] for y in planned if y.key in demo.SHOWCASE}
    referral = {y.key: next(s.fields["referral_id"] for s in y.steps if s.name == "referral")
                for y in planned if y.key in demo.SHOWCASE and y.referral}
    giulia, sara, luca, elena, anna, bianca = (Operator(base, username) for username in demo.START_HERE)
    assert (giulia.username, sara.username, anna.username, bianca.username) == (
        "giulia.mi7", "sara.mi7", "anna.audit", "bianca.rete")

    # the key workers and the supervisor: a contact due, lost contact, an overdue review, a follow-up due
    due = {("contact_due", ids["w01"]), ("lost_contact", ids["w03"]), ("review_overdue", ids["w02"]),
           ("follow_up_due", ids["w04"])}
    for operator, expected in ((giulia, due), (sara, due), (elena, {("contact_due", ids["w06"])})):
        alerts = {(a["kind"], a["youth_id"]) for a in operator.get("/api/v1/alerts")}
        assert expected <= alerts, (operator.username, expected - alerts)
    # referrals waiting in the inbox of Municipio 7 and of AFOL; each followed as sent by its referrer
    for operator, key, direction in ((giulia, "w06", "inbox"), (sara, "w06", "inbox"), (luca, "w05", "inbox"),
                                     (giulia, "w05", "sent"), (elena, "w06", "sent")):
        referrals = {(r["referral_id"], r["status"]) for r in operator.get(f"/api/v1/referrals?direction={direction}")}
        assert (referral[key], "requested") in referrals, (operator.username, direction)
    # contacts due: the cadence recorded, the last contact longer ago than it, not (yet) lost
    for operator, key, every in ((giulia, "w01", 7), (elena, "w06", 14)):
        record = operator.get(f"/api/v1/youths/{ids[key]}")
        assert record["key_worker"] == operator.username and not record["lost_contact"]
        assert datetime.now(timezone.utc) - datetime.fromisoformat(record["last_contact_at"]) > timedelta(days=every)
        timeline = operator.get(f"/api/v1/youths/{ids[key]}/timeline")
        assert any((entry.get("data") or {}).get("every_days") == every for entry in timeline), key
    # the auditor replays a whole path, to the exit
    _has_type(anna.get(f"/api/v1/audit/youths/{ids['w04']}/path"), "kit.intake.case_closed.v1")
    # the link worker: social prescribing at every stage, and the directory of activities
    stages = {key: bianca.get(f"/api/v1/social_prescribing/youths/{ids[key]}/dataset")
              for key in ("w07", "w08", "w09", "w10", "w11")}
    assert stages["w07"]["who"]["referred_by"] == "comune-milano-m7" and "referral_status" not in stages["w07"]["who"]
    assert stages["w08"]["who"]["referral_status"] == "accepted"
    assert stages["w08"]["needs_and_concerns"]["what_matters_conversations"] == 1
    [waiting] = stages["w09"]["support_offered"]["activities"]
    assert not waiting["placed"] and waiting["waitlist_position"] >= 1 and len(stages["w09"]["outcomes"]["goals"]) == 2
    [running] = stages["w10"]["support_offered"]["activities"]
    assert running["placed"] and running["sessions_attended"] == 1 and running["ending"] is None
    [done] = stages["w11"]["support_offered"]["activities"]
    assert done["ending"] == "completed" and stages["w11"]["outcomes"]["goals_achieved"] == 1
    assert stages["w11"]["outcomes"]["wellbeing"][0]["latest"]["change"]
    words = bianca.get(f"/api/v1/social_prescribing/youths/{ids['w08']}/what_matters")
    assert words["conversations"][0]["in_their_words"]  # the youth's words, opened for the link worker
    assert bianca.get("/hsds/services?per_page=1")["total_items"] == 12


def _at_least(items: list, n: int) -> list:
    assert len(items) >= n, f"{len(items)} < {n}"
    return items


def _every_stage(base: str, planned: list[demo.Youth], expected: dict) -> list[dict]:
    seen: dict[str, dict] = {}
    for agency in sorted({y.agency for y in planned if y.registered}):
        for youth in Operator(base, demo.key_workers(agency)[0].username).caseload():
            seen[youth["youth_id"]] = youth
    youths = list(seen.values())
    assert len(youths) == expected["registered"]
    assert sorted(y["partner_case_ref"] for y in youths) == sorted(_case_ref(y) for y in planned if y.registered)
    stages = expected["stages"]
    open_ = [y for y in youths if not y.get("closed_on")]
    assert sum(1 for y in open_ if not y.get("lead_agency")) == stages["registered_only"]
    assert sum(1 for y in open_ if y.get("lead_agency") and not y.get("project_version")) == stages["assessed"]
    assert sum(1 for y in youths if y.get("project_version")) == expected["projects_of_life"]
    assert sum(1 for y in youths if y.get("key_worker") in {o.username for o in demo.OPERATORS}) == expected["assessed_total"]
    assert sum(1 for y in youths if y.get("last_contact_at")) == expected["assessed_total"]  # contacts from the assessment on
    assert sum(1 for y in open_ if y.get("lost_contact")) == stages["lost_contact"]  # raised by the scheduler
    closed = [y for y in youths if y.get("closed_on")]
    assert len(closed) == stages["closed"] and all(y.get("destination") for y in closed)
    assert all(y.get("first_contact_at") for y in youths)  # each path's start (declared, or the first outreach)
    return youths


def _referrals(operator: Operator, direction: str, want: list[tuple[str, str]]) -> list[dict]:
    got = operator.get(f"/api/v1/referrals?direction={direction}")
    assert sorted((r["referral_id"], r["status"]) for r in got) == want
    return got


def _has_type(path: list[dict], type_name: str) -> list[dict]:
    assert any(step.get("type") == type_name for step in path), [step.get("type") for step in path]
    return path


async def demo_receipts(nats_at: EmbeddedNatsOf) -> dict[tuple[str, str], dict]:
    """Every demo receipt kept on kit.receipts.<agency> (one ordered consumer over all agencies)."""
    nc = await nats_at.connect()
    found: dict[tuple[str, str], dict] = {}
    try:
        js = nc.jetstream()
        last = (await js.stream_info("KIT_RECEIPTS")).state.last_seq
        sub = await js.subscribe("kit.receipts.>", ordered_consumer=True)
        try:
            while True:
                msg = await sub.next_msg(timeout=10)
                receipt = json.loads(msg.data)
                if receipt["ingest_id"].startswith("demo-"):
                    found[(receipt["agency"], receipt["ingest_id"])] = receipt
                if msg.metadata.sequence.stream >= last:
                    break
        finally:
            await sub.unsubscribe()
    finally:
        await nc.close()
    return found
