"""Every report format from one fixed, hand-built report: snapshots (regenerate with
PERFCHECK_UPDATE_SNAPSHOTS=1 and review the diff), SARIF against the SARIF 2.1.0 schema,
JUnit parsed as XML, Markdown's size limit, and the HTML report opened in headless
Chromium (the screenshot is kept under test-artifacts/)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import unavailable
from report_fixture import sample_report

from perfcheck import checklist
from perfcheck.checklist import CheckMeta
from perfcheck.model import CheckResult, Finding, Fix, Report, Status
from perfcheck.report import EXTENSIONS, FORMATS, render
from perfcheck.report.markdown import to_markdown

HERE = Path(__file__).resolve().parent
SNAPSHOTS = HERE / "snapshots"
ARTIFACTS = HERE.parent / "test-artifacts"
UPDATE = os.environ.get("PERFCHECK_UPDATE_SNAPSHOTS") == "1"


def _fixed_meta(check_id: str) -> CheckMeta | None:
    """Checklist metadata frozen for the snapshots, so an edit to checks/*.yaml doesn't break them."""
    category = {"db": "database", "api": "api", "cache": "cache", "mon": "monitoring"}[check_id.split(".")[0]]
    return CheckMeta(id=check_id, category=category, target="postgres", title=f"Title of {check_id}",
                     why=f"Why {check_id} matters.", measured=f"How {check_id} is measured.",
                     how_to_fix=f"How to fix {check_id}.", thresholds={"p50_ms": 50, "p95_ms": 100, "p99_ms": 200})


@pytest.fixture
def frozen_checklist(monkeypatch):
    monkeypatch.setattr(checklist, "meta", _fixed_meta)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_snapshot(fmt, frozen_checklist):
    text = render(sample_report(), fmt)
    path = SNAPSHOTS / f"report.{EXTENSIONS[fmt]}"
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no snapshot {path.name}: run with PERFCHECK_UPDATE_SNAPSHOTS=1 and review it"
    assert text == path.read_text(), f"{fmt} output changed; if intended, PERFCHECK_UPDATE_SNAPSHOTS=1 and review the diff"


def test_every_view_names_each_regression():
    report = sample_report()
    for fmt in FORMATS:
        if fmt == "json":
            continue
        text = render(report, fmt)
        if fmt == "markdown":
            text = text.replace("\\", "")  # as rendered: p95\_ms shows as p95_ms
        for needle in ("db.timeouts got worse: pass → fail", "p95_ms of GET /api/songs rose 60.0 → 131.0 ms"):
            assert needle in text, (fmt, needle)


# --- SARIF -----------------------------------------------------------------------------

def _sarif_validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((HERE / "schemas" / "sarif-2.1.0-rtm.5.json").read_text())
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("with_baseline", [True, False])
def test_sarif_is_valid_sarif_2_1_0(with_baseline):
    log = json.loads(render(sample_report(with_baseline=with_baseline), "sarif"))
    errors = sorted(_sarif_validator().iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    assert log["version"] == "2.1.0"


def test_the_schema_check_can_fail():
    log = json.loads(render(sample_report(), "sarif"))
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert any(True for _ in _sarif_validator().iter_errors(log))


def test_sarif_has_a_rule_per_check_from_the_checklist_and_a_result_per_finding():
    report = sample_report()
    run = json.loads(render(report, "sarif"))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [c.id for c in report.checks] + ["perfcheck.regression"]
    timeouts = rules[0]
    assert timeouts["shortDescription"]["text"] == checklist.meta("db.timeouts").title
    assert timeouts["fullDescription"]["text"] == checklist.meta("db.timeouts").why

    finding_results = [r for r in run["results"] if r["ruleId"] != "perfcheck.regression"]
    findings = [(c.id, f) for c in report.checks for f in c.findings]
    no_finding_failures = [c for c in report.checks if not c.findings and c.status in (Status.FAIL, Status.WARN)]
    assert len(finding_results) == len(findings) + len(no_finding_failures)
    by_key = {r["partialFingerprints"]["perfcheckFindingKey/v1"]: r for r in finding_results}
    statement = by_key["db.timeouts:statement_timeout"]
    assert statement["level"] == "error" and rules[statement["ruleIndex"]]["id"] == "db.timeouts"
    assert by_key["db.timeouts:lock_timeout"]["level"] == "warning"
    assert by_key["db.unused_indexes:public.songs_title_idx"]["level"] == "note"
    assert by_key["db.fk_indexes:public.plays (song_id)"]["baselineState"] == "new"
    assert by_key["db.timeouts:statement_timeout"]["baselineState"] == "unchanged"
    odd = by_key['db.fk_indexes:public."Odd|Name" (`x` <y>)']
    assert odd["suppressions"] == [{"kind": "external", "justification": "legacy table, dropped next quarter"}]
    assert odd["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == 'public."Odd|Name" (`x` <y>)'
    # the error check is a tool notification, not a result
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["descriptor"]["id"] for n in notes] == ["db.slow_queries"]
    regressions = [r["message"]["text"] for r in run["results"] if r["ruleId"] == "perfcheck.regression"]
    assert any("db.timeouts got worse" in text for text in regressions)
    assert all("new finding" not in text for text in regressions)  # those are their checks' results, marked new


# --- JUnit -----------------------------------------------------------------------------

def test_junit_has_one_testcase_per_check_with_the_right_outcome():
    report = sample_report()
    root = ET.fromstring(render(report, "junit").encode())
    assert root.tag == "testsuites"
    cases = {case.get("name").split(":")[0]: case for suite in root if suite.get("name") not in ("baseline", "gate")
             for case in suite.iter("testcase")}
    assert sorted(cases) == sorted(c.id for c in report.checks)

    def outcome(check_id: str) -> list[str]:
        return [child.tag for child in cases[check_id] if child.tag in ("failure", "error", "skipped")]

    assert outcome("db.timeouts") == ["failure"]
    assert outcome("db.slow_queries") == ["error"]
    assert outcome("cache.hit_rate") == ["skipped"] and outcome("mon.error_tracking") == ["skipped"]
    assert outcome("db.unused_indexes") == [] and outcome("api.latency") == []
    assert "ALTER DATABASE app SET statement_timeout" in cases["db.timeouts"].find("failure").text
    baseline = next(s for s in root if s.get("name") == "baseline")
    assert [c.get("name") for c in baseline.iter("testcase") if c.find("failure") is not None][0] == "regression: db.timeouts"
    # the counts add up, per suite and in total
    for suite in root:
        tags = [child.tag for case in suite.iter("testcase") for child in case]
        assert int(suite.get("tests")) == len(list(suite.iter("testcase")))
        assert int(suite.get("failures")) == tags.count("failure")
        assert int(suite.get("errors")) == tags.count("error")
        assert int(suite.get("skipped")) == tags.count("skipped")
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in root)


def test_junit_drops_characters_xml_cannot_carry():
    report = sample_report(with_baseline=False)
    report.checks[0].summary = "bad\x00byte\x1b[0m from a driver"
    root = ET.fromstring(render(report, "junit").encode())
    assert root.find(".//failure").get("message") == "badbyte[0m from a driver"


# --- Markdown --------------------------------------------------------------------------

def test_markdown_escapes_what_the_audited_system_named():
    text = render(sample_report(), "markdown")
    span = "``public.\"Odd|Name\" (`x` <y>)``"
    assert span in text  # a code span shows the name verbatim (no markup inside one)
    outside = text.replace(span, "")
    assert "<y>" not in outside and "&lt;y&gt;" in outside and "<tags>" not in outside
    assert "\\| pipes" in outside  # a pipe can't end a table cell or start markup


def test_markdown_stays_under_its_limit_with_a_note():
    big = sample_report()
    long = "x" * 2000
    big.checks = [CheckResult(f"db.check_{i}", "database", "postgres", "A check", Status.FAIL, 0.1, "failing",
                              findings=[Finding("fail", f"public.t{j}", long, Fix((long,))) for j in range(25)])
                  for i in range(60)]
    text = to_markdown(big)
    assert len(text.encode()) <= 1024 * 1024
    assert "Truncated" in text and "## Regressions" in text and text.rstrip().endswith("</sub>")
    small = to_markdown(big, limit=20_000)
    assert len(small.encode()) <= 20_000 and "Truncated" in small


# --- HTML in a real browser -------------------------------------------------------------

def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        message = "chromium is not installed: apt-get install -y chromium (scripts/bootstrap does)"
        unavailable(message)
    return found


def _browser(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=90)


def test_html_report_renders_in_chromium_with_scores_and_latency_chart(tmp_path):
    chromium = _chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    page = ARTIFACTS / "perfcheck-report.html"
    page.write_text(render(sample_report(), "html"))

    dom = _browser(chromium, tmp_path / "profile-dom", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert ">66</text>" in html  # the overall score in its gauge
    assert 'Overall <span class="score-text s-warn">66</span>/100' in html
    assert '<svg class="latency-chart"' in html
    assert html.count("<rect") >= 3 * 3 + 3  # three bars for each of three endpoints, and the legend
    assert "GET /api/songs" in html and "Gate failed" in html and "db.timeouts got worse" in html
    assert "&lt;y&gt;" in html and "<y>" not in html  # escaped, not markup

    shot = ARTIFACTS / "perfcheck-report.png"
    shot.unlink(missing_ok=True)
    run = _browser(chromium, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri())
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    image = pytest.importorskip("PIL.Image").open(shot).convert("RGB")
    assert image.size == (1200, 1600)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # not a blank page
    present = {colour for _, colour in colours}
    # the score gauge (66: the warning orange) and the chart's P50 / P95 / P99 bars were painted
    for hex_colour in ("#b45f06", "#4e79a7", "#f28e2b", "#e15759"):
        rgb = tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
        assert rgb in present, f"{hex_colour} is not in the screenshot"


def test_html_without_latency_says_so_and_has_no_chart():
    report = sample_report(with_baseline=False)
    report.checks = [c for c in report.checks if c.id != "api.latency"]
    text = render(report, "html")
    assert "No latency percentiles in this report" in text and 'class="latency-chart"' not in text
    assert "Regressions" not in text  # no baseline given


def test_html_is_self_contained():
    text = render(sample_report(), "html")
    for outside in ("<script", "<link", "src=\"http", "url(http", "@import"):
        assert outside not in text
    assert "Content-Security-Policy" in text


def test_views_read_a_report_from_before_the_gating_fields():
    """A report saved before mutes, baselines and gates existed still renders everywhere."""
    data = sample_report(with_baseline=False).to_dict()
    data.pop("gate", None)
    for check in data["checks"]:
        check.pop("muted")
        for finding in check["findings"]:
            finding.pop("muted")
    report = Report.from_dict(data)
    for fmt in FORMATS:
        assert render(report, fmt) is not None
