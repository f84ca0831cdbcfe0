"""Helpers shared by `api.latency`, `api.ttfb`."""

from __future__ import annotations

from typing import Any

from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome
from perfcheck.scoring import lognormal

MEDIAN_FACTOR = 2.0  # a percentile at twice its target scores 0.5


def metric_label(key: str) -> str:
    """p95_ms -> P95, ttfb_p50_ms -> TTFB P50"""
    short = key.removesuffix("_ms")
    return "TTFB " + short.removeprefix("ttfb_").upper() if short.startswith("ttfb_") else short.upper()


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "n/a"
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms" if ms >= 1 else f"{ms:.2f} ms"


def endpoints_of(fact: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return fact.get("endpoints") or {}


def failed_requests(run: dict[str, Any]) -> int:
    """Requests without a usable answer: errors, timeouts, cut off, and 5xx."""
    server_errors = sum(n for status, n in run.get("status_counts", {}).items() if str(status).startswith("5"))
    return run.get("errors", 0) + run.get("timeouts", 0) + run.get("unfinished", 0) + server_errors


def attempted_requests(run: dict[str, Any]) -> int:
    return run.get("count", 0) + run.get("errors", 0) + run.get("timeouts", 0) + run.get("unfinished", 0)


def judge_endpoints(fact: dict[str, Any], targets: dict[str, float], metric_keys: tuple[str, ...], what: str,
           fix_hint: str, count_failures: bool) -> tuple[float | None, dict[str, dict[str, Any]], list[Finding], str]:
    """Score each endpoint on `targets`; (score, per-endpoint metrics, findings, worst endpoint)."""
    per_endpoint: dict[str, dict[str, Any]] = {}
    findings: list[Finding] = []
    scores: dict[str, float] = {}
    for name, run in endpoints_of(fact).items():
        measured = {key: run.get(key) for key in targets}
        attempted = attempted_requests(run)
        entry = {key: run.get(key) for key in metric_keys}
        if all(v is None for v in measured.values()) or not run.get("count"):
            if not count_failures:
                continue
            scores[name] = 0.0
            per_endpoint[name] = {**entry, "score": 0.0}
            samples = run.get("error_samples") or []
            early = run.get("stopped_early")
            findings.append(Finding(
                "fail", name,
                f"no complete answer to any of {attempted} requests ({early}; the endpoint was sent no more)" if early
                else f"no answer to any of {attempted} requests" + (f" ({samples[0]})" if samples else ""),
                evidence={k: run.get(k, 0) for k in ("errors", "timeouts", "unfinished")} | {"error_samples": samples}))
            continue
        part = {key: lognormal(value, limit, limit * MEDIAN_FACTOR) for key, limit in targets.items()
                if (value := measured[key]) is not None}
        usable = 1.0 - min(1.0, failed_requests(run) / attempted) if attempted and count_failures else 1.0
        score = min(part.values()) * usable
        scores[name] = score
        per_endpoint[name] = {**entry, "score": round(score, 3)}
        over = [key for key in targets if measured[key] is not None and measured[key] > targets[key]]
        if over:
            worst = min(part, key=part.get)
            severity = "fail" if part[worst] < 0.5 else "warn"
            shown = ", ".join(f"{metric_label(k)} {fmt_ms(measured[k])}" for k in targets)
            budget = " / ".join(f"{targets[k]:g}" for k in targets)
            findings.append(Finding(
                severity, name,
                f"{shown} against {budget} ms ({', '.join(metric_label(k) for k in over)} over {what})",
                Fix.manual(fix_hint),
                {**{k: measured[k] for k in targets}, **{f"target_{k}": targets[k] for k in targets},
                 "count": run.get("count"), "max_ms": run.get("max_ms")}))
    if not scores:
        return None, per_endpoint, findings, ""
    worst_name = min(scores, key=scores.get)
    return scores[worst_name], per_endpoint, findings, worst_name


def no_endpoints() -> Outcome:
    return Outcome.error("the latency run measured no endpoint (no http.latency results)")
