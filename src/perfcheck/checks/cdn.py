"""The CDN and static-asset checks: long caching of hashed assets, revalidating HTML,
an edge cache, compressed text assets, modern right-sized images."""

from __future__ import annotations

from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.checks.http_facts import (
    EDGE_HEADERS,
    body_size,
    cache_control,
    compressed,
    header,
    is_compressible,
    is_hashed,
    kib,
    label,
    max_age,
    media_type,
    share_score,
)

MODERN = ("image/webp", "image/avif", "image/svg+xml", "image/jxl")
LEGACY = ("image/jpeg", "image/png", "image/gif", "image/bmp", "image/tiff")



def _answered(assets: list[dict]) -> list[dict]:
    return [a for a in assets if a.get("status") == 200]


def _unreachable(assets: list[dict]) -> list[Finding]:
    return [Finding("warn", a.get("path", "?"), f"the asset {a.get('source', '')} did not load: "
                    + (a.get("error") or f"answered {a.get('status')}"), None, {"status": a.get("status")})
            for a in assets if a.get("status") != 200 and a.get("status") != 304]


def _human_seconds(s: int | None) -> str:
    if s is None:
        return "none"
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s // size} {unit}" if s % size == 0 else f"{s / size:.1f} {unit}"
    return f"{s} s"


# --- cdn.static_cache ---------------------------------------------------------------

@check("cdn.static_cache", requires=["http.assets"])
def static_cache(facts, t):
    year = int(t["min_max_age_s"])
    assets = _answered(facts["http.assets"])
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
            findings.append(Finding("fail", a["path"], f"a hashed asset is cached for {_human_seconds(age)} only; "
                                    f"the target is a year ({year} s) and immutable", fix, evidence))
        elif not immutable:
            score_sum += 0.8
            findings.append(Finding("warn", a["path"], "cached for a year but not immutable: browsers still revalidate it "
                                    "on reload", fix, evidence))
        else:
            score_sum += 1.0
    bad = sum(1 for f in findings if f.severity == "fail")
    summary = (f"{bad} of {hashed} hashed assets not cached for a year" if bad else
               f"{hashed} hashed assets cached for a year, immutable" if hashed == len(assets) else
               f"{hashed} hashed assets well cached; {len(assets) - hashed} not fingerprinted")
    return Outcome.scored(score_sum / len(assets), summary, metrics={"assets": len(assets), "hashed": hashed},
                          findings=findings)


# --- cdn.html_cache -----------------------------------------------------------------

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
            findings.append(Finding("fail", label(p), f"HTML is cached for {_human_seconds(age)} (Cache-Control: {raw}): "
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


# --- cdn.edge -----------------------------------------------------------------------

def _edge_headers(e: dict) -> dict[str, str]:
    found = {h: header(e, h) for h in EDGE_HEADERS if header(e, h)}
    if header(e, "age"):
        found["age"] = header(e, "age")
    via = header(e, "via")
    if via and any(word in via.lower() for word in ("cache", "varnish", "cloudfront", "fastly", "akamai", "squid")):
        found["via"] = via
    return found


def _served_from_cache(e: dict) -> bool:
    h = _edge_headers(e)
    if h.get("age", "0").strip().isdigit() and int(h.get("age", "0")) > 0:
        return True
    return any("hit" in v.lower() for k, v in h.items() if k != "age" and k != "via")


@check("cdn.edge", requires=["http.assets", "http.endpoints"])
def edge(facts, t):
    assets = _answered(facts["http.assets"])
    api = [e for e in facts["http.endpoints"] if e.get("kind") in ("api", "list") and e.get("status")]
    findings = []
    for e in api:
        if _served_from_cache(e) and "private" not in cache_control(e) and "no-store" not in cache_control(e):
            findings.append(Finding("fail", label(e), f"an API answer came from a shared cache ({_edge_headers(e)}): "
                                    "users may see each other's or stale data",
                                    Fix.manual("bypass the CDN for /api (cache rule) or send Cache-Control: private, no-store"),
                                    {"headers": _edge_headers(e)}))
    if not assets:
        if findings:
            return Outcome.scored(0.0, findings[0].message, findings=findings)
        return Outcome.skip("no static asset found to look for an edge cache on")
    edged = [a for a in assets if _edge_headers(a)]
    metrics = {"assets": len(assets), "behind_edge": len(edged),
               "edge_headers": sorted({k for a in edged for k in _edge_headers(a)})}
    if findings:
        return Outcome.scored(0.0, findings[0].message, metrics=metrics, findings=findings)
    if not edged:
        # Auditing the origin itself shows no edge even when a CDN fronts it in production.
        findings.append(Finding("warn", assets[0]["path"], "no edge cache seen on static assets (no Age, Cache-Status, "
                                "CF-Cache-Status or X-Cache); if a CDN fronts this origin, audit its public URL",
                                Fix.manual("serve static assets through a CDN or a caching proxy"), {}))
        return Outcome.scored(0.5, "no edge cache seen in front of static assets", metrics=metrics, findings=findings)
    return Outcome.scored(share_score(len(edged), len(assets)),
                          f"{len(edged)}/{len(assets)} assets answered through an edge cache ({', '.join(metrics['edge_headers'])})",
                          metrics=metrics)


# --- cdn.compression ----------------------------------------------------------------

@check("cdn.compression", requires=["http.assets"])
def asset_compression(facts, t):
    min_bytes = int(t["min_bytes"])
    text_assets = [a for a in _answered(facts["http.assets"]) if is_compressible(a) and body_size(a) >= min_bytes]
    if not text_assets:
        return Outcome.skip(f"no text asset (CSS, JavaScript, SVG) over {min_bytes} bytes found")
    findings, good = [], 0.0
    for a in text_assets:
        if compressed(a):
            good += 1
            continue
        findings.append(Finding("fail", a["path"], f"{kib(body_size(a))} of {media_type(a)} sent uncompressed",
                                Fix.manual("enable brotli or gzip for text/css, application/javascript and image/svg+xml "
                                       "(nginx: gzip on; gzip_types …; or precompressed gzip_static/brotli_static)"),
                                {"bytes": body_size(a), "content_type": media_type(a)}))
    codings = sorted({a["content_encoding"] for a in text_assets if compressed(a)})
    summary = (f"{len(findings)} of {len(text_assets)} text assets uncompressed" if findings
               else f"{len(text_assets)} text assets compressed ({', '.join(codings)})")
    return Outcome.scored(share_score(good, len(text_assets)), summary,
                          metrics={"text_assets": len(text_assets), "uncompressed": len(findings), "encodings": codings},
                          findings=findings)


# --- cdn.images ---------------------------------------------------------------------

@check("cdn.images", requires=["http.assets"])
def images(facts, t):
    limit = int(t["max_image_bytes"])
    imgs = [a for a in _answered(facts["http.assets"]) if media_type(a).startswith("image/")]
    if not imgs:
        return Outcome.skip("no image found in the HTML or configured (kind: image)")
    findings, score_sum = [], 0.0
    for a in imgs:
        mt = media_type(a)
        size = a.get("wire_bytes") or 0
        score = 1.0
        if mt in LEGACY and not a.get("modern_alternative"):
            score -= 0.5
            findings.append(Finding("warn", a["path"], f"served as {mt} although the request accepted AVIF and WebP",
                                    Fix.manual("serve WebP/AVIF by content negotiation (Vary: Accept) or <picture> sources"),
                                    {"content_type": mt, "bytes": size}))
        if size > limit:
            score = 0.0
            findings.append(Finding("fail", a["path"], f"{kib(size)} image, over the {kib(limit)} budget",
                                    Fix.manual("resize to the displayed size and compress (WebP/AVIF, srcset)"),
                                    {"bytes": size, "max_bytes": limit, "content_type": mt}))
        score_sum += score
    formats = sorted({media_type(a) for a in imgs})
    heavy = sum(1 for f in findings if f.severity == "fail")
    summary = (f"{len(findings)} image problem(s) in {len(imgs)} images" if findings
               else f"{len(imgs)} images, modern formats ({', '.join(formats)}), none over {kib(limit)}")
    return Outcome.scored(score_sum / len(imgs), summary,
                          metrics={"images": len(imgs), "oversized": heavy, "formats": formats}, findings=findings)
