"""`cdn.static_cache`: Hashed static assets are cached for a year."""

from __future__ import annotations

from perfcheck.checks.support.content_hash import is_hashed
from perfcheck.checks.support.http import answered_200, cache_control, header, human_seconds, max_age
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check


def _unreachable(assets: list[dict]) -> list[Finding]:
    return [Finding("warn", a.get("path", "?"), f"the asset {a.get('source', '')} did not load: "
                    + (a.get("error") or f"answered {a.get('status')}"), None, {"status": a.get("status")})
            for a in assets if a.get("status") != 200 and a.get("status") != 304]


@check("cdn.static_cache", requires=["http.assets"])
def static_cache(facts, t):
    year = int(t["min_max_age_s"])
    assets = answered_200(facts["http.assets"])
    if not assets:
        return Outcome.skip("no static asset found in the HTML or configured (kind: static)")
    findings, score_sum = _unreachable(facts["http.assets"]), 0.0
    hashed = 0
    for a in assets:
        cc = cache_control(a)
        age = max_age(cc)
        immutable = "immutable" in cc
        fix = Fix.manual(f"Cache-Control: public, max-age={year}, immutable")
        evidence = {"cache_control": header(a, "cache-control") or None, "max_age_s": age}
        if not is_hashed(a["path"]) and immutable:
            # immutable on a name that stays the same across releases: users keep the old file.
            score_sum += 0.5
            findings.append(Finding("warn", a["path"], "cached immutable without a content hash in the name: after a "
                                    f"deploy browsers keep the old file (Cache-Control: {header(a, 'cache-control')}); "
                                    "fingerprint the name, or drop immutable and revalidate",
                                    Fix.manual("build assets with a content hash in the file name (app.3f9a1c2b.js), "
                                               "or Cache-Control: no-cache with an ETag"),
                                    {**evidence, "immutable": True, "hashed": False}))
            continue
        if not is_hashed(a["path"]):
            # Without a content hash in the name a long cache would serve stale files after a deploy.
            score_sum += 0.7
            findings.append(Finding("warn", a["path"], f"not fingerprinted (no content hash in the name), so it can't be "
                                    f"cached for long safely; Cache-Control: {header(a, 'cache-control') or 'none'}",
                                    Fix.manual("build assets with a content hash in the file name (app.3f9a1c2b.js)"), evidence))
            continue
        hashed += 1
        if "no-store" in cc or "no-cache" in cc or not age or age <= 0:
            findings.append(Finding("fail", a["path"], f"a hashed asset is not cached (Cache-Control: "
                                    f"{header(a, 'cache-control') or 'none'})", fix, evidence))
        elif age < year:
            score_sum += min(0.5, age / year)
            findings.append(Finding("fail", a["path"], f"a hashed asset is cached for {human_seconds(age)} only; "
                                    f"the target is a year ({year} s) and immutable", fix, evidence))
        elif not immutable:
            score_sum += 0.8
            findings.append(Finding("warn", a["path"], "cached for a year but not immutable: browsers still revalidate it "
                                    "on reload", fix, evidence))
        else:
            score_sum += 1.0
    bad = sum(1 for f in findings if f.severity == "fail")
    stale = sum(1 for f in findings if f.evidence.get("immutable") and f.evidence.get("hashed") is False)
    summary = (f"{bad} of {hashed} hashed assets not cached for a year" if bad else
               f"{hashed} hashed assets cached for a year, immutable" if hashed == len(assets) else
               f"{hashed} hashed assets well cached; {len(assets) - hashed} not fingerprinted"
               + (f" ({stale} of them cached immutable)" if stale else ""))
    return Outcome.scored(score_sum / len(assets), summary, metrics={"assets": len(assets), "hashed": hashed},
                          findings=findings)
