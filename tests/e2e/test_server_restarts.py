"""`kit up` keeps its embedded servers running: a SIGKILLed nats-server or PostgreSQL is started
again, the services find it again, and partners' messages flow as before."""

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from events.builders import register_youth
from kit import partner
from kit.embedded import wait_for_port
from tests.e2e.test_thin_path import (EmbeddedNatsOf, add_users, login, platform_env, start_platform, stop_platform,
                                      wait_healthy)
from tests.integration.harness import receipts

pytestmark = pytest.mark.e2e
AGENCY = "comune-milano-m7"


def nats_server_of(proc) -> psutil.Process | None:
    for child in psutil.Process(proc.pid).children():
        if child.is_running() and child.status() != psutil.STATUS_ZOMBIE and "nats-server" in child.name():
            return child
    return None


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])


def replaced(old: int, current, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid = current()
        except (OSError, ValueError, IndexError, AttributeError):  # not (yet) there
            pid = None
        if pid and pid != old and psutil.pid_exists(pid):
            return pid
        time.sleep(0.2)
    raise AssertionError(f"process {old} was not replaced within {timeout} s")


async def registered(nats_at: EmbeddedNatsOf) -> dict:
    """A partner registers a youth (its own NATS user); its receipt, read as the admin."""
    message = register_youth(AGENCY)
    nc = await partner.connect(nats_at.url(f"agency-{AGENCY}"), AGENCY)
    admin = await nats_at.connect()
    try:
        for _ in range(100):  # the services may still be reconnecting: the publish is retried
            try:
                await partner.publish(nc.jetstream(timeout=2.0), AGENCY, message.to_json_bytes())
                break
            except Exception:
                await asyncio.sleep(0.3)
        found = await receipts(admin.jetstream(), AGENCY, 1000, timeout=60,
                               until=lambda got: any(r["ingest_id"] == message.id for r in got))
        mine = [r for r in found if r["ingest_id"] == message.id]
        assert mine, f"no receipt for {message.id} within 60 s"
        return mine[0]
    finally:
        await nc.close()
        await admin.close()


def test_a_killed_nats_server_or_postgresql_is_started_again_and_nothing_stops(tmp_path: Path):
    data_dir = tmp_path / "kit-data"
    env, base, nats_at = platform_env(data_dir)
    proc = start_platform(env)
    try:
        wait_healthy(base, proc)
        add_users(env, [(AGENCY, "key_worker", "giulia")])
        assert asyncio.run(registered(nats_at))["status"] == "accepted"

        # nats-server SIGKILLed: started again (not left a zombie), and ingest flows again
        server = nats_server_of(proc)
        server.send_signal(signal.SIGKILL)
        replaced(server.pid, lambda: nats_server_of(proc).pid)
        wait_for_port(nats_at.port)
        after_nats = asyncio.run(registered(nats_at))
        assert after_nats["status"] == "accepted"

        # PostgreSQL (outside the process tree) SIGKILLed: noticed, started again
        postmaster = postmaster_pid(data_dir)
        os.kill(postmaster, signal.SIGKILL)
        replaced(postmaster, lambda: postmaster_pid(data_dir))
        after_postgres = asyncio.run(registered(nats_at))
        assert after_postgres["status"] == "accepted"

        headers = {"Authorization": f"Bearer {login(base, 'giulia')}"}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            page = httpx.get(f"{base}/api/v1/youths", headers=headers, timeout=10).json()
            if page["total"] == 3:
                break
            time.sleep(0.3)
        assert page["total"] == 3
        assert "restarting" in (tmp_path / "kit-up.log").read_text()
    finally:
        stop_platform(proc, data_dir)
