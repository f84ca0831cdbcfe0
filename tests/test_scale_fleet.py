"""Fleets and history: several targets audited at once (one unreachable: its report says so,
the others go on), a summary per target and category, and a history rendered as a trend."""

from __future__ import annotations

import json

from helpers import perfcheck
from perfcheck.history import sparkline


def _fleet_config(tmp_path, database, redis_server) -> str:
    path = tmp_path / "perfcheck.yaml"
    path.write_text(
        "fleet:\n  concurrency: 3\n  targets:\n"
        f"    - {{name: orders, db: '{database.url}'}}\n"
        f"    - {{name: sessions, redis: '{redis_server.url}'}}\n"
        "    - {name: billing, db: 'postgresql://app:s3cret-pw@127.0.0.1:1/billing'}\n")
    return str(path)


def test_fleet_with_one_unreachable_target(tmp_path, database, redis_server):
    cfg = _fleet_config(tmp_path, database, redis_server)
    out = tmp_path / "out"
    run = perfcheck("audit", "-c", cfg, "--all", "--output-dir", str(out), "-f", "json", "-f", "markdown",
                    "--history", str(tmp_path / "hist"))
    assert run.code == 1, run.err  # billing is unreachable: the fleet's gate fails
    assert "Traceback" not in run.err and "s3cret-pw" not in run.err + run.out
    summary = json.loads((out / "fleet-summary.json").read_text())
    assert summary["schema"] == "perfcheck.fleet/1" and not summary["passed"]
    by_name = {t["name"]: t for t in summary["targets"]}
    assert set(by_name) == {"orders", "sessions", "billing"}
    assert by_name["orders"]["reached"] and by_name["orders"]["score"] is not None
    assert by_name["orders"]["categories"]["database"] is not None
    assert by_name["sessions"]["reached"] and by_name["sessions"]["categories"]["cache"] is not None
    billing = by_name["billing"]
    assert not billing["reached"] and billing["score"] is None and "unreachable" in billing["errors"][0]
    # one report per target; the unreachable one says so
    for name in by_name:
        report = json.loads((out / name / "perfcheck-report.json").read_text())
        assert report["schema"] == "perfcheck.report/1"
        assert (out / name / "perfcheck-report.md").exists()
    billing_report = json.loads((out / "billing" / "perfcheck-report.json").read_text())
    assert billing_report["errors"] and "unreachable" in billing_report["errors"][0]
    assert "s3cret-pw" not in (out / "billing" / "perfcheck-report.json").read_text()
    table = (out / "fleet-summary.md").read_text()
    assert "| orders |" in table and "| billing |" in table and "unreachable" in table
    lines = (tmp_path / "hist" / "history.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["target"] for line in lines) == ["billing", "orders", "sessions"]
    trend = perfcheck("trend", str(tmp_path / "hist"))
    assert trend.code == 0 and "[orders]" in trend.out and "[billing]" in trend.out


def test_fleet_target_selection_and_unknown_name(tmp_path, database, redis_server):
    cfg = _fleet_config(tmp_path, database, redis_server)
    run = perfcheck("audit", "-c", cfg, "--target", "orders", "-f", "json")
    assert run.code == 0, run.err
    data = json.loads(run.out)
    assert [t["name"] for t in data["targets"]] == ["orders"] and data["passed"]
    bad = perfcheck("audit", "-c", cfg, "--target", "order")
    assert bad.code == 2 and "did you mean 'orders'" in bad.err and len(bad.err.strip().splitlines()) == 1


def test_history_of_several_runs_renders_a_trend(tmp_path, database):
    hist = tmp_path / "hist"
    for _ in range(3):
        run = perfcheck("audit", "--db", database.url, "--only", "database", "--history", str(hist), "-f", "json")
        assert run.code == 0, run.err
    lines = [json.loads(line) for line in (hist / "history.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and all(line["schema"] == "perfcheck.history/1" for line in lines)
    assert all(isinstance(line["score"], int) and "database" in line["categories"] for line in lines)
    trend = perfcheck("trend", str(hist))
    assert trend.code == 0, trend.err
    assert "3 runs" in trend.out and "score" in trend.out
    gated = perfcheck("audit", "--db", database.url, "--only", "database", "--history", str(hist),
                      "--baseline-from-history", "3", "-f", "json")
    assert gated.code == 0, gated.err
    assert json.loads(gated.out)["baseline"] is not None  # compared with the median run
    assert perfcheck("trend", str(tmp_path / "none")).code == 2


def test_sparkline():
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, 5]) == "▁▁"
    assert sparkline([None, 1.0]) == " ▁"
