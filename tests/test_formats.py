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
from perfcheck.model import CategoryScore, CheckResult, Finding, Fix, Report, Status
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


# --- GitLab code quality ------------------------------------------------------------------

GITLAB_SEVERITIES = {"info", "minor", "major", "critical", "blocker"}


def test_gitlab_code_quality_has_what_gitlab_reads():
    report = sample_report()
    issues = json.loads(render(report, "gitlab"))
    assert isinstance(issues, list) and issues
    for issue in issues:  # GitLab drops an issue that lacks any of these
        assert issue["description"] and issue["check_name"] and issue["fingerprint"]
        assert issue["severity"] in GITLAB_SEVERITIES
        assert issue["location"]["path"] == "perfcheck.yaml" and issue["location"]["lines"]["begin"] == 1
    assert len({i["fingerprint"] for i in issues}) == len(issues)  # GitLab keeps one issue per fingerprint
    by_text = {i["description"].split(":")[0] + ":" + i["description"].split(":")[1]: i for i in issues}
    assert by_text["db.timeouts: statement_timeout"]["severity"] == "major"
    assert by_text["db.timeouts: lock_timeout"]["severity"] == "minor"
    assert by_text["db.unused_indexes: public.songs_title_idx"]["severity"] == "info"
    texts = " ".join(i["description"] for i in issues)
    assert "Odd|Name" not in texts  # muted: accepted in perfcheck.yaml
    assert "db.slow_queries" not in texts and "cache.hit_rate" not in texts  # error / skip: not judged
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS plays_song_id_idx" in texts
    assert any(i["check_name"] == "perfcheck.regression" and i["severity"] == "critical"
               and "db.timeouts got worse" in i["description"] for i in issues)


def test_gitlab_fingerprints_are_stable_across_runs_and_issues_point_at_the_config():
    first = json.loads(render(sample_report(), "gitlab"))
    later = sample_report()
    later.created_at, later.duration_s = "2026-02-03T00:00:00+00:00", 99.0
    later.check("db.fk_indexes").findings[0].message = "plays.song_id has no index (130000 rows now)"
    second = json.loads(render(later, "gitlab", config_file="deploy/perfcheck.yaml"))
    assert [i["fingerprint"] for i in first] == [i["fingerprint"] for i in second]
    assert {i["location"]["path"] for i in second} == {"deploy/perfcheck.yaml"}


# --- SARIF locations, help and fixes -----------------------------------------------------------

def test_sarif_names_objects_logically_and_invents_no_file_paths():
    run = json.loads(render(sample_report(), "sarif"))["runs"][0]
    for result in run["results"]:
        (location,) = result["locations"]
        # one real-or-default file (GitHub rejects a result without one), never a path per object
        assert location["physicalLocation"]["artifactLocation"]["uri"] == "perfcheck.yaml"
        assert location["logicalLocations"][0]["fullyQualifiedName"]
    by_key = {r["partialFingerprints"]["perfcheckFindingKey/v1"]: r for r in run["results"]}
    logical = by_key["db.unused_indexes:public.songs_title_idx"]["locations"][0]["logicalLocations"][0]
    assert logical == {"fullyQualifiedName": "public.songs_title_idx", "kind": "index", "properties": {"target": "postgres"}}
    with_config = json.loads(render(sample_report(), "sarif", config_file="ci/perfcheck.yaml"))["runs"][0]
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in with_config["results"]} == {"ci/perfcheck.yaml"}


def test_sarif_help_uri_points_at_each_checks_section_of_the_docs():
    run = json.loads(render(sample_report(), "sarif"))["runs"][0]
    page = (HERE.parent / "docs" / "checks.md").read_text()
    for rule in run["tool"]["driver"]["rules"]:
        if rule["id"] == "perfcheck.regression":
            continue
        path, anchor = rule["helpUri"].split("#")
        assert path == "docs/checks.md" and (HERE.parent / path).is_file()
        assert f'<a id="{anchor}"></a>' in page, rule["helpUri"]
    assert run["tool"]["driver"]["rules"][1]["helpUri"] == "docs/checks.md#db-fk_indexes"


def test_sarif_carries_fix_statements_in_properties_and_says_how_to_apply_them():
    report = sample_report()
    report.check("db.fk_indexes").findings[0].fix = Fix(("CREATE INDEX CONCURRENTLY a ON t (x);", "ANALYZE t;"))
    run = json.loads(render(report, "sarif"))["runs"][0]
    result = next(r for r in run["results"] if r["partialFingerprints"]["perfcheckFindingKey/v1"] == "db.fk_indexes:public.plays (song_id)")
    assert result["properties"]["fixStatements"] == ["CREATE INDEX CONCURRENTLY a ON t (x);", "ANALYZE t;"]
    assert result["properties"]["fixApplicability"] == "safe"
    assert "fixes" not in result  # SARIF fixes edit files; there is no file to edit
    rule = run["tool"]["driver"]["rules"][result["ruleIndex"]]
    assert "safe: runs as it is" in rule["help"]["text"] and "fixStatements" in rule["help"]["markdown"]
    assert "apply-indexes" not in rule["help"]["text"]  # apply-indexes builds db.missing_indexes' only


# --- HTML: what a reader sees ----------------------------------------------------------------

def test_html_timestamp_is_readable():
    report = sample_report(with_baseline=False)
    report.created_at = "2026-12-05T09:41:07+01:00"
    text = render(report, "html")
    assert '<time datetime="2026-12-05T09:41:07+01:00">5 Dec 2026 08:41 UTC</time>' in text
    report.created_at = "yesterday"  # a hand-edited report: shown as it is, not a crash
    assert "yesterday" in render(report, "html")
    assert "against the baseline from 1 Jan 2026 00:00 UTC; score 88" in render(sample_report(), "html")


def test_html_shows_no_gate_box_when_no_gate_ran():
    report = sample_report(with_baseline=False)
    report.gate = {"passed": True, "failures": [], "warnings": []}  # every audit records one
    assert 'class="gate' not in render(report, "html") and "Gate passed" not in render(report, "html")
    report.gate = None
    assert 'class="gate' not in render(report, "html")
    report.gate = {"passed": True, "failures": [], "warnings": ["a lapsed mute"]}
    assert "Gate passed" in render(report, "html")
    assert "Gate failed" in render(sample_report(), "html")


def test_html_explains_each_check_from_the_checklist(frozen_checklist):
    text = render(sample_report(), "html")
    for check in sample_report().checks:
        assert f"<dd>Why {check.id} matters.</dd>" in text and f"<dd>How to fix {check.id}.</dd>" in text


def test_html_has_a_print_stylesheet_that_opens_every_check():
    text = render(sample_report(), "html")
    print_css = text[text.index("@media print"):]
    assert "details.check > *:not(summary) { display: block; }" in print_css
    assert "::details-content" in print_css


def test_html_latency_legend_shows_only_percentiles_with_bars():
    report = sample_report(with_baseline=False)
    for data in report.check("api.latency").metrics["endpoints"].values():
        data.pop("p95_ms")
    chart = render(report, "html")
    chart = chart[chart.index('<svg class="latency-chart"'):chart.index("</svg>", chart.index('<svg class="latency-chart"'))]
    assert ">P50</text>" in chart and ">P99</text>" in chart
    assert "P95" not in chart and "#f28e2b" not in chart  # no legend entry, bar or target line
    full = render(sample_report(with_baseline=False), "html")
    assert ">P95</text>" in full


def test_html_long_category_labels_keep_the_gauges_in_line(tmp_path):
    """Rendered in Chromium: every category ring's top edge is on the same row of pixels,
    however long a label under it wraps."""
    chromium = _chromium()
    report = sample_report(with_baseline=False)
    report.checks = [c for c in report.checks if c.id != "api.latency"]  # no chart: its grid has the ring's grey
    report.categories = [CategoryScore("database", "Database", None), CategoryScore("cache", "Cache", None),
                         CategoryScore("api", "An API category with a very long label that wraps over several lines", None),
                         CategoryScore("cdn", "Supercalifragilisticexpialidociousstaticassetsdeliverynetwork", None)]
    page = tmp_path / "report.html"
    page.write_text(render(report, "html"))
    shot = tmp_path / "shot.png"
    run = _browser(chromium, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,420", page.as_uri())
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    image = pytest.importorskip("PIL.Image").open(shot).convert("RGB")
    track = (0xe8, 0xea, 0xed)  # the ring's unfilled track; an unknown score shows the whole ring
    width, height = image.size
    pixels = image.load()
    columns = [min((y for y in range(height) if pixels[x, y] == track), default=None) for x in range(width)]
    rings, current = [], []
    for x, top in enumerate(columns + [None]):
        if top is not None:
            current.append(top)
        elif current:
            rings.append(min(current))
            current = []
    categories = rings[1:]  # the first is the overall ring, bigger by design
    assert len(categories) == 4, rings
    assert max(categories) - min(categories) <= 1, f"ring tops at {categories}"
