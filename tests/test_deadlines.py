"""Never hang: every HTTP answer has a wall-clock deadline, the whole audit a time budget
(--max-seconds, max_seconds: in the config), Ctrl-C and SIGTERM stop it at once, and a
1 GB body is read no further than its cap. Against real hostile servers
(tests/hostile_servers.py), each bounded in seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import check
from hostile import assert_clean, run_bounded
from hostile_servers import HostileServer

from perfcheck.demo.sandbox import free_port


def write(tmp_path, text: str) -> str:
    path = tmp_path / "perfcheck.yaml"
    path.write_text(text)
    return str(path)


def test_a_server_dripping_a_byte_a_second_is_error_and_the_rest_of_the_audit_goes_on(tmp_path):
    # Each read gets a byte within the second, so a per-read timeout alone never fires.
    config = write(tmp_path, "http:\n  timeout_s: 1\n")
    with HostileServer("drip", paths=("/health", "/metrics")) as server:
        run, seconds = run_bounded("audit", "--url", server.url, "--config", config, "--format", "json",
                                   "--only", "mon.health", "--only", "mon.metrics", "--only", "api.cors", seconds=20)
    assert_clean(run, code=0)
    report = run.json
    for check_id, path in (("mon.health", "/health"), ("mon.metrics", "/metrics")):
        result = check(report, check_id)
        assert result["status"] == "error"
        assert f"{path}: the answer did not finish within 1 s (http.timeout_s)" in result["summary"]
    assert check(report, "api.cors")["status"] == "pass"
    assert seconds < 10


def test_a_port_that_accepts_and_never_answers_is_a_one_line_error(tmp_path):
    config = write(tmp_path, "http:\n  timeout_s: 1\n")
    with HostileServer("silent") as server:
        run, seconds = run_bounded("audit", "--url", server.url, "--config", config, "--format", "json", seconds=15)
    assert_clean(run, code=2)
    assert f"cannot audit {server.url}: the answer did not finish within 1 s (http.timeout_s)" in run.err
    assert run.out == "" and seconds < 8


def test_max_seconds_ends_an_audit_of_a_slow_target_on_time_with_the_report(tmp_path):
    # /health never answers and http.timeout_s is the default 10 s: only the audit's budget
    # can end it; the latency run shrinks to fit in what is left.
    config = write(tmp_path, "http:\n  load: {requests: 20, warmup: 2, rate: 20}\n")
    with HostileServer("silent", paths=("/health",)) as server:
        run, seconds = run_bounded("audit", "--url", server.url, "--config", config, "--format", "json",
                                   "--max-seconds", "5", "--skip", "realtime", seconds=20)
    assert_clean(run, code=(0, 1))
    assert seconds < 7, f"took {seconds:.1f} s"
    report = run.json
    health = check(report, "mon.health")
    assert health["status"] == "error"
    assert "did not finish within" in health["summary"] and "max_seconds" in health["summary"]
    assert check(report, "api.cors")["status"] == "pass"  # gathered before the time ran out


def test_a_target_that_never_answers_within_max_seconds_is_error_and_the_report_still_comes_out():
    # Not "cannot reach the target" (exit 2): it accepted the connection, and ran out of time.
    with HostileServer("silent") as server:
        run, seconds = run_bounded("audit", "--url", server.url, "--format", "json", "--max-seconds", "3",
                                   "--only", "api", "--only", "monitoring", seconds=15)
    assert_clean(run, code=0)
    assert seconds < 5, f"took {seconds:.1f} s"
    report = run.json
    http_checks = [c for c in report["checks"] if c["target"] == "http" and c["status"] != "manual"]
    assert http_checks and all(c["status"] == "error" for c in http_checks)
    assert {c["summary"] for c in http_checks} == {"http: did not finish within 3 s (the audit's max_seconds)"}
    assert report["errors"] == ["http: did not finish within 3 s (the audit's max_seconds)"]


def test_a_target_over_its_own_budget_is_error_while_the_other_target_is_audited(tmp_path, redis_server):
    config = write(tmp_path, "http:\n  max_seconds: 2\n")
    with HostileServer("silent") as server:
        run, seconds = run_bounded("audit", "--url", server.url, "--redis", redis_server.url, "--config", config,
                                   "--format", "json", "--only", "api.cors", "--only", "cache.eviction", seconds=15)
    assert_clean(run, code=0)
    assert seconds < 5, f"took {seconds:.1f} s"
    report = run.json
    assert check(report, "api.cors")["summary"] == "http: did not finish within 2 s (http.max_seconds)"
    assert check(report, "cache.eviction")["status"] in ("pass", "warn", "fail")


@pytest.mark.parametrize("text, message", [
    ("max_seconds: -1\n", "max_seconds: must be greater than 0, got -1"),
    ("http:\n  max_seconds: 0\n", "http.max_seconds: must be greater than 0, got 0"),
])
def test_a_bad_max_seconds_in_the_config_is_a_one_line_usage_error(tmp_path, text, message):
    config = write(tmp_path, text)
    run, _ = run_bounded("audit", "--url", f"http://127.0.0.1:{free_port()}/", "--config", config, seconds=15)
    assert_clean(run, code=2)
    assert message in run.err


def test_max_seconds_from_the_config_abandons_a_collector_stuck_connecting(tmp_path):
    # The PostgreSQL connection attempt waits up to 30 s for an answer that never comes; the
    # audit must not wait for that thread.
    config = write(tmp_path, "max_seconds: 3\npostgres:\n  connect_timeout_s: 30\n")
    with HostileServer("silent") as server:
        run, seconds = run_bounded("audit", "--db", f"postgresql://u:s3cret-pw@127.0.0.1:{server.port}/app",
                                   "--config", config, "--format", "json", "--only", "db.timeouts", seconds=20)
    assert_clean(run, code=0, secrets=("s3cret-pw",))
    assert seconds < 5, f"took {seconds:.1f} s"
    timeouts = check(run.json, "db.timeouts")
    assert timeouts["status"] == "error"
    assert timeouts["summary"].startswith("postgres: did not finish within 3 s (the audit's max_seconds)")


@pytest.mark.parametrize("args, message", [
    (("--max-seconds", "0"), "--max-seconds: must be greater than 0 and at most 3600, got 0"),
    (("--max-seconds", "-5"), "--max-seconds: must be greater than 0 and at most 3600, got -5"),
    (("--max-seconds", "soon"), "'soon' is not a valid float"),
])
def test_a_bad_max_seconds_is_a_one_line_usage_error(args, message):
    run, _ = run_bounded("audit", "--url", f"http://127.0.0.1:{free_port()}/", *args, seconds=15)
    assert_clean(run, code=2)
    assert message in run.err


@pytest.mark.parametrize("signum, code, word", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
@pytest.mark.parametrize("after", [0.3, 2.0], ids=["during-imports", "mid-audit"])
def test_a_signal_stops_the_audit_within_two_seconds_with_one_line(signum, code, word, after):
    # Mid-audit, the HTTP collector is blocked reading a /health that never answers.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PERFCHECK_URL")}
    with HostileServer("silent", paths=("/health",)) as server:
        proc = subprocess.Popen([sys.executable, "-m", "perfcheck", "audit", "--url", server.url, "--format", "json",
                                 "--only", "api.cors", "--only", "mon.health"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            time.sleep(after)
            assert proc.poll() is None, "the audit ended before the signal"
            sent = time.monotonic()
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=10)
            waited = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == code, f"exit {proc.returncode}\n{err[-2000:]}"
    assert waited < 2, f"took {waited:.1f} s to stop"
    assert "Traceback" not in err and "Traceback" not in out
    assert err.splitlines() == [f"perfcheck: stopped by {word}" + (" (SIGINT)" if signum == signal.SIGINT else "")]
    assert out == ""


def test_a_one_gigabyte_body_is_read_no_further_than_its_cap_and_the_summary_adds_up(tmp_path):
    config = write(tmp_path, "http:\n  timeout_s: 5\n"
                             "  load: {requests: 20, warmup: 0, rate: 20, concurrency: 4, max_seconds: 5}\n")
    with HostileServer("huge") as server:
        run, seconds = run_bounded("audit", "--url", server.url, "--config", config, "--format", "json",
                                   "--only", "api.latency", "--only", "mon.health", "--only", "mon.metrics", seconds=30)
        sent = server.sent
    assert_clean(run, code=0)
    report = run.json
    latency = check(report, "api.latency")
    assert latency["status"] == "fail"
    assert latency["summary"].startswith("1 endpoint; worst GET /: no complete answer (body larger than 4 MB, read stopped)")
    endpoint = latency["metrics"]["endpoints"]["GET /"]
    failed = endpoint["errors"] + endpoint["timeouts"] + endpoint["unfinished"]
    assert endpoint["count"] == 0 and failed >= 1
    messages = [f["message"] for f in latency["findings"]]
    # Every request counted went out and failed for the reason given, none left to a duration cap.
    assert f"no complete answer to any of {failed} requests (body larger than 4 MB, read stopped; " \
           "the endpoint was sent no more)" in messages
    assert not any("duration cap" in m for m in messages)
    assert check(report, "mon.health")["summary"] == \
        "GET /health answered a body larger than 256 KB, read stopped: a health answer is a few lines"
    assert check(report, "mon.metrics")["summary"].startswith("GET /metrics answered a body larger than 2 MB, read stopped")
    # The caps hold on the wire: a few answers' worth of megabytes, not gigabytes.
    assert sent < 100 * 2 ** 20, f"the server sent {sent / 2 ** 20:.0f} MB"
    assert seconds < 15
