"""`api.errors`: Errors are JSON of one shape, without stack traces."""

from __future__ import annotations

from typing import Any

from perfcheck.checks.support.http import is_json, label, media_type, traceback_in
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check


def _shape(e: dict[str, Any]) -> str:
    """An error body's shape: problem+json, or its top-level keys."""
    if media_type(e) == "application/problem+json":
        return "application/problem+json"
    body = e.get("json")
    if isinstance(body, dict):
        return "{" + ", ".join(sorted(body)) + "}"
    return type(body).__name__


@check("api.errors", requires=["http.errors", "http.validation", "http.endpoints"])
def errors(facts, t):
    probes = list(facts["http.errors"]["probes"])
    for ep in facts["http.validation"]:
        probes += [p for p in ep["probes"] if (p.get("status") or 0) >= 400]
    findings, scores, shapes = [], [], {}
    for p in probes:
        status = p.get("status")
        if status is None:
            findings.append(Finding("info", label(p), f"{p['probe']} got no answer: {p.get('error')}"))
            continue
        leaked = traceback_in(p)
        what = p.get("probe", "request")
        if status < 400:
            if what == "unknown route":
                scores.append(0.5)
                findings.append(Finding("warn", label(p), f"an unknown route answered {status} "
                                        f"({media_type(p) or 'no content type'}), not 404: a catch-all hides mistakes",
                                        Fix.manual("answer unknown API routes with a JSON 404"), {"status": status}))
            continue  # a bad query parameter that is ignored is not an error answer
        if leaked:
            scores.append(0.0)
            findings.append(Finding("fail", label(p), f"{what}: the {status} answer leaks a stack trace ({leaked!r})",
                                    Fix.manual("log the traceback server-side; answer a JSON error without it"),
                                    {"status": status, "probe": what}))
        elif status >= 500 and what != "unknown route":
            scores.append(0.0)
            findings.append(Finding("fail", label(p), f"{what} got {status}: bad input must be a 4xx, not a server error",
                                    Fix.manual("validate input and answer 400/422"), {"status": status, "probe": what}))
        elif not is_json(p):
            scores.append(0.5)
            findings.append(Finding("warn", label(p), f"{what}: the {status} error is {media_type(p) or 'bodiless'}, not JSON",
                                    Fix.manual('one error handler answering {"error": {"code", "message"}} or application/problem+json'),
                                    {"status": status, "content_type": media_type(p), "probe": what}))
        else:
            scores.append(1.0)
            shapes.setdefault(_shape(p), []).append(label(p))
    for e in facts["http.endpoints"]:
        status, expected = e.get("status"), e.get("expected_status")
        if status is not None and expected and status != expected:
            severe = status >= 500
            scores.append(0.0 if severe else 0.5)
            findings.append(Finding("fail" if severe else "warn", label(e), f"answered {status}, expected {expected}",
                                    None, {"status": status, "expected": expected}))
    if not scores:
        return Outcome.error("no error answer to judge: " + "; ".join(f.message for f in findings))
    score = sum(scores) / len(scores)
    if len(shapes) > 1:
        score *= 0.7
        findings.append(Finding("warn", "error shape", "JSON errors come in %d shapes: %s" % (
            len(shapes), "; ".join(f"{s} ({', '.join(names)})" for s, names in shapes.items())),
            Fix.manual("one error handler for every exception, one body shape"), {"shapes": sorted(shapes)}))
    bad = [f for f in findings if f.severity in ("fail", "warn")]
    summary = (f"{len(bad)} problem(s) in {len(scores)} error answers" if bad
               else f"{len(scores)} error answers: JSON, one shape, no stack trace")
    return Outcome.scored(score, summary, metrics={"error_answers": len(scores), "shapes": sorted(shapes)}, findings=findings)
