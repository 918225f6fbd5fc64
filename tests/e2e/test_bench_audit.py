"""`kit bench audit`, run as a process on a small log."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def kit(*args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "entrypoints.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_bench_audit_prints_the_figures_as_json_after_a_successful_verification():
    result = kit("bench", "audit", "--entries", "3000", "--youth-events", "50")
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout)
    assert figures["entries"] == 3000
    assert figures["youth_events"] == 50
    for key in ("checkpoints", "verify_entries_per_s", "baseline_hash_entries_per_s", "verify_vs_baseline",
                "replay_youth_ms", "replay_youth_p95_ms", "build_entries_per_s", "peak_rss_mb", "cpu_count"):
        assert figures[key] > 0, key
    assert len(figures["verify_runs_entries_per_s"]) == len(figures["baseline_hash_runs_entries_per_s"]) == 2
    assert all(rate > 0 for rate in figures["verify_runs_entries_per_s"] + figures["baseline_hash_runs_entries_per_s"])
    assert figures["verify_ok"] is True
    report = figures["verify_report"]
    assert report["ok"] is True and report["problem"] is None
    assert report["entries"] == 3000 and report["checkpoints"] == figures["checkpoints"] > 1
    assert report["unsigned_entries"] == 0
    assert figures["replay_youth_ms"] <= figures["replay_youth_p95_ms"]
