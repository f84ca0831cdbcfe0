"""Baselines and gates on hand-built reports (no servers): every kind of regression,
noise that must stay green, improvements that never fail, mutes and assertions; then
`perfcheck compare` as a user runs it."""

from __future__ import annotations

import copy
import json
import os
import threading
from datetime import date

import pytest
from helpers import perfcheck

from perfcheck import config as config_mod
from perfcheck.gate.baseline import Tolerances, compare
from perfcheck.config import ConfigError
from perfcheck.gate.policy import Policy, evaluate, metric, parse_assertions
from perfcheck.model import CategoryScore, CheckResult, Finding, Report, Status
from perfcheck.gate.mutes import accepted, apply, parse
from perfcheck.report.json_report import to_json
from perfcheck.scoring import score_categories

CHECK_IDS = ["db.timeouts", "db.fk_indexes", "db.unused_indexes", "api.latency", "cache.hit_rate"]
CATEGORIES = ["database", "api", "cache"]


def result(check_id: str, status: Status = Status.PASS, score: float | None = 1.0, findings=(), metrics=None) -> CheckResult:
    category = {"db": "database", "api": "api", "cache": "cache"}[check_id.split(".")[0]]
    return CheckResult(check_id, category, "postgres", check_id, status, score if status.judged else None,
                       f"{check_id} summary", metrics or {}, list(findings))


def latency(**endpoints: dict) -> CheckResult:
    return result("api.latency", metrics={"endpoints": {name.replace("_", " "): values for name, values in endpoints.items()}})


def report(*checks: CheckResult) -> Report:
    """A report whose scores follow from its checks, as the runner computes them."""
    cats = score_categories(list(checks), [(c, c.title()) for c in CATEGORIES])
    audited = [c.score for c in cats if c.score is not None]
    return Report(round(sum(audited) / len(audited)) if audited else None, cats, list(checks),
                  version="0.1.0", created_at="2026-01-01T00:00:00+00:00")


def baseline_report() -> Report:
    return report(
        result("db.timeouts"),
        result("db.fk_indexes", Status.WARN, 0.7, [Finding("warn", "public.plays (song_id)", "no index")]),
        result("db.unused_indexes", Status.PASS, 0.95, [Finding("info", "public.a_idx", "unused, small")]),
        latency(GET_songs={"p50_ms": 40.0, "p95_ms": 80.0, "p99_ms": 150.0, "max_ms": 300.0}),
    )


def kinds(changes) -> list[tuple[str, str]]:
    return [(c.kind, c.key) for c in changes]


# --- noise stays green --------------------------------------------------------------------

def test_an_unchanged_report_has_no_regression_and_no_improvement():
    comp = compare(baseline_report(), baseline_report())
    assert comp.regressions == [] and comp.improvements == [] and not comp.regressed


def test_a_report_read_back_from_json_compares_equal_to_itself(tmp_path):
    from perfcheck.report.json_report import read

    path = tmp_path / "r.json"
    path.write_text(to_json(baseline_report()))
    assert not compare(read(path), baseline_report()).regressed


def test_percentiles_a_little_worse_stay_within_the_noise_band():
    new = baseline_report()
    # With the default band (twice the baseline, or 25 ms): p50 40 → 75, p95 80 → 150, p99 150 → 290 are
    # all a busy runner's noise; max_ms is never compared.
    new.checks[3] = latency(GET_songs={"p50_ms": 75.0, "p95_ms": 150.0, "p99_ms": 290.0, "max_ms": 900.0})
    comp = compare(baseline_report(), new)
    assert comp.regressions == []


def test_small_absolute_changes_stay_green_whatever_the_ratio():
    old = report(latency(GET_health={"p50_ms": 0.8, "p99_ms": 2.0}))
    new = report(latency(GET_health={"p50_ms": 2.5, "p99_ms": 9.0}))  # +350 %, but 7 ms < the 25 ms band
    assert compare(old, new).regressions == []


def test_a_status_flip_on_a_tiny_score_change_is_noise_not_a_regression():
    old = report(result("db.timeouts", Status.PASS, 0.91))
    new = report(result("db.timeouts", Status.WARN, 0.89))
    comp = compare(old, new)
    assert comp.regressions == []
    assert [c.kind for c in comp.notes] == ["status"] and "within the score tolerance" in comp.notes[0].message


def over_budget(p95: float, score: float) -> CheckResult:
    """api.latency as the latency check reports an endpoint over its P95 budget."""
    status = Status.PASS if score >= 0.9 else Status.WARN if score >= 0.5 else Status.FAIL
    findings = [] if p95 <= 100 else [
        Finding("warn", "GET /api/songs", f"P95 {p95:.0f} ms against 100 ms", evidence={"p95_ms": p95, "target_p95_ms": 100.0})]
    return result("api.latency", status, score, findings,
                  {"endpoints": {"GET /api/songs": {"p50_ms": 30.0, "p95_ms": p95, "p99_ms": 150.0}}, "targets_ms": {"p95_ms": 100}})


def test_an_endpoint_sitting_on_its_budget_stays_green_while_its_percentiles_are_within_the_band():
    # P95 98 → 118 ms: within the band, yet over budget (a new finding), pass → warn and the
    # api score down 18 points: all of it noise, none of it a regression.
    old = report(over_budget(98.0, 0.91), result("db.timeouts"))
    new = report(over_budget(118.0, 0.73), result("db.timeouts"))
    comp = compare(old, new)
    assert comp.regressions == [], [c.message for c in comp.regressions]
    assert {c.kind for c in comp.notes} >= {"status", "finding", "score"}
    # the same endpoint really slower: every kind of regression names it
    worse = compare(old, report(over_budget(260.0, 0.2), result("db.timeouts")))
    assert {(c.kind, c.check) for c in worse.regressions} >= {
        ("status", "api.latency"), ("finding", "api.latency"), ("latency", "api.latency"), ("score", "api")}


# --- every kind of regression ---------------------------------------------------------

@pytest.mark.parametrize("before, after", [
    ((Status.PASS, 1.0), (Status.WARN, 0.7)),
    ((Status.PASS, 1.0), (Status.FAIL, 0.3)),
    ((Status.WARN, 0.7), (Status.FAIL, 0.3)),
])
def test_a_check_that_got_worse_is_a_regression(before, after):
    comp = compare(report(result("db.timeouts", *before)), report(result("db.timeouts", *after)))
    status = [c for c in comp.regressions if c.kind == "status"]
    assert len(status) == 1
    assert status[0].check == "db.timeouts"
    assert f"{before[0].value} → {after[0].value}" in status[0].message


def test_a_check_that_got_better_is_an_improvement_and_never_fails():
    comp = compare(report(result("db.timeouts", Status.FAIL, 0.3)), report(result("db.timeouts", Status.PASS, 1.0)))
    assert not comp.regressed
    assert kinds(comp.improvements)[0] == ("status", "db.timeouts")
    assert evaluate(report(), comparison=comp).passed


def test_a_new_finding_is_a_regression_named_by_its_key():
    new = baseline_report()
    new.checks[1].findings.append(Finding("warn", "public.likes (user_id)", "no index on likes.user_id"))
    comp = compare(baseline_report(), new)
    assert kinds(comp.regressions) == [("finding", "db.fk_indexes:public.likes (user_id)")]
    assert "public.likes (user_id)" in comp.regressions[0].message


def test_a_finding_whose_severity_rose_is_a_regression():
    new = baseline_report()
    new.checks[1].findings[0] = Finding("fail", "public.plays (song_id)", "no index, now huge")
    comp = compare(baseline_report(), new)
    assert kinds(comp.regressions) == [("severity", "db.fk_indexes:public.plays (song_id)")]


def test_a_new_info_finding_is_not_a_regression_and_a_fixed_finding_is_an_improvement():
    new = baseline_report()
    new.checks[1] = result("db.fk_indexes", Status.WARN, 0.7, [Finding("info", "public.x", "fyi")])
    comp = compare(baseline_report(), new)
    assert comp.regressions == []
    assert ("finding", "db.fk_indexes:public.plays (song_id)") in kinds(comp.improvements)


def test_a_category_score_drop_beyond_the_tolerance_is_a_regression():
    old = report(result("db.timeouts", Status.PASS, 1.0), result("db.unused_indexes", Status.PASS, 1.0))
    new = report(result("db.timeouts", Status.PASS, 0.92), result("db.unused_indexes", Status.PASS, 0.93))
    comp = compare(old, new)  # database 100 → 93 (-7), overall too; no check changed status
    assert ("score", "database") in kinds(comp.regressions)
    assert ("score", "overall") in kinds(comp.regressions)
    assert all(c.kind == "score" for c in comp.regressions)
    # within the tolerance: green
    assert not compare(old, report(result("db.timeouts", Status.PASS, 0.95), result("db.unused_indexes", Status.PASS, 0.97))).regressed
    # the tolerance is configurable
    assert not compare(old, new, Tolerances.from_config({"score_drop": 10})).regressed


def test_scores_over_different_sets_of_checks_are_not_compared():
    old = report(result("db.timeouts", Status.PASS, 1.0), result("db.unused_indexes", Status.PASS, 1.0))
    new = report(result("db.timeouts", Status.WARN, 0.85))  # an --only run
    comp = compare(old, new, Tolerances.from_config({"check_score_drop": 0.2}))
    assert comp.regressions == []
    assert ("not_comparable", "database") in kinds(comp.notes)
    assert ("not_run", "db.unused_indexes") in kinds(comp.notes)


def test_a_latency_percentile_over_the_band_is_a_regression():
    new = baseline_report()
    new.checks[3] = latency(GET_songs={"p50_ms": 41.0, "p95_ms": 200.0, "p99_ms": 160.0})  # p95 +120 ms > band 80 ms
    comp = compare(baseline_report(), new)
    assert kinds(comp.regressions) == [("latency", "api.latency:GET songs p95_ms")]
    assert comp.regressions[0].before == 80.0 and comp.regressions[0].after == 200.0
    assert "p95_ms of GET songs" in comp.regressions[0].message
    # a wider band in perfcheck.yaml accepts it, a tighter one catches smaller steps
    assert not compare(baseline_report(), new, Tolerances.from_config({"latency_relative": 2.0})).regressed
    slight = baseline_report()
    slight.checks[3] = latency(GET_songs={"p50_ms": 40.0, "p95_ms": 110.0, "p99_ms": 150.0})
    assert not compare(baseline_report(), slight).regressed
    assert compare(baseline_report(), slight, Tolerances.from_config({"latency_relative": 0.2, "latency_ms": 5})).regressed


def slow_statement(mean_ms: float) -> CheckResult:
    severity = "fail" if mean_ms >= 100 else "warn"
    return result("db.timeouts", Status.FAIL if severity == "fail" else Status.WARN, 0.4 if severity == "fail" else 0.55,
                  [Finding(severity, "SELECT … FROM recently_played", f"mean {mean_ms} ms", evidence={"mean_ms": mean_ms, "target_ms": 20})])


def test_a_timed_finding_crossing_a_severity_line_within_the_band_is_noise():
    # a statement's mean time 95 → 120 ms (within the band) turns its finding warn → fail and the check warn → fail
    comp = compare(report(slow_statement(95.0)), report(slow_statement(120.0)))
    assert comp.regressions == []
    assert {c.kind for c in comp.notes} >= {"severity", "status"}
    # 95 → 400 ms is a real regression
    worse = compare(report(slow_statement(95.0)), report(slow_statement(400.0)))
    assert {c.kind for c in worse.regressions} >= {"severity", "status"}


def slow_queries_result(findings=(), near=None) -> CheckResult:
    found = [Finding("warn", text, f"mean {ms} ms", evidence={"calls": 40, "mean_ms": ms, "total_ms": 40 * ms})
             for text, ms in findings]
    return CheckResult("db.slow_queries", "database", "postgres", "db.slow_queries", Status.WARN if found else Status.PASS,
                       0.85 if found else 0.9, "summary", {"near_target": {text: {"mean_ms": ms} for text, ms in (near or [])}},
                       found)


def test_a_statement_just_under_the_target_crossing_it_is_noise_and_a_new_slow_one_is_not():
    before = report(slow_queries_result(near=[("SELECT … FROM sessions WHERE code = $1", 19.6)]))
    crossed = compare(before, report(slow_queries_result([("SELECT … FROM sessions WHERE code = $1", 20.1)])))
    assert crossed.regressions == []  # neither the finding nor the status flip it brings
    noted = [c for c in crossed.notes if c.kind == "finding"]
    assert kinds(noted) == [("finding", "db.slow_queries:SELECT … FROM sessions WHERE code = $1")]
    assert "just under the target in the baseline" in noted[0].message
    assert ("status", "db.slow_queries") in kinds(crossed.notes)
    # a statement the baseline did not have near the target, even a little over it, is a new slow statement
    other = compare(before, report(slow_queries_result([("SELECT … FROM plays WHERE user_id = $1", 21.0)])))
    assert ("finding", "db.slow_queries:SELECT … FROM plays WHERE user_id = $1") in kinds(other.regressions)
    # the same statement far beyond the band (19.6 → 80 ms) is a regression
    far = compare(before, report(slow_queries_result([("SELECT … FROM sessions WHERE code = $1", 80.0)])))
    assert ("finding", "db.slow_queries:SELECT … FROM sessions WHERE code = $1") in kinds(far.regressions)
    # tighter tolerances in perfcheck.yaml catch the small crossing too
    assert compare(before, report(slow_queries_result([("SELECT … FROM sessions WHERE code = $1", 20.1)])),
                   Tolerances.from_config({"latency_relative": 0.0, "latency_ms": 0.1})).regressed


def test_a_faster_percentile_is_an_improvement():
    new = baseline_report()
    new.checks[3] = latency(GET_songs={"p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 40.0})
    comp = compare(baseline_report(), new)
    assert not comp.regressed
    assert {c.key for c in comp.improvements} >= {"api.latency:GET songs p95_ms", "api.latency:GET songs p99_ms"}


def test_a_check_that_now_errors_is_a_regression_unless_configured_otherwise():
    new = baseline_report()
    new.checks[0] = result("db.timeouts", Status.ERROR, None)
    comp = compare(baseline_report(), new)
    assert ("error", "db.timeouts") in kinds(comp.regressions)
    relaxed = compare(baseline_report(), new, Tolerances.from_config({"error_is_regression": False}))
    assert ("error", "db.timeouts") in kinds(relaxed.notes) and not relaxed.regressed


def test_a_check_new_since_the_baseline_is_noted_not_failed():
    new = baseline_report()
    new.checks.append(result("cache.hit_rate", Status.FAIL, 0.2, [Finding("fail", "db0", "20 % hits")]))
    comp = compare(baseline_report(), new)
    assert ("new_check", "cache.hit_rate") in kinds(comp.notes)
    assert all(c.check != "cache.hit_rate" for c in comp.regressions)


def test_the_comparison_survives_the_json_round_trip():
    from perfcheck.gate.baseline import Comparison

    new = baseline_report()
    new.checks[0] = result("db.timeouts", Status.FAIL, 0.2)
    comp = compare(baseline_report(), new)
    again = Comparison.from_dict(json.loads(json.dumps(comp.to_dict())))
    assert again.to_dict() == comp.to_dict() and again.regressed


# --- mutes -----------------------------------------------------------------------------------

def test_a_muted_new_finding_is_listed_as_muted_not_as_a_regression():
    new = baseline_report()
    new.checks[1].findings.append(Finding("warn", "public.legacy (x)", "no index"))
    new.checks[1].status, new.checks[1].score = Status.FAIL, 0.3
    mutes, _ = parse([{"key": "db.fk_indexes:public.legacy*", "reason": "table dropped next sprint"}], CHECK_IDS)
    apply(new, mutes)
    comp = compare(baseline_report(), new)
    # the check got worse only because of the muted finding: its fall is accepted too
    assert [(c.kind, c.key, c.muted) for c in comp.muted] == [
        ("status", "db.fk_indexes", "table dropped next sprint"),
        ("finding", "db.fk_indexes:public.legacy (x)", "table dropped next sprint")]
    assert comp.regressions == []
    # but the check keeps an unmuted warn finding, so --fail-on still sees it
    assert accepted(new.checks[1]) is None


def test_a_mute_needs_a_reason_and_a_known_check_and_may_lapse():
    with pytest.raises(ConfigError, match="needs a `reason`"):
        parse([{"check": "db.timeouts"}], CHECK_IDS)
    with pytest.raises(ConfigError, match="unknown check 'db.nope'"):
        parse([{"key": "db.nope:x", "reason": "r"}], CHECK_IDS)
    with pytest.raises(ConfigError, match="either `key`"):
        parse([{"key": "db.timeouts:x", "check": "db.timeouts", "reason": "r"}], CHECK_IDS)
    with pytest.raises(ConfigError, match="until"):
        parse([{"check": "db.timeouts", "reason": "r", "until": "soon"}], CHECK_IDS)
    active, lapsed = parse([{"check": "db.timeouts", "reason": "r", "until": date(2020, 1, 1)},
                            {"check": "db.fk_indexes", "reason": "r2", "until": "2999-01-01"}], CHECK_IDS)
    assert [m.check for m in active] == ["db.fk_indexes"]
    assert len(lapsed) == 1 and "lapsed on 2020-01-01" in lapsed[0]


# --- gates that compose --------------------------------------------------------------------

def failing_report() -> Report:
    return report(
        result("db.timeouts", Status.FAIL, 0.3, [Finding("fail", "statement_timeout", "off")]),
        result("db.fk_indexes", Status.WARN, 0.7, [Finding("warn", "public.plays (song_id)", "no index")]),
        latency(**{"GET_v1.2": {"p50_ms": 40.0, "p95_ms": 130.0}}),
    )


def test_fail_on_and_fail_under_compose():
    gate = evaluate(failing_report(), fail_on="warn", fail_under=99)
    assert len(gate.failures) == 2
    assert "db.timeouts" in gate.failures[1] and "db.fk_indexes" in gate.failures[1]
    assert evaluate(failing_report(), fail_on="fail").failures == ["1 check(s) at or above fail: db.timeouts"]


def test_a_muted_check_does_not_fail_fail_on():
    rep = failing_report()
    mutes, _ = parse([{"key": "db.timeouts:statement_timeout", "reason": "set by the pooler"}], CHECK_IDS)
    apply(rep, mutes)
    assert rep.checks[0].findings[0].muted == "set by the pooler"
    assert evaluate(rep, fail_on="fail").passed


def test_assertions_override_fail_on_per_check():
    a = parse_assertions({"db.timeouts": False,  # YAML's bare `off`
                          "db.fk_indexes": "warn"}, CHECK_IDS, CATEGORIES)
    gate = evaluate(failing_report(), fail_on="warn", assertions=a)
    assert gate.passed  # off: never fails; warn: printed only
    assert gate.warnings == ["db.fk_indexes is warn: db.fk_indexes summary"]


def test_assertions_with_min_score_and_max_metric():
    a = parse_assertions({
        "db.fk_indexes": {"min_score": 0.8},
        "api.latency": {"level": "error", "max": {"endpoints.GET v1.2.p95_ms": 100, "endpoints.GET v1.2.p50_ms": 50}},
        "database": {"min_score": 0.9},
    }, CHECK_IDS, CATEGORIES)
    gate = evaluate(failing_report(), assertions=a)
    assert gate.failures == [
        "db.fk_indexes score 70 is under 80",
        "api.latency: endpoints.GET v1.2.p95_ms is 130, over the 100 allowed",
        "Database score 50 is under 90",
    ]


def test_an_assertion_on_a_metric_that_is_not_reported_says_what_is():
    a = parse_assertions({"api.latency": {"max": {"p95_ms": 100}}}, CHECK_IDS, CATEGORIES)
    (line,) = evaluate(failing_report(), assertions=a).failures
    assert "metric 'p95_ms' is not reported" in line and "endpoints" in line


def test_metric_paths_may_cross_keys_with_dots():
    assert metric({"endpoints": {"GET /v1.2/x": {"p95_ms": 7}}}, "endpoints.GET /v1.2/x.p95_ms") == 7
    assert metric({"a": 1}, "a.b") is None


@pytest.mark.parametrize("section, message", [
    ({"db.nope": "error"}, "unknown check or category 'db.nope'"),
    ({"db.timeouts": "fatal"}, "level must be off, warn or error"),
    ({"db.timeouts": {"min_score": 90}}, "from 0 to 1"),
    ({"db.timeouts": {"max": {"p95_ms": "fast"}}}, "expected a mapping of metric name to a number"),
    ({"database": {"max": {"x": 1}}}, "a category takes only min_score"),
    ({"db.timeouts": {"minscore": 0.9}}, "unknown key 'minscore'"),
])
def test_bad_assertions_are_one_line_config_errors(section, message):
    with pytest.raises(ConfigError, match=message):
        parse_assertions(section, CHECK_IDS, CATEGORIES)


def test_regressions_fail_the_gate_unless_the_baseline_is_being_updated():
    new = baseline_report()
    new.checks[0] = result("db.timeouts", Status.FAIL, 0.2)
    comp = compare(baseline_report(), new)
    assert not evaluate(new, comparison=comp).passed
    accepted_gate = evaluate(new, comparison=comp, accept_regressions=True)
    assert accepted_gate.passed and "accepted by --update-baseline" in accepted_gate.warnings[0]


def test_policy_reports_a_missing_or_broken_baseline_before_auditing(tmp_path):
    cfg = config_mod.load(None, environ={})
    with pytest.raises(ConfigError, match="no such file; run once with --update-baseline"):
        Policy.load(cfg, CHECK_IDS, CATEGORIES, baseline_path=tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="not JSON"):
        Policy.load(cfg, CHECK_IDS, CATEGORIES, baseline_path=broken)
    with pytest.raises(ConfigError, match="--update-baseline needs --baseline"):
        Policy.load(cfg, CHECK_IDS, CATEGORIES, update_baseline=True)
    # regenerating a broken baseline is allowed, with a warning
    policy = Policy.load(cfg, CHECK_IDS, CATEGORIES, baseline_path=broken, update_baseline=True)
    assert policy.baseline is None and "unreadable" in policy.notes[0]
    assert "unreadable" in policy.judge(report(result("db.timeouts"))).warnings[0]


def test_the_config_file_sections_validate(tmp_path):
    path = tmp_path / "perfcheck.yaml"
    path.write_text("assertions:\n  db.timeouts: off\nmute:\n  - {check: db.timeouts, reason: r, until: 2999-01-01}\n"
                    "baseline:\n  latency_ms: 25\n")
    cfg = config_mod.load(str(path), environ={})
    policy = Policy.load(cfg, CHECK_IDS, CATEGORIES)
    assert policy.assertions["db.timeouts"].level == "off"
    assert policy.tolerances.latency_ms == 25
    assert policy.tolerances.latency_relative == config_mod.DEFAULTS["baseline"]["latency_relative"]
    path.write_text("baseline:\n  latency_band: 25\n")
    with pytest.raises(ConfigError, match="unknown key 'latency_band'"):
        config_mod.load(str(path), environ={})


# --- perfcheck compare, as a user runs it ------------------------------------------------------

def _save(tmp_path, name: str, rep: Report):
    path = tmp_path / name
    path.write_text(to_json(rep))
    return str(path)


def test_compare_the_same_report_exits_zero(tmp_path):
    old = _save(tmp_path, "old.json", baseline_report())
    run = perfcheck("compare", old, old, cwd=str(tmp_path))
    assert run.code == 0, run.err
    assert "no regressions against the baseline" in run.out


def test_compare_exits_one_and_names_each_regression(tmp_path):
    new = baseline_report()
    new.checks[0] = result("db.timeouts", Status.FAIL, 0.2)
    new.checks[3] = latency(GET_songs={"p50_ms": 40.0, "p95_ms": 200.0, "p99_ms": 150.0})
    old_path, new_path = _save(tmp_path, "old.json", baseline_report()), _save(tmp_path, "new.json", new)
    run = perfcheck("compare", old_path, new_path, cwd=str(tmp_path))
    assert run.code == 1
    assert "db.timeouts got worse: pass → fail" in run.out
    assert "p95_ms of GET songs rose 80.0 → 200.0 ms" in run.out
    as_json = perfcheck("compare", old_path, new_path, "--format", "json", cwd=str(tmp_path))
    assert as_json.code == 1 and as_json.json["regressed"] is True
    assert {c["check"] for c in as_json.json["regressions"]} >= {"db.timeouts", "api.latency"}
    md = perfcheck("compare", old_path, new_path, "--format", "markdown", cwd=str(tmp_path))
    assert md.out.startswith("## Regressions") and "db.timeouts got worse" in md.out
    # the reverse direction is all improvements: exit 0
    back = perfcheck("compare", new_path, old_path, cwd=str(tmp_path))
    assert back.code == 0 and "Improvements" in back.out


def test_compare_honours_the_mute_list_in_the_config(tmp_path):
    new = baseline_report()
    new.checks[0] = result("db.timeouts", Status.FAIL, 0.2)
    old_path, new_path = _save(tmp_path, "old.json", baseline_report()), _save(tmp_path, "new.json", new)
    (tmp_path / "perfcheck.yaml").write_text("mute:\n  - check: db.timeouts\n    reason: the pooler enforces timeouts\n")
    run = perfcheck("compare", old_path, new_path, cwd=str(tmp_path))
    assert run.code == 0, run.out
    assert "muted: the pooler enforces timeouts" in run.out


@pytest.mark.parametrize("content, message", [
    (None, "cannot read"),
    ("[1, 2", "not JSON"),
    ('{"schema": "something/else"}', "not a perfcheck report"),
])
def test_compare_with_a_bad_file_is_a_one_line_error(tmp_path, content, message):
    good = _save(tmp_path, "good.json", baseline_report())
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    run = perfcheck("compare", good, str(bad), cwd=str(tmp_path))
    assert run.code == 2
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("perfcheck: error:") and message in lines[0]


def test_reports_are_not_changed_by_comparing():
    old, new = baseline_report(), baseline_report()
    before = copy.deepcopy(new.to_dict())
    compare(old, new)
    assert new.to_dict() == before
    # a category with no score on one side is skipped, not a crash
    new.categories.append(CategoryScore("cache", "Cache", None))
    compare(old, new)


def test_writing_to_a_device_writes_through_it_and_never_replaces_it(tmp_path):
    from perfcheck.report.outputs import write_atomic

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    write_atomic(fifo, "report\n")
    reader.join(5)
    assert received == ["report\n"] and fifo.is_fifo()
    target = tmp_path / "sub" / "report.json"
    write_atomic(target, "{}\n")
    assert target.read_text() == "{}\n" and [p.name for p in target.parent.iterdir()] == ["report.json"]


# --- saved reports that are not what they claim ---------------------------------------------

def test_a_saved_report_reads_back_through_the_shape_check(tmp_path):
    from perfcheck.gate.baseline import read_report

    path = tmp_path / "report.json"
    path.write_text(to_json(failing_report()))
    assert read_report(path).to_dict() == Report.from_dict(json.loads(path.read_text())).to_dict()


@pytest.mark.parametrize("change, message", [
    (lambda d: d["checks"][0].update(status="great"), "checks[0].status: 'great' is not one of"),
    (lambda d: d["checks"][0].update(score="90"), "checks[0]: score and weight must be numbers"),
    (lambda d: d["checks"][0]["findings"].append("a finding"), "checks[0].findings[1]: expected an object, got a string"),
    (lambda d: d["categories"].append(7), "categories[2]: expected an object"),
    (lambda d: d.update(score=True), "score: expected a number or null, got true/false"),
])
def test_a_report_of_the_wrong_shape_says_which_field(tmp_path, change, message):
    from perfcheck.gate.baseline import read_report

    data = json.loads(to_json(failing_report()))
    change(data)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as err:
        read_report(path, "--baseline")
    assert str(err.value).startswith(f"--baseline {path}: not a perfcheck report: {message}"), str(err.value)


def test_a_gating_mistake_names_the_config_line(tmp_path):
    path = tmp_path / "perfcheck.yaml"
    path.write_text("assertions:\n  db.timeouts: {level: fatal}\nmute:\n  - check: db.fk_indexes\n")
    cfg = config_mod.load(str(path), environ={})
    with pytest.raises(ConfigError, match=rf"^{path} line 4: mute\[0\]: a mute needs a `reason`"):
        Policy.load(cfg, CHECK_IDS, CATEGORIES)
    path.write_text("assertions:\n  db.timeouts: {level: fatal}\n")
    with pytest.raises(ConfigError, match=rf"^{path} line 2: assertions.db.timeouts: level must be off, warn or error"):
        Policy.load(config_mod.load(str(path), environ={}), CHECK_IDS, CATEGORIES)


def test_update_baseline_into_an_unwritable_place_fails_before_auditing(tmp_path):
    cfg = config_mod.load(None, environ={})
    with pytest.raises(ConfigError, match="the folder .* does not exist"):
        Policy.load(cfg, CHECK_IDS, CATEGORIES, baseline_path=tmp_path / "no" / "b.json", update_baseline=True)
    with pytest.raises(ConfigError, match="is a directory"):
        Policy.load(cfg, CHECK_IDS, CATEGORIES, baseline_path=tmp_path, update_baseline=True)
