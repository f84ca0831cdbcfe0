"""`cdn.html_cache`: HTML revalidates."""

from __future__ import annotations

from perfcheck.checks.support.http import cache_control, header, human_seconds, label, max_age
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check


@check("cdn.html_cache", requires=["http.html"])
def html_cache(facts, t):
    pages = facts["http.html"]
    if not pages:
        return Outcome.skip("the base URL does not answer HTML, and no kind: html endpoint is configured")
    findings, scores = [], []
    for p in pages:
        if p.get("status") != 200:
            findings.append(Finding("warn", label(p), f"answered {p.get('status') or p.get('error')}"))
            continue
        cc = cache_control(p)
        age = max_age(cc)
        raw = header(p, "cache-control") or "none"
        fix = Fix.manual("Cache-Control: max-age=0, must-revalidate (or no-cache) and an ETag on HTML")
        evidence = {"cache_control": None if raw == "none" else raw, "max_age_s": age}
        if "no-cache" in cc or (age == 0 and "must-revalidate" in cc):
            cache_part = 1.0
        elif "no-store" in cc:
            cache_part = 0.8
            findings.append(Finding("warn", label(p), "no-store: never stale, but every visit downloads the page again; "
                                    "no-cache lets browsers revalidate with a 304", fix, evidence))
        elif age is not None and age > 0:
            cache_part = 0.0
            findings.append(Finding("fail", label(p), f"HTML is cached for {human_seconds(age)} (Cache-Control: {raw}): "
                                    "after a deploy users keep the old page and its old assets", fix, evidence))
        elif age == 0:
            cache_part = 0.9
        else:
            cache_part = 0.5
            findings.append(Finding("warn", label(p), "no Cache-Control on HTML: browsers guess a lifetime "
                                    "(heuristic caching)", fix, evidence))
        cond = p.get("conditional")
        if "no-store" in cc:
            scores.append(cache_part)  # nothing is stored, so there is nothing to revalidate
            continue
        if cond is None:
            reval_part = 0.0
            findings.append(Finding("warn", label(p), "no ETag or Last-Modified: a repeat visit downloads the whole page",
                                    Fix.manual("send an ETag (or Last-Modified) with HTML"), {}))
        elif cond.get("status") == 304:
            reval_part = 1.0
        else:
            reval_part = 0.3
            findings.append(Finding("warn", label(p), f"a conditional request ({cond['sent']}) got "
                                    f"{cond.get('status') or cond.get('error')}, not 304",
                                    Fix.manual("answer If-None-Match / If-Modified-Since with 304 Not Modified"),
                                    {"status": cond.get("status")}))
        scores.append(0.6 * cache_part + 0.4 * reval_part)
    if not scores:
        return Outcome.error("; ".join(f.message for f in findings))
    worst = min(scores)
    summary = "HTML revalidates and answers 304" if worst >= 0.99 else findings[0].message if findings else "ok"
    return Outcome.scored(sum(scores) / len(scores), summary, metrics={"pages": len(scores)}, findings=findings)
