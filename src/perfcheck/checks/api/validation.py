"""`api.validation`: Bad input is rejected with 400/422."""

from __future__ import annotations

from perfcheck.checks.support.http import is_json, media_type, share_score, traceback_in
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check

REJECTED = (400, 413, 422)


@check("api.validation", requires=["http.validation"])
def validation(facts, t):
    endpoints = facts["http.validation"]
    if not endpoints:
        return Outcome.skip("no write endpoint configured: name one with kind: write under http.endpoints "
                            "to have malformed input sent to it")
    findings, judged, good, unjudged = [], 0, 0.0, []
    for ep in endpoints:
        for p in ep["probes"]:
            what = f"{p['probe']}"
            status = p.get("status")
            if status is None:
                unjudged.append(f"{ep['name']} ({what}): {p.get('error')}")
                continue
            if status in REJECTED:
                judged += 1
                if is_json(p):
                    good += 1
                else:
                    good += 0.7
                    findings.append(Finding("warn", ep["name"], f"{what} got {status} but a {media_type(p) or 'bodiless'} "
                                            "answer, not a JSON error", Fix.manual("answer validation errors as JSON (or problem+json)"),
                                            {"probe": what, "status": status}))
            elif status >= 500:
                judged += 1
                leaked = traceback_in(p)
                findings.append(Finding("fail", ep["name"], f"{what} crashed the endpoint: {status}"
                                        + (f", with a stack trace in the body ({leaked!r})" if leaked else "")
                                        + "; bad input must get 400 or 422",
                                        Fix.manual("validate the request body before using it (pydantic, zod, joi) and answer 422"),
                                        {"probe": what, "status": status, "traceback": bool(leaked)}))
            elif 200 <= status < 300:
                judged += 1
                findings.append(Finding("fail", ep["name"], f"{what} was accepted with {status}: the input is not validated",
                                        Fix.manual("validate types and sizes of every field; answer 422 with the errors"),
                                        {"probe": what, "status": status}))
            else:
                unjudged.append(f"{ep['name']} ({what}): answered {status} before validation"
                                + (" (add the endpoint's auth headers)" if status in (401, 403) else ""))
    if not judged:
        return Outcome.error("could not reach validation: " + "; ".join(unjudged))
    for why in unjudged:
        findings.append(Finding("info", why.split(" (", 1)[0], why))
    bad = sum(1 for f in findings if f.severity == "fail")
    summary = (f"{bad} of {judged} bad-input probes were not rejected with 400/422" if bad
               else f"all {judged} bad-input probes rejected with 400/422")
    return Outcome.scored(share_score(good, judged), summary, metrics={"probes": judged, "not_rejected": bad}, findings=findings)
