"""`api.latency`: Responses are fast at P50, P95 and P99."""

from __future__ import annotations

from typing import Any

from perfcheck.checks.support.latency import (
    attempted_requests,
    endpoints_of,
    failed_requests,
    fmt_ms,
    judge_endpoints,
    no_endpoints,
)
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.scoring import BELOW_PASS, BELOW_WARN

PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")


ERROR_FAIL_SHARE = 0.01  # more than 1 % failed requests is a failure, fewer a warning


SENDER_LAG_NOTE_MS = 5.0  # the load generator itself ran this late: the figures are inflated


SLOT_WAIT_NOTE_MS = 10.0  # sends waited this long for a free connection


SOURCE_KEYS = ("source", "runs_p95_ms", "above_top_bucket", "bucket_bounds_ms", "own_ms")  # per endpoint, when set


def _reliability_findings(name: str, run: dict[str, Any], during: str = "during the latency run") -> list[Finding]:
    """Failed requests, error-only answers, and runs that could not be trusted in full."""
    findings = []
    failed, attempted = failed_requests(run), attempted_requests(run)
    if failed and run.get("count"):  # with no answer at all, the "no answer" finding says it
        parts = [f"{run[k]} {k}" for k in ("errors", "timeouts", "unfinished") if run.get(k)]
        server = {s: n for s, n in run.get("status_counts", {}).items() if str(s).startswith("5")}
        parts += [f"{n} × {s}" for s, n in sorted(server.items())]
        samples = run.get("error_samples") or []
        share = failed / attempted if attempted else 1.0
        findings.append(Finding(
            "fail" if share > ERROR_FAIL_SHARE else "warn", name,
            f"{failed} of {attempted} requests failed {during} ({', '.join(parts)})"
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
    lag = (run.get("sender_lag_ms") or {}).get("p99_ms")  # perfcheck's own lateness: one note per report (_lag_note)
    waited = (run.get("late_sends") or {}).get("p99_ms")
    if waited is not None and waited > SLOT_WAIT_NOTE_MS and (lag is None or lag <= SENDER_LAG_NOTE_MS):
        findings.append(Finding(
            "info", name,
            f"requests waited up to {fmt_ms(waited)} (P99) for a free connection: every one was busy, and the wait "
            "is counted in the latency as a user would feel it (http.load.concurrency sets how many there are)",
            evidence={"late_send_p99_ms": waited}))
    if run.get("stopped_early") and run.get("count"):
        findings.append(Finding(
            "warn", name,
            f"an answer's {run['stopped_early']}: the endpoint was sent no more requests "
            f"({run.get('sent', 0)} went out), so its figures rest on fewer",
            Fix.manual(f"Page or stream what {name} returns; a latency budget is for answers of a sensible size."),
            {"sent": run.get("sent", 0), "stopped_early": run["stopped_early"]}))
    if run.get("stopped_by") == "max_seconds":
        # Say how many went out and how many of the counted ones never finished, so this
        # line and the request counts beside it add up.
        cut = run.get("unfinished", 0)
        findings.append(Finding(
            "info", name,
            f"the duration cap ended the run after {run.get('sent', 0)} requests had gone out"
            + (f" ({cut} of {attempted} counted were cut off or never sent)" if cut else "")
            + ": fewer than planned, so the tail is less certain",
            evidence={"sent": run.get("sent", 0), "unfinished": cut}))
    return findings


def _lag_note(runs: dict[str, dict[str, Any]]) -> list[Finding]:
    """One note, not one per endpoint, when perfcheck's load generator itself sent late
    (this machine was busy): it is about perfcheck's timing, not the API."""
    lags = {name: lag for name, run in runs.items()
            if (lag := (run.get("sender_lag_ms") or {}).get("p99_ms")) is not None and lag > SENDER_LAG_NOTE_MS}
    if not lags:
        return []
    worst = max(lags, key=lags.__getitem__)
    where = f"on {len(lags)} of {len(runs)} endpoints (worst: {worst})" if len(runs) > 1 else f"on {worst}"
    return [Finding(
        "info", "load generator",
        f"perfcheck's load generator itself sent requests up to {fmt_ms(lags[worst])} late at P99 {where}: "
        "this machine was busy, so the figures are pessimistic",
        evidence={"sender_lag_p99_ms": lags[worst], "endpoints": sorted(lags)})]


def source_note(source: dict[str, Any]) -> str:
    """Where the figures came from, for the summary line (nothing for one synthetic run)."""
    kind = source.get("kind")
    if kind in ("metrics", "prometheus"):
        where = "the service's /metrics" if kind == "metrics" else "Prometheus"
        return f"; from {where}: {source.get('metric')} over {source.get('window_s', 0):g} s"
    if kind == "locust":
        return f"; from Locust: {source.get('users')} users, {source.get('workers')} workers, {source.get('run_time_s')} s"
    if source.get("runs", 1) > 1:
        return f"; median of {source['runs']} runs"
    return ""


def _histogram_findings(name: str, run: dict[str, Any], targets: dict[str, float]) -> list[Finding]:
    """A figure read from histogram buckets is only as fine as the buckets around its target."""
    findings = []
    above = run.get("above_top_bucket") or []
    if above:
        top = (run.get("bucket_bounds_ms") or [None])[-1]
        # The figure is only a floor: under its target, the target may still be missed.
        unknown = [k for k in above if k in targets and run.get(k) is not None and run[k] <= targets[k]]
        labels = ", ".join(k.removesuffix("_ms").upper() for k in above)
        if unknown:
            findings.append(Finding(
                "warn", name,
                f"{labels} fell in the histogram's +Inf bucket: at least {fmt_ms(top)}, so whether it is within "
                f"{' / '.join(f'{targets[k]:g}' for k in unknown)} ms cannot be told",
                Fix.manual(f"Add histogram buckets above {max(targets[k] for k in unknown):g} ms to the service's metrics."),
                {"above_top_bucket": above, "top_bound_ms": top, "undecided": unknown}))
        else:
            findings.append(Finding(
                "info", name, f"{labels} fell in the histogram's +Inf bucket: the figure is at least {fmt_ms(top)}, "
                "the true value is higher", evidence={"above_top_bucket": above, "top_bound_ms": top}))
    return findings


@check("api.latency", requires=["http.latency"])
def latency(facts, t):
    fact = facts["http.latency"]
    if not endpoints_of(fact):
        return no_endpoints()
    targets = {key: float(t[key]) for key in PERCENTILES}
    keys = ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms", "count", "errors", "timeouts", "unfinished",
            "status_counts", "histogram", "protocol", "achieved_rate", "method", "path", "source", "runs_p95_ms",
            "above_top_bucket", "bucket_bounds_ms", "own_ms")
    score, per_endpoint, findings, worst = judge_endpoints(
        fact, targets, keys, "budget",
        "Profile the slow requests (db.slow_queries, db.missing_indexes, cache.hit_rate) and remove the slow part",
        count_failures=True)
    kind = (fact.get("source") or {}).get("kind")
    during = "in the window, by the service's own histogram" if kind in ("metrics", "prometheus") else \
        "during the Locust run" if kind == "locust" else "during the latency run"
    for name, run in endpoints_of(fact).items():
        reliability = _reliability_findings(name, run, during)
        if score is not None and any(f.severity == "fail" for f in reliability):
            # Over ERROR_FAIL_SHARE of its requests failed: the check fails with its finding,
            # whatever the time-weighted score (half the answers 500 scored exactly 0.5, a warning).
            score = min(score, BELOW_WARN)
        findings += reliability
    findings += _lag_note(endpoints_of(fact))
    for name, run in endpoints_of(fact).items():
        floors = _histogram_findings(name, run, targets)
        if score is not None and any(f.evidence.get("undecided") for f in floors):
            score = min(score, BELOW_PASS)  # no pass on a figure that is only a floor
        findings += floors
        for key in SOURCE_KEYS:  # only where a source sets them: a synthetic run's entries stay as they were
            if name in per_endpoint and per_endpoint[name].get(key) is None:
                per_endpoint[name].pop(key, None)
    source = fact.get("source") or {"kind": "synthetic"}
    metrics = {"endpoints": per_endpoint, "targets_ms": targets, "source": source,
               "load": {k: fact.get(k) for k in ("requests", "rate", "warmup") if k in fact}}
    order = {"fail": 0, "warn": 1, "info": 2}
    findings.sort(key=lambda f: order.get(f.severity, 3))
    run = endpoints_of(fact)[worst]
    n = len(per_endpoint)
    shown = (f"P50 {fmt_ms(run.get('p50_ms'))}, P95 {fmt_ms(run.get('p95_ms'))}, P99 {fmt_ms(run.get('p99_ms'))}"
             if run.get("count") else f"no complete answer ({run['stopped_early']})" if run.get("stopped_early")
             else "no answer")
    summary = (f"{n} endpoint{'s' if n != 1 else ''}; worst {worst}: {shown} "
               f"(targets {targets['p50_ms']:g} / {targets['p95_ms']:g} / {targets['p99_ms']:g} ms){source_note(source)}")
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)
