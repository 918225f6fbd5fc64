"""The thin path through the real entry points: `kit up`, `kit users add`, a partner publishing the
checked-in example with plain nats-py (examples/partner_publish.py, as the README says), the HTTP
API; then SIGTERM leaves nothing running, and a restart keeps everything."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nats
import psutil
import pytest

from kit.embedded import free_port, free_ports
from kit.nats_auth import ADMIN_USER, connect, password_of, with_user
from tests.integration.harness import receipts

pytestmark = pytest.mark.e2e
PARTNER_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "partner_publish.py"


def kit(env, *args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "entrypoints.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60, **kw)


class EmbeddedNatsOf:
    """The NATS server a `kit up` embeds: its users' URLs, with the passwords `kit up` generated."""

    def __init__(self, port: int, data_dir: Path):
        self.port, self.data_dir = port, data_dir

    def url(self, user: str = ADMIN_USER) -> str:
        return with_user(f"nats://127.0.0.1:{self.port}", user, password_of(self.data_dir, user))

    async def connect(self, user: str = ADMIN_USER, **options):
        return await connect(self.url(user), **options)


def platform_env(data_dir: Path, **settings: str) -> tuple[dict[str, str], str, EmbeddedNatsOf]:
    """The environment of a `kit up` on free ports with its data in `data_dir` (no KIT_* inherited);
    returns it with the HTTP base URL and its NATS server."""
    http_port, nats_port = free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIT_")}
    env.update(KIT_DATA_DIR=str(data_dir), KIT_HTTP_PORT=str(http_port), KIT_NATS_PORT=str(nats_port), **settings)
    return env, f"http://127.0.0.1:{http_port}", EmbeddedNatsOf(nats_port, data_dir)


def add_users(env, users, password: str = "correct horse battery") -> None:
    for agency, role, username in users:
        added = kit(env, "users", "add", "--agency", agency, "--role", role, "--username", username,
                    "--password", password)
        assert added.returncode == 0, added.stderr


def start_platform(env) -> subprocess.Popen:
    log = open(Path(env["KIT_DATA_DIR"]).parent / "kit-up.log", "a")  # a pipe nobody reads would fill up
    return subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "up"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, text=True)


def wait_healthy(base: str, proc: subprocess.Popen, timeout: float = 30.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert proc.poll() is None, "kit up exited early"
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the platform did not answer /health within 30 s")


def stop_platform(proc: subprocess.Popen, data_dir: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    time.sleep(0.5)
    leftovers = [p for p in psutil.process_iter(["cmdline"])
                 if p.info["cmdline"] and str(data_dir) in " ".join(p.info["cmdline"])]
    leftovers += [p for p in psutil.process_iter(["cmdline", "environ"]) if _env_mentions(p, data_dir)]
    assert leftovers == [], f"processes left after SIGTERM: {[p.info['cmdline'] for p in leftovers]}"


def _child(proc: subprocess.Popen, service: str):
    for child in psutil.Process(proc.pid).children():
        try:
            if child.cmdline()[-2:] == ["run", service]:
                return child
        except psutil.NoSuchProcess:
            pass
    return None


def _env_mentions(process, data_dir: Path) -> bool:
    try:
        return (process.info.get("environ") or {}).get("KIT_DATA_DIR") == str(data_dir)
    except Exception:
        return False


def test_partner_registers_a_youth_and_the_operator_sees_it(tmp_path: Path):
    data_dir = tmp_path / "kit-data"
    env, base, nats_at = platform_env(data_dir)

    proc = start_platform(env)
    try:
        wait_healthy(base, proc)
        add_users(env, [("comune-milano-m7", "key_worker", "giulia"), ("ngo-lugano", "key_worker", "marco")])
        assert kit(env, "users", "add", "--agency", "x", "--role", "wizard", "--username", "u",
                   "--password", "0123456789").returncode == 2

        # the partner connects as its agency's own NATS user (README: `kit nats url`)
        partner_url = kit(env, "nats", "url", "--user", "agency-comune-milano-m7").stdout.strip()
        published = subprocess.run([sys.executable, str(PARTNER_EXAMPLE)], env=env | {"KIT_PARTNER_NATS_URL": partner_url},
                                   capture_output=True, text=True, timeout=60)
        assert published.returncode == 0, published.stderr
        receipt = json.loads(published.stdout.split("\n", 1)[1])
        assert receipt["status"] == "accepted", receipt
        assert receipt == asyncio.run(read_receipt(nats_at))
        assert asyncio.run(what_the_bus_refuses(nats_at, partner_url)) == {
            "without credentials": "refused", "snooping on replies": "refused",
            "forged intake event": "refused", "forged receipt": "refused"}
        assert (data_dir / "nats-users.json").stat().st_mode & 0o777 == 0o600
        youth_id = receipt["subject"]

        token = login(base, "giulia")
        headers = {"Authorization": f"Bearer {token}"}
        record = _eventually_get(f"{base}/api/v1/youths/{youth_id}", headers)
        assert record["partner_case_ref"] == "MI7-2026-0042" and record["registering_agency"] == "comune-milano-m7"
        page = httpx.get(f"{base}/api/v1/youths", headers=headers).json()
        assert page["total"] == 1 and page["items"][0]["youth_id"] == youth_id

        other = {"Authorization": f"Bearer {login(base, 'marco')}"}
        assert httpx.get(f"{base}/api/v1/youths/{youth_id}", headers=other).status_code == 404
        assert httpx.get(f"{base}/api/v1/youths/{youth_id}").status_code == 401
        assert httpx.post(f"{base}/api/v1/token", data={"username": "giulia", "password": "wrong"}).status_code == 401
        assert "/api/v1/token" in httpx.get(f"{base}/openapi.json").json()["paths"]

        # a service that dies is restarted by `kit up`
        views = _child(proc, "views")
        views.kill()
        views.wait(10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (_child(proc, "views") is None or _child(proc, "views").pid == views.pid):
            time.sleep(0.2)
        assert _child(proc, "views") is not None and _child(proc, "views").pid != views.pid
    finally:
        stop_platform(proc, data_dir)

    # a restart keeps everything
    proc = start_platform(env)
    try:
        wait_healthy(base, proc)
        headers = {"Authorization": f"Bearer {login(base, 'giulia')}"}
        assert httpx.get(f"{base}/api/v1/youths/{youth_id}", headers=headers).status_code == 200
    finally:
        stop_platform(proc, data_dir)


async def what_the_bus_refuses(nats_at: EmbeddedNatsOf, partner_url: str) -> dict[str, str]:
    """What the default `kit up` lets a stranger on the machine, and a partner, do on the bus."""
    outcome = {}
    try:
        stranger = await nats.connect(f"nats://127.0.0.1:{nats_at.port}", allow_reconnect=False, connect_timeout=2)
        await stranger.close()
        outcome["without credentials"] = "admitted"
    except Exception as e:
        outcome["without credentials"] = "refused" if "Authorization Violation" in str(e) else repr(e)

    errors = []

    async def on_error(error):
        errors.append(str(error))

    partner = await connect(partner_url, allow_reconnect=False, error_cb=on_error)
    try:
        await partner.subscribe("_INBOX.>")
        await partner.flush()
        await asyncio.sleep(0.3)
        outcome["snooping on replies"] = "refused" if any("_inbox.>" in e for e in errors) else "admitted"
        js = partner.jetstream(timeout=1.0)
        for name, subject in (("forged intake event", "kit.events.intake.consent_recorded.v1"),
                              ("forged receipt", "kit.receipts.ngo-lugano")):
            try:
                await js.publish(subject, b"{}")
                outcome[name] = "stored"
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                outcome[name] = "refused"
    finally:
        await partner.close()
    return outcome


async def read_receipt(nats_at: EmbeddedNatsOf) -> dict:
    """The receipt is retained: a partner that was offline reads it later."""
    nc = await nats_at.connect()
    try:
        [receipt] = await receipts(nc.jetstream(), "comune-milano-m7", 1, timeout=30)
        return receipt
    finally:
        await nc.close()


def login(base: str, username: str) -> str:
    response = httpx.post(f"{base}/api/v1/token", data={"username": username, "password": "correct horse battery"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    return body["access_token"]


def _eventually_get(url: str, headers: dict, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(url, headers=headers)
        if response.status_code == 200:
            return response.json()
        time.sleep(0.1)
    raise AssertionError(f"{url} not visible within {timeout}s: {response.status_code} {response.text}")


def test_with_external_urls_nothing_embedded_is_started(tmp_path: Path, nats_server, database_url):
    data_dir = tmp_path / "kit-data"
    http_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIT_")}
    env.update(KIT_DATA_DIR=str(data_dir), KIT_HTTP_PORT=str(http_port), KIT_NATS_URL=nats_server.url,
               KIT_DATABASE_URL=database_url)
    proc = start_platform(env)
    try:
        wait_healthy(f"http://127.0.0.1:{http_port}", proc)
        assert not (data_dir / "postgres").exists() and not (data_dir / "nats").exists()
        started = {" ".join(p.cmdline()) for p in psutil.Process(proc.pid).children(recursive=True)}
        assert not any("nats-server" in c or "postgres" in c.split()[0] for c in started), started
        assert asyncio.run(_streams(nats_server.url)) >= {"KIT_INGEST", "KIT_RECEIPTS", "KIT_EVENTS_INTAKE"}
    finally:
        stop_platform(proc, data_dir)


async def _streams(url: str) -> set[str]:
    nc = await nats.connect(url)
    try:
        return {s.config.name for s in await nc.jetstream().streams_info()}
    finally:
        await nc.close()
