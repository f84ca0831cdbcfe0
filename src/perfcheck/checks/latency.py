"""api.latency and api.ttfb: the latency engine's per-endpoint percentiles against the
checklist's budget (P50 < 50 ms, P95 < 100 ms, P99 < 200 ms, first byte < 50 ms).

The fact `http.latency` is {"endpoints": {name: run_load result}, "requests", "rate",
"warmup"} (see perfcheck.collectors.http.load for a result's fields). An endpoint scores its worst
percentile on the log-normal curve (0.9 at the target, 0.5 at twice it), times the
share of its requests that got a non-5xx answer; the check scores its worst endpoint,
because one slow endpoint is a slow product.
"""

from __future__ import annotations

from typing import Any

from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.scoring import lognormal

PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")
MEDIAN_FACTOR = 2.0  # a percentile at twice its target scores 0.5
ERROR_FAIL_SHARE = 0.01  # more than 1 % failed requests is a failure, fewer a warning
SENDER_LAG_NOTE_MS = 5.0  # the load generator itself ran this late: the figures are inflated
SLOT_WAIT_NOTE_MS = 10.0  # sends waited this long for a free connection


def _label(key: str) -> str:
    """p95_ms -> P95, ttfb_p50_ms -> TTFB P50"""
    short = key.removesuffix("_ms")
    return "TTFB " + short.removeprefix("ttfb_").upper() if short.startswith("ttfb_") else short.upper()


def _fmt(ms: float | None) -> str:
    if ms is None:
        return "n/a"
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms" if ms >= 1 else f"{ms:.2f} ms"


def _endpoints(fact: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return fact.get("endpoints") or {}


def _failed(run: dict[str, Any]) -> int:
    """Requests without a usable answer: errors, timeouts, cut off, and 5xx."""
    server_errors = sum(n for status, n in run.get("status_counts", {}).items() if str(status).startswith("5"))
    return run.get("errors", 0) + run.get("timeouts", 0) + run.get("unfinished", 0) + server_errors


def _attempted(run: dict[str, Any]) -> int:
    return run.get("count", 0) + run.get("errors", 0) + run.get("timeouts", 0) + run.get("unfinished", 0)


def _reliability_findings(name: str, run: dict[str, Any]) -> list[Finding]:
    """Failed requests, error-only answers, and runs that could not be trusted in full."""
    findings = []
    failed, attempted = _failed(run), _attempted(run)
    if failed and run.get("count"):  # with no answer at all, the "no answer" finding says it
        parts = [f"{run[k]} {k}" for k in ("errors", "timeouts", "unfinished") if run.get(k)]
        server = {s: n for s, n in run.get("status_counts", {}).items() if str(s).startswith("5")}
        parts += [f"{n} × {s}" for s, n in sorted(server.items())]
        samples = run.get("error_samples") or []
        share = failed / attempted if attempted else 1.0
        findings.append(Finding(
            "fail" if share > ERROR_FAIL_SHARE else "warn", name,
            f"{failed} of {attempted} requests failed during the latency run ({', '.join(parts)})"
            + (f": {samples[0]}" if samples else ""),
            Fix.manual(f"Find why {name} fails under {run.get('achieved_rate') or 'a modest'} requests/s "
                 "(server logs, timeouts, connection limits)."),
            {"failed": failed, "attempted": attempted, "errors": run.get("errors", 0),
             "timeouts": run.get("timeouts", 0), "unfinished": run.get("unfinished", 0),
             "server_errors": sum(server.values()), "error_samples": samples}))
    statuses = run.get("status_counts") or {}
    if statuses and all(str(s).startswith("4") for s in statuses):
        findings.append(Finding(
            "info", name,
            f"every answer was a client error ({', '.join(sorted(statuses))}): this measured the error path; "
            "give the endpoint the headers it needs (perfcheck.yaml http.endpoints)",
            evidence={"status_counts": statuses}))
    lag = (run.get("sender_lag_ms") or {}).get("p99_ms")
    if lag is not None and lag > SENDER_LAG_NOTE_MS:
        findings.append(Finding(
            "info", name,
            f"the load generator itself sent {_fmt(lag)} late at P99 (this machine was busy): the figures are pessimistic",
            evidence={"sender_lag_p99_ms": lag}))
    waited = (run.get("late_sends") or {}).get("p99_ms")
    if waited is not None and waited > SLOT_WAIT_NOTE_MS and (lag is None or lag <= SENDER_LAG_NOTE_MS):
        findings.append(Finding(
            "info", name,
            f"requests waited up to {_fmt(waited)} (P99) for a free connection: every one was busy, and the wait "
            "is counted in the latency as a user would feel it (http.load.concurrency sets how many there are)",
            evidence={"late_send_p99_ms": waited}))
    if run.get("stopped_by") == "max_seconds":
        findings.append(Finding(
            "info", name,
            f"the duration cap ended the run after {run.get('sent', 0)} requests: fewer than planned, so the tail is less certain",
            evidence={"sent": run.get("sent", 0)}))
    return findings


def _judge(fact: dict[str, Any], targets: dict[str, float], metric_keys: tuple[str, ...], what: str,
           fix_hint: str, count_failures: bool) -> tuple[float | None, dict[str, dict[str, Any]], list[Finding], str]:
    """Score each endpoint on `targets`; (score, per-endpoint metrics, findings, worst endpoint)."""
    per_endpoint: dict[str, dict[str, Any]] = {}
    findings: list[Finding] = []
    scores: dict[str, float] = {}
    for name, run in _endpoints(fact).items():
        measured = {key: run.get(key) for key in targets}
        attempted = _attempted(run)
        entry = {key: run.get(key) for key in metric_keys}
        if all(v is None for v in measured.values()) or not run.get("count"):
            if not count_failures:
                continue
            scores[name] = 0.0
            per_endpoint[name] = {**entry, "score": 0.0}
            samples = run.get("error_samples") or []
            findings.append(Finding(
                "fail", name, f"no answer to any of {attempted} requests"
                + (f" ({samples[0]})" if samples else ""),
                evidence={k: run.get(k, 0) for k in ("errors", "timeouts", "unfinished")} | {"error_samples": samples}))
            continue
        part = {key: lognormal(value, limit, limit * MEDIAN_FACTOR) for key, limit in targets.items()
                if (value := measured[key]) is not None}
        usable = 1.0 - min(1.0, _failed(run) / attempted) if attempted and count_failures else 1.0
        score = min(part.values()) * usable
        scores[name] = score
        per_endpoint[name] = {**entry, "score": round(score, 3)}
        over = [key for key in targets if measured[key] is not None and measured[key] > targets[key]]
        if over:
            worst = min(part, key=part.get)
            severity = "fail" if part[worst] < 0.5 else "warn"
            shown = ", ".join(f"{_label(k)} {_fmt(measured[k])}" for k in targets)
            budget = " / ".join(f"{targets[k]:g}" for k in targets)
            findings.append(Finding(
                severity, name,
                f"{shown} against {budget} ms ({', '.join(_label(k) for k in over)} over {what})",
                Fix.manual(fix_hint),
                {**{k: measured[k] for k in targets}, **{f"target_{k}": targets[k] for k in targets},
                 "count": run.get("count"), "max_ms": run.get("max_ms")}))
    if not scores:
        return None, per_endpoint, findings, ""
    worst_name = min(scores, key=scores.get)
    return scores[worst_name], per_endpoint, findings, worst_name


def _no_endpoints() -> Outcome:
    return Outcome.error("the latency run measured no endpoint (no http.latency results)")


@check("api.latency", requires=["http.latency"])
def latency(facts, t):
    fact = facts["http.latency"]
    if not _endpoints(fact):
        return _no_endpoints()
    targets = {key: float(t[key]) for key in PERCENTILES}
    keys = ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms", "count", "errors", "timeouts", "unfinished",
            "status_counts", "histogram", "protocol", "achieved_rate")
    score, per_endpoint, findings, worst = _judge(
        fact, targets, keys, "budget",
        "Profile the slow requests (db.slow_queries, db.missing_indexes, cache.hit_rate) and remove the slow part",
        count_failures=True)
    for name, run in _endpoints(fact).items():
        findings += _reliability_findings(name, run)
    metrics = {"endpoints": per_endpoint, "targets_ms": targets,
               "load": {k: fact.get(k) for k in ("requests", "rate", "warmup") if k in fact}}
    order = {"fail": 0, "warn": 1, "info": 2}
    findings.sort(key=lambda f: order.get(f.severity, 3))
    run = _endpoints(fact)[worst]
    n = len(per_endpoint)
    shown = (f"P50 {_fmt(run.get('p50_ms'))}, P95 {_fmt(run.get('p95_ms'))}, P99 {_fmt(run.get('p99_ms'))}"
             if run.get("count") else "no answer")
    summary = (f"{n} endpoint{'s' if n != 1 else ''}; worst {worst}: {shown} "
               f"(targets {targets['p50_ms']:g} / {targets['p95_ms']:g} / {targets['p99_ms']:g} ms)")
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)


@check("api.ttfb", requires=["http.latency"])
def ttfb(facts, t):
    fact = facts["http.latency"]
    if not _endpoints(fact):
        return _no_endpoints()
    percentile = str(t.get("percentile", 50)).removeprefix("p").removesuffix("_ms")
    key = f"ttfb_p{percentile}_ms"
    if percentile not in ("50", "95", "99"):
        return Outcome.error(f"checks.api.ttfb.thresholds.percentile must be 50, 95 or 99, not {t.get('percentile')!r}")
    targets = {key: float(t["ttfb_ms"])}
    score, per_endpoint, findings, worst = _judge(
        fact, targets, ("ttfb_p50_ms", "ttfb_p95_ms", "ttfb_p99_ms", "count"), "the target",
        "Cache or precompute what it serves, stream the response, and keep connections to the database warm",
        count_failures=False)  # failed requests are api.latency's findings
    metrics = {"endpoints": per_endpoint, "target_ms": targets[key], "percentile": int(percentile)}
    if score is None:
        return Outcome.error("no endpoint answered during the latency run", metrics=metrics, findings=findings)
    value = _endpoints(fact)[worst].get(key)
    summary = f"slowest first byte: {worst} at {_fmt(value)} ({_label(key)}; target {targets[key]:g} ms)"
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)
