"""api.latency and api.ttfb on hand-built latency runs (every branch), the terminal view
of a run, and one audit through the CLI against a real delay server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import check as check_in, perfcheck
from perfcheck.checks.api.latency import latency
from perfcheck.checks.api.ttfb import ttfb
from perfcheck.model import CheckResult, Report, Status
from perfcheck.report.terminal import to_text
from perfcheck.runner import judge

APP = Path(__file__).parent / "apps" / "delay_server.py"


def run(p50: float, p95: float | None = None, p99: float | None = None, *, count: int = 200, **extra) -> dict:
    """A run_load result for one endpoint, with TTFB a little under the latency."""
    p95 = p95 if p95 is not None else p50 * 1.2
    p99 = p99 if p99 is not None else p50 * 1.5
    result = {
        "count": count, "errors": 0, "timeouts": 0, "unfinished": 0, "status_counts": {"200": count},
        "error_samples": [], "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "max_ms": p99 * 1.2,
        "mean_ms": p50, "ttfb_p50_ms": p50 * 0.9, "ttfb_p95_ms": p95 * 0.9, "ttfb_p99_ms": p99 * 0.9,
        "sent": count, "achieved_rate": 25.0, "protocol": "HTTP/1.1", "stopped_by": "budget",
        "late_sends": {"count": 0, "p50_ms": 0.05, "p99_ms": 0.1, "max_ms": 0.2},
        "sender_lag_ms": {"p50_ms": 0.0, "p99_ms": 0.02, "max_ms": 0.1},
        "histogram": [{"le_ms": 50.0, "count": count // 2}, {"le_ms": 100.0, "count": count - count // 2}],
    }
    result.update(extra)
    return result


def facts(**endpoints) -> dict:
    return {"http.latency": {"endpoints": {name.replace("_", " /", 1).replace("_", "/"): r for name, r in endpoints.items()},
                             "requests": 200, "rate": 50, "warmup": 10}}


def judged(check, fact_set, **overrides):
    return check.judge(fact_set, {**check.meta.thresholds, **overrides})


def test_fast_endpoints_pass_with_percentiles_per_endpoint_in_the_metrics():
    outcome = judged(latency, facts(GET_api_songs=run(8, 15, 30), GET_health=run(1, 2, 3)))
    assert outcome.status is Status.PASS and outcome.score >= 0.9
    assert outcome.findings == []
    songs = outcome.metrics["endpoints"]["GET /api/songs"]
    assert (songs["p50_ms"], songs["p95_ms"], songs["p99_ms"], songs["count"], songs["errors"]) == (8, 15, 30, 200, 0)
    assert songs["histogram"][0] == {"le_ms": 50.0, "count": 100}
    assert outcome.metrics["targets_ms"] == {"p50_ms": 50, "p95_ms": 100, "p99_ms": 200}
    json.dumps(outcome.metrics)  # the report is JSON
    assert "GET /api/songs" in outcome.summary and "P50 8.0 ms" in outcome.summary


def test_a_slow_endpoint_fails_by_name_with_its_percentiles():
    outcome = judged(latency, facts(GET_api_songs=run(120, 130, 150), GET_health=run(1)))
    assert outcome.status is Status.FAIL and outcome.score < 0.5
    (finding,) = outcome.findings
    assert finding.object == "GET /api/songs" and finding.severity == "fail"
    assert finding.evidence["p50_ms"] == 120 and finding.evidence["target_p50_ms"] == 50
    assert "P50 120 ms" in finding.message and "P50, P95 over budget" in finding.message
    assert finding.fix.applicability.value == "manual"
    # The check is as good as its worst endpoint, however fast the others are.
    assert outcome.score == pytest.approx(outcome.metrics["endpoints"]["GET /api/songs"]["score"], abs=1e-3)


def test_a_tail_a_little_over_budget_warns():
    outcome = judged(latency, facts(GET_api=run(20, 60, 250)))
    assert outcome.status is Status.WARN
    (finding,) = outcome.findings
    assert finding.severity == "warn" and "(P99 over budget)" in finding.message


def test_thresholds_can_be_loosened_in_the_config():
    outcome = judged(latency, facts(GET_api=run(120, 130, 150)), p50_ms=200, p95_ms=400, p99_ms=800)
    assert outcome.status is Status.PASS and not outcome.findings


@pytest.mark.parametrize("errors, severity", [(20, "fail"), (1, "warn")])
def test_failed_requests_are_findings_and_cost_score(errors, severity):
    slow = run(5, count=200 - errors, errors=errors, error_samples=["connection refused"])
    outcome = judged(latency, facts(GET_api=slow))
    (finding,) = outcome.findings
    assert finding.severity == severity and finding.object == "GET /api"
    assert f"{errors} of 200 requests failed" in finding.message and "connection refused" in finding.message
    weighted = judged(latency, facts(GET_api=run(5))).score * (1 - errors / 200)
    if severity == "fail":  # 10 % failed: the check fails with its finding, not a 0.9 "pass" beside it
        assert outcome.status is Status.FAIL and outcome.score == pytest.approx(min(weighted, 0.49), abs=1e-3)
    else:
        assert outcome.status is not Status.FAIL and outcome.score == pytest.approx(weighted, abs=1e-3)


def test_server_errors_and_timeouts_count_as_failures():
    broken = run(5, count=190, timeouts=10, status_counts={"200": 150, "503": 40})
    (finding,) = judged(latency, facts(GET_api=broken)).findings
    assert "50 of 200 requests failed" in finding.message and "10 timeouts" in finding.message and "40 × 503" in finding.message
    assert finding.evidence["server_errors"] == 40


def test_an_endpoint_that_never_answers_fails_and_the_rest_are_still_judged():
    dead = run(5, count=0, errors=30, error_samples=["connection refused"], status_counts={},
               p50_ms=None, p95_ms=None, p99_ms=None, max_ms=None, ttfb_p50_ms=None, ttfb_p95_ms=None, ttfb_p99_ms=None)
    outcome = judged(latency, facts(GET_dead=dead, GET_api=run(5)))
    assert outcome.status is Status.FAIL and outcome.score == 0
    (finding,) = outcome.findings
    assert finding.object == "GET /dead" and "no answer to any of 30 requests (connection refused)" in finding.message
    assert "worst GET /dead: no answer" in outcome.summary
    # api.ttfb judges the endpoints that answered; failures are api.latency's to report.
    first_byte = judged(ttfb, facts(GET_dead=dead, GET_api=run(5)))
    assert first_byte.status is Status.PASS and "GET /dead" not in first_byte.metrics["endpoints"]
    assert judged(ttfb, facts(GET_dead=dead)).status is Status.ERROR


def test_notes_for_error_only_answers_a_lagging_generator_and_the_duration_cap():
    odd = run(3, status_counts={"401": 200}, sender_lag_ms={"p50_ms": 1, "p99_ms": 12.0, "max_ms": 30},
              stopped_by="max_seconds", sent=120)
    outcome = judged(latency, facts(GET_api=odd))
    assert outcome.status is Status.PASS  # notes, not failures
    messages = [f.message for f in outcome.findings]
    assert all(f.severity == "info" for f in outcome.findings) and len(messages) == 3
    assert "client error (401)" in messages[0] and "after 120 requests" in messages[1] and "12 ms late" in messages[2]


def test_a_lagging_generator_is_one_note_for_the_whole_run_not_one_per_endpoint():
    lag = {"p50_ms": 1, "p99_ms": 12.0, "max_ms": 30}
    runs = {f"GET_e{i}": run(3, sender_lag_ms={**lag, "p99_ms": 10.0 + i}) for i in range(6)}
    notes = [f for f in judged(latency, facts(**runs)).findings if "load generator" in f.message]
    assert len(notes) == 1 and notes[0].object == "load generator"
    assert "up to 15 ms late at P99 on 6 of 6 endpoints (worst: GET /e5)" in notes[0].message


def test_a_note_when_requests_queued_for_a_free_connection():
    queued = run(40, 150, 300, late_sends={"count": 50, "p50_ms": 0.1, "p99_ms": 240.0, "max_ms": 260.0})
    notes = [f for f in judged(latency, facts(GET_api=queued)).findings if f.severity == "info"]
    assert len(notes) == 1 and "waited up to 240 ms (P99) for a free connection" in notes[0].message


def test_no_endpoints_is_an_error():
    empty = {"http.latency": {"endpoints": {}}}
    assert judged(latency, empty).status is Status.ERROR
    assert judged(ttfb, empty).status is Status.ERROR


def test_ttfb_judges_the_chosen_percentile():
    slow_tail = run(20, 150, 200)  # TTFB P50 18 ms, P95 135 ms
    assert judged(ttfb, facts(GET_api=slow_tail)).status is Status.PASS
    outcome = judged(ttfb, facts(GET_api=slow_tail), percentile=95)
    assert outcome.status is Status.FAIL
    (finding,) = outcome.findings
    assert finding.object == "GET /api" and finding.evidence["ttfb_p95_ms"] == 135 and "TTFB P95 135 ms" in finding.message
    assert outcome.metrics["endpoints"]["GET /api"]["ttfb_p95_ms"] == 135
    assert judged(ttfb, facts(GET_api=slow_tail), percentile=75).status is Status.ERROR


def test_an_unavailable_run_reaches_the_check_as_its_reason():
    from perfcheck.collectors import Unavailable

    outcome = judge(latency, {"http.latency": Unavailable("the request budget is spent")}, latency.meta.thresholds, [])
    assert outcome.status is Status.ERROR and outcome.summary == "the request budget is spent"


def test_the_terminal_shows_percentiles_against_targets_and_a_histogram():
    outcome = judged(latency, facts(GET_api_songs=run(120, 130, 150), GET_health=run(1)))
    result = CheckResult("api.latency", "api", "http", latency.meta.failure_title, outcome.status, outcome.score,
                         outcome.summary, outcome.metrics, outcome.findings, latency.meta.weight)
    text = to_text(Report(score=40, categories=[], checks=[result]))
    table = text[text.index("endpoint"):]
    assert "P50 <50" in table and "P95 <100" in table and "P99 <200" in table
    assert table.index("GET /api/songs") < table.index("GET /health")  # worst first
    assert "120 ms" in table and "latency histogram of GET /api/songs (200 requests)" in table
    assert "≤ 100 ms" in table and "█" in table
    # A passing run still shows its table, under the one-line summary.
    fine = judged(latency, facts(GET_health=run(1)))
    passed = CheckResult("api.latency", "api", "http", latency.meta.title, fine.status, fine.score, fine.summary, fine.metrics)
    assert "P50 <50" in to_text(Report(score=100, categories=[], checks=[passed]))


@pytest.fixture(scope="module")
def delay_server():
    proc = subprocess.Popen([sys.executable, str(APP)], stdout=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{int(proc.stdout.readline())}"
    finally:
        proc.kill()
        proc.wait()


def test_an_audit_reports_the_slow_endpoint_by_name(delay_server, tmp_path):
    config = tmp_path / "perfcheck.yaml"
    config.write_text(
        "http:\n"
        "  health_path: ''\n  metrics_path: ''\n  socketio_path: ''\n  discover_assets: false\n"
        "  endpoints:\n"
        "    - {name: GET /delay/120, path: /delay/120, kind: api}\n"
        "    - {name: GET /delay/1, path: /delay/1, kind: api}\n"
        "  load: {requests: 20, rate: 40, warmup: 2, concurrency: 10, max_seconds: 5}\n")
    audit = perfcheck("audit", "--url", delay_server, "--config", str(config), "--only", "api.latency", "--only", "api.ttfb",
                      "--format", "json")
    assert audit.code in (0, 1), audit.err
    report = audit.json
    slow = check_in(report, "api.latency")
    assert slow["status"] == "fail", slow
    (finding,) = [f for f in slow["findings"] if f["severity"] != "info"]
    assert finding["object"] == "GET /delay/120" and 120 <= finding["evidence"]["p50_ms"] <= 135, finding
    fast = slow["metrics"]["endpoints"]["GET /delay/1"]
    assert fast["count"] == 20 and fast["p50_ms"] < 25, fast
    assert check_in(report, "api.ttfb")["status"] == "fail", check_in(report, "api.ttfb")
    terminal = perfcheck("audit", "--url", delay_server, "--config", str(config), "--only", "api.latency")
    assert "P50 <50" in terminal.out and "latency histogram of GET /delay/120" in terminal.out, terminal.out + terminal.err


def test_the_latency_run_reports_its_progress_to_the_display(delay_server, tmp_path):
    from perfcheck import config as config_mod
    from perfcheck.registry import load_checks
    from perfcheck.runner import Progress, run_audit

    config = tmp_path / "perfcheck.yaml"
    config.write_text(
        "http:\n"
        "  health_path: ''\n  metrics_path: ''\n  socketio_path: ''\n  discover_assets: false\n"
        "  endpoints: [{name: GET /delay/1, path: /delay/1, kind: api}]\n"
        "  load: {requests: 30, rate: 60, warmup: 0, concurrency: 4, max_seconds: 5}\n")
    cfg = config_mod.load(str(config), targets={"url": delay_server}, only=["api.latency"], environ={})
    seen = []
    report = run_audit(cfg, load_checks().checks, Progress(detail=lambda *call: seen.append(call)))
    assert report.check("api.latency").status.judged
    assert seen[-1] == ("http", "http.latency", 30, 30) and len(seen) >= 3  # advances during the run
