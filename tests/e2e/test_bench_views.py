"""`kit bench views`, run as a process on a small stream and a short load."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def kit(*args, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "entrypoints.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_bench_views_prints_rebuild_and_read_figures_as_json_without_errors():
    result = kit("bench", "views", "--events", "3000", "--clients", "4", "--seconds", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout)
    assert figures["events"] == 3000
    assert figures["clients"] == 4
    for key in ("youths", "rebuild_events_per_s", "baseline_copy_events_per_s", "rebuild_vs_baseline",
                "caseload_p50_ms", "caseload_p95_ms", "caseload_p99_ms", "caseload_requests",
                "timeline_p50_ms", "timeline_p95_ms", "timeline_p99_ms", "timeline_requests",
                "peak_rss_mb", "cpu_count"):
        assert figures[key] > 0, key
    assert figures["errors"] == figures["caseload_errors"] == figures["timeline_errors"] == 0, (
        figures["caseload"]["first_error"], figures["timeline"]["first_error"])
    assert set(figures["rebuild_projections"]) >= {"youth_directory", "timeline"}
    # a realistic mix: every kind of step of a youth's path is in the stream, contacts the most
    mix = figures["event_mix"]
    for kind in ("registered", "consent_case_management", "consent_sharing", "assessed", "vulnerabilities",
                 "case_opened", "project", "contact", "referral", "referral_status"):
        assert mix.get(kind, 0) > 0, kind
    assert max(mix, key=mix.get) == "contact"
    assert sum(mix.values()) == 3000
    assert 2 <= len(figures["operators"]) <= 3
    assert len({o["agency"] for o in figures["operators"]}) == len(figures["operators"])
    assert all(o["role"] == "key_worker" and o["visible_youths"] > 0 for o in figures["operators"])
    assert figures["caseload_p50_ms"] <= figures["caseload_p95_ms"] <= figures["caseload_p99_ms"]
    assert figures["timeline_p50_ms"] <= figures["timeline_p95_ms"] <= figures["timeline_p99_ms"]
    # where each request's CPU went: the API, PostgreSQL, the client threads; all of it spent somewhere
    for run in ("caseload", "timeline", "landing", "caseload_search", "youth_page"):
        spent = figures[f"{run}_cpu_ms_per_request"]
        assert set(spent) == {"api", "postgres", "client"} and spent["api"] > 0 and spent["postgres"] > 0, (run, spent)
    # every read is in the access log
    assert figures["access_log_rows"] >= figures["caseload_requests"] + figures["timeline_requests"]
    flood = figures["sign_in_flood"]  # every token issued (or told to retry), /health answered meanwhile
    assert flood["tokens_issued"] + flood["busy_503"] == flood["token_requests"] == 50
    assert flood["health_during_p50_ms"] > 0 and flood["api_rss_peak_mb"] >= flood["api_rss_before_mb"] > 0
