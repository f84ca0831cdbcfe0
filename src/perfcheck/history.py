"""Run history: each audit appends one JSON line (scores, latency percentiles, finding keys,
versions) to DIR/history.jsonl and keeps its full JSON report in DIR/reports/, the last
KEEP_REPORTS of them. `perfcheck trend` draws the lines as sparklines; a baseline can be the
median of the last N runs, which is steadier than any one of them."""

from __future__ import annotations

import copy
import json
import os
import statistics
from pathlib import Path
from typing import Any

from perfcheck.config import ConfigError
from perfcheck.model import Report

FILE = "history.jsonl"
REPORTS = "reports"
KEEP_REPORTS = 50
SCHEMA = "perfcheck.history/1"
BARS = "▁▂▃▄▅▆▇█"
LATENCY_CHECK = "api.latency"


def summary(report: Report, target: str = "") -> dict[str, Any]:
    """One run, as the history keeps it."""
    latency: dict[str, dict[str, Any]] = {}
    try:
        result = report.check(LATENCY_CHECK)
        source = (result.metrics.get("source") or {}).get("kind", "synthetic")
        for name, entry in (result.metrics.get("endpoints") or {}).items():
            latency[name] = {k: entry.get(k) for k in ("p50_ms", "p95_ms", "p99_ms", "count")} | {"source": source}
    except KeyError:
        pass
    findings = sorted(f"{c.id}:{f.object}" for c in report.checks for f in c.findings if f.severity in ("fail", "warn"))
    return {
        "schema": SCHEMA, "target": target, "created_at": report.created_at, "perfcheck_version": report.version,
        "score": report.score, "categories": {c.id: c.score for c in report.categories},
        "checks": {c.id: c.status.value for c in report.checks}, "latency": latency, "findings": findings,
        "errors": len(report.errors), "duration_s": round(report.duration_s, 2),
    }


def append(directory: Path, report: Report, target: str = "") -> Path:
    """Append the run's line (one write: lines of concurrent runs don't interleave) and keep its report."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        line = json.dumps(summary(report, target), ensure_ascii=False, sort_keys=True) + "\n"
        fd = os.open(directory / FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        kept = directory / REPORTS
        kept.mkdir(exist_ok=True)
        stamp = report.created_at.replace(":", "").replace("+", "_") or "run"
        name = f"{stamp}-{target or 'default'}-{os.getpid()}.json"
        (kept / name).write_text(json.dumps(report.to_dict(), ensure_ascii=False, default=str))
        for old in sorted(kept.glob("*.json"), key=lambda p: p.stat().st_mtime)[:-KEEP_REPORTS]:
            old.unlink(missing_ok=True)
    except OSError as exc:
        raise ConfigError(f"--history {directory}: cannot write: {exc.strerror or exc}") from None
    return directory / FILE


def read(directory: Path, target: str | None = None, last: int = 20) -> list[dict[str, Any]]:
    """The last `last` runs (of `target`, when given), oldest first; unreadable lines are skipped."""
    path = directory / FILE
    if not path.is_file():
        raise ConfigError(f"{directory}: no {FILE} here (run `perfcheck audit --history {directory}` first)")
    runs = []
    with open(path, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("schema") == SCHEMA and (target is None or entry.get("target") == target):
                runs.append(entry)
    return runs[-last:]


def sparkline(values: list[float | None]) -> str:
    """▁▃█ for the values (a gap for a run without one); flat when they are all equal."""
    known = [v for v in values if v is not None]
    if not known:
        return " " * len(values)
    low, high = min(known), max(known)
    span = high - low
    return "".join(" " if v is None else BARS[0 if span == 0 else min(len(BARS) - 1, int((v - low) / span * len(BARS)))]
                   for v in values)


def trend_rows(runs: list[dict[str, Any]]) -> list[tuple[str, str, list[float | None]]]:
    """(what, unit, values per run): the overall score, then P95 per endpoint."""
    rows: list[tuple[str, str, list[float | None]]] = [("score", "", [r.get("score") for r in runs])]
    endpoints = sorted({name for r in runs for name in (r.get("latency") or {})})
    for name in endpoints:
        rows.append((f"P95 {name}", "ms", [((r.get("latency") or {}).get(name) or {}).get("p95_ms") for r in runs]))
    return rows


def trend_text(runs: list[dict[str, Any]]) -> str:
    """The trend; a fleet's history one block per target."""
    if not runs:
        return "no run recorded yet\n"
    targets = list(dict.fromkeys(r.get("target") or "" for r in runs))
    if len(targets) > 1:
        return "\n".join(f"[{t or 'default'}]\n" + _trend_block([r for r in runs if (r.get("target") or "") == t])
                         for t in targets)
    return _trend_block(runs)


def _trend_block(runs: list[dict[str, Any]]) -> str:
    rows = trend_rows(runs)
    width = max(len(what) for what, _, _ in rows)
    first, last = runs[0].get("created_at", "?"), runs[-1].get("created_at", "?")
    lines = [f"{len(runs)} run{'s' if len(runs) != 1 else ''} from {first} to {last}"]
    for what, unit, values in rows:
        known = [v for v in values if v is not None]
        latest = f"{values[-1]:g}{' ' + unit if unit else ''}" if values[-1] is not None else "n/a"
        spread = f"min {min(known):g}, median {statistics.median(known):g}, max {max(known):g}" if known else ""
        lines.append(f"{what:<{width}}  {sparkline(values)}  now {latest}  ({spread})")
    return "\n".join(lines) + "\n"


def baseline_from(directory: Path, last: int, target: str = "") -> Report:
    """A baseline for the gate: the run with the median score among the last `last` kept
    reports, its latency percentiles replaced by each endpoint's median over those runs."""
    kept = sorted((directory / REPORTS).glob(f"*-{target or 'default'}-*.json"), key=lambda p: p.stat().st_mtime)[-last:]
    reports = []
    for path in kept:
        try:
            reports.append(Report.from_dict(json.loads(path.read_text())))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    if not reports:
        raise ConfigError(f"--baseline-from-history: no saved run in {directory / REPORTS}; "
                          f"run `perfcheck audit --history {directory}` first")
    ranked = sorted(reports, key=lambda r: (r.score is None, r.score or 0))
    base = copy.deepcopy(ranked[(len(ranked) - 1) // 2])
    try:
        result = base.check(LATENCY_CHECK)
    except KeyError:
        return base
    for name, entry in (result.metrics.get("endpoints") or {}).items():
        for key in ("p50_ms", "p95_ms", "p99_ms"):
            values = [v for r in reports if (v := _endpoint_value(r, name, key)) is not None]
            if values:
                entry[key] = statistics.median(values)
    return base


def _endpoint_value(report: Report, endpoint: str, key: str) -> float | None:
    try:
        return ((report.check(LATENCY_CHECK).metrics.get("endpoints") or {}).get(endpoint) or {}).get(key)
    except KeyError:
        return None
