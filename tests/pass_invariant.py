"""The pass invariant, shared by the property test and the real-server profile tests: a `pass`
never carries a figure past its own threshold (in its summary, metrics or findings), and never
a warn or fail finding."""

from __future__ import annotations

from typing import Any, Iterable

from perfcheck.registry import load_checks

# (check id, threshold key) -> (path into the check's metrics, "max" when more is worse / "min")
LIMITED_METRICS: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("cache.latency", "p50_ms"): (("p50_ms",), "max"),
    ("cache.latency", "p99_ms"): (("p99_ms",), "max"),
    ("cache.latency", "max_slowlog"): (("slowlog_recent",), "max"),
    ("cache.levels", "target"): (("overall_hit_rate",), "min"),
    ("cache.hit_rate", "target"): (("window_hit_rate",), "min"),
    ("rt.heartbeat", "ping_interval_ms"): (("ping_interval_ms",), "max"),
    ("rt.heartbeat", "ping_timeout_ms"): (("ping_timeout_ms",), "min"),
}


def _dig(data: Any, path: Iterable[str]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def contradictions(check_id: str, status: str, metrics: dict[str, Any], findings: list[dict[str, Any]],
                   thresholds: dict[str, Any]) -> list[str]:
    """What in a passing result contradicts it; [] when the result is not a pass or is consistent."""
    if status != "pass":
        return []
    out = [f"{check_id} passes with a {f['severity']} finding on {f['object']}: {f['message']}"
           for f in findings if f["severity"] in ("warn", "fail") and not f.get("muted")]
    for (cid, key), (path, direction) in LIMITED_METRICS.items():
        value, limit = _dig(metrics, path), thresholds.get(key)
        if cid != check_id or not isinstance(value, (int, float)) or not isinstance(limit, (int, float)):
            continue
        if (direction == "max" and value > limit) or (direction == "min" and value < limit):
            out.append(f"{check_id} passes with {'.'.join(path)} = {value} past its threshold {key} = {limit}")
    return out


def audit_thresholds(overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """The thresholds an audit judged with: the checklist's, with a config's `checks:` overrides."""
    out = {cid: dict(chk.meta.thresholds) for cid, chk in load_checks().checks.items()}
    for cid, values in (overrides or {}).items():
        out[cid].update(values)
    return out


def report_contradictions(report: dict[str, Any], thresholds: dict[str, dict[str, Any]]) -> list[str]:
    """Every contradiction in a JSON report (`thresholds`: id -> the thresholds the audit used)."""
    out = []
    for c in report["checks"]:
        out += contradictions(c["id"], c["status"], c.get("metrics") or {}, c.get("findings") or [],
                              thresholds.get(c["id"], {}))
    return out
