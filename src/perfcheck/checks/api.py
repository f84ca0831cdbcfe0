"""The API checks: compression, validation, rate limits, pagination, errors, CORS and
connection reuse. Pure functions of the HTTP collector's recorded answers.
(api.latency and api.ttfb live in checks/latency.py.)"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.checks.http_facts import (
    body_size,
    compressed,
    failed,
    header,
    is_compressible,
    is_html,
    is_json,
    kib,
    label,
    media_type,
    share_score,
    traceback_in,
)



def answered_2xx(e: dict[str, Any]) -> bool:
    return e.get("status") is not None and 200 <= e["status"] < 300


# --- api.compression ----------------------------------------------------------------

@check("api.compression", requires=["http.endpoints", "http.html"])
def compression(facts, t):
    min_bytes = int(t["min_bytes"])
    findings, judged, good = [], 0, 0.0
    for e in [*facts["http.html"], *facts["http.endpoints"]]:
        if not answered_2xx(e):
            continue
        mt = media_type(e)
        if e.get("kind") == "media" or mt.startswith(("audio/", "video/")):
            judged += 1
            if compressed(e):
                findings.append(Finding("fail", label(e), f"streaming media ({mt}) is sent with Content-Encoding: "
                                        f"{e['content_encoding']}; compressing audio/video wastes CPU and breaks range requests",
                                        Fix.manual(f"exclude {mt} from compression (nginx gzip_types / GZipMiddleware exclude_content_types)"),
                                        {"content_type": mt, "content_encoding": e["content_encoding"]}))
            else:
                good += 1
            continue
        size = body_size(e)
        if not is_compressible(e) or size < min_bytes:
            continue
        judged += 1
        if not compressed(e):
            findings.append(Finding("fail", label(e), f"{kib(size)} of {mt} sent uncompressed (requested with "
                                    f"Accept-Encoding: gzip)",
                                    Fix.manual(f"enable gzip or brotli for {mt} responses over {min_bytes} bytes"),
                                    {"bytes": size, "content_type": mt, "min_bytes": min_bytes}))
            continue
        vary = header(e, "vary").lower()
        if "accept-encoding" not in vary and "*" not in vary:
            good += 0.8
            findings.append(Finding("warn", label(e), "compressed without Vary: Accept-Encoding: a shared cache may "
                                    "hand the compressed bytes to a client that did not ask for them",
                                    Fix.manual("add Vary: Accept-Encoding to compressed responses"),
                                    {"content_encoding": e["content_encoding"]}))
        else:
            good += 1
    if not judged:
        return Outcome.skip(f"no text response over {min_bytes} bytes and no media endpoint to judge "
                            "(name API endpoints under http.endpoints)")
    bad = sum(1 for f in findings if f.severity == "fail")
    summary = f"{judged - bad}/{judged} responses compressed as they should be" if bad else f"all {judged} responses compressed as they should be"
    return Outcome.scored(share_score(good, judged), summary, metrics={"judged": judged, "wrong": bad}, findings=findings)


# --- api.validation -----------------------------------------------------------------

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


# --- api.errors ---------------------------------------------------------------------

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


# --- api.rate_limit -----------------------------------------------------------------

RATE_LIMIT_HEADERS = ("ratelimit", "ratelimit-policy", "ratelimit-limit", "ratelimit-remaining", "x-ratelimit-limit",
                      "x-ratelimit-remaining", "x-rate-limit-limit", "x-rate-limit-remaining")


def _limit_headers(e: dict[str, Any]) -> list[str]:
    return [h for h in RATE_LIMIT_HEADERS if header(e, h)]


@check("api.rate_limit", requires=["http.endpoints", "http.rate_limit_burst"])
def rate_limit(facts, t):
    api = [e for e in facts["http.endpoints"] if e.get("kind") in ("api", "list") and e.get("status")]
    burst = facts["http.rate_limit_burst"]
    if not api and not burst.get("enabled"):
        return Outcome.skip("no API endpoint configured to look for rate-limit headers (http.endpoints)")
    findings = []
    with_headers = [e for e in api if _limit_headers(e)]
    for e in api:
        if not _limit_headers(e):
            findings.append(Finding("fail", label(e), "no rate-limit headers (RateLimit-* or X-RateLimit-*) in the answer",
                                    Fix.manual("rate-limit the API (a token bucket in Redis) and announce it with RateLimit headers"),
                                    {"status": e["status"]}))
    header_part = share_score(len(with_headers), len(api)) if api else 1.0
    metrics: dict[str, Any] = {"endpoints": len(api), "with_headers": len(with_headers), "burst": burst.get("enabled", False)}
    if not burst.get("enabled"):
        score = header_part if with_headers else 0.2
        summary = (f"rate-limit headers on {len(with_headers)}/{len(api)} endpoints; burst not probed "
                   "(opt in: http.rate_limit_burst.requests)")
        return Outcome.scored(score, summary, metrics=metrics, findings=findings)
    limited = burst.get("limited")
    metrics.update({"burst_sent": burst["sent"], "burst_seconds": burst["seconds"], "statuses": burst["statuses"]})
    if limited:
        retry_after = limited["headers"].get("retry-after")
        metrics["limited_after"] = limited["after"]
        if retry_after:
            burst_part = 1.0
        else:
            burst_part = 0.6
            findings.append(Finding("warn", burst["endpoint"], f"the 429 after {limited['after']} requests has no Retry-After",
                                    Fix.manual("send Retry-After with every 429"), {"after": limited["after"]}))
        summary = f"{burst['endpoint']}: 429 after {limited['after']} requests in {burst['seconds']} s" + (
            f" with Retry-After: {retry_after}" if retry_after else "")
    else:
        burst_part = 0.0
        findings.append(Finding("fail", burst["endpoint"], f"a burst of {burst['sent']} requests in {burst['seconds']} s "
                                f"got no 429 ({', '.join(f'{k}: {v}' for k, v in burst['statuses'].items())})",
                                Fix.manual("answer 429 with Retry-After once a client exceeds its rate"),
                                {"sent": burst["sent"], "seconds": burst["seconds"], "statuses": burst["statuses"]}))
        summary = f"{burst['endpoint']}: no 429 in a burst of {burst['sent']} requests"
    return Outcome.scored(0.7 * burst_part + 0.3 * header_part, summary, metrics=metrics, findings=findings)


# --- api.pagination -----------------------------------------------------------------

CURSOR_KEYS = {"next_cursor", "nextcursor", "cursor", "next_page_token", "nextpagetoken", "end_cursor", "endcursor",
               "after", "starting_after", "continuation", "continuation_token", "next_token", "nexttoken", "next_key"}
OFFSET_KEYS = {"page", "offset", "page_size", "per_page", "perpage", "total_pages", "totalpages", "current_page",
               "currentpage", "page_number", "pagenumber", "skip", "last_page"}
CURSOR_PARAMS = {"cursor", "after", "before", "starting_after", "page_token", "pagetoken", "token", "since_id",
                 "continuation", "next_token", "key"}
OFFSET_PARAMS = {"page", "offset", "skip", "start", "page_number"}
LIST_KEYS = ("items", "data", "results", "records", "rows", "entries", "edges", "nodes", "objects", "list")


def _keys(body: Any, depth: int = 0) -> set[str]:
    """Key names in the body's envelope (top level and one nested object like `meta`)."""
    if not isinstance(body, dict) or depth > 1:
        return set()
    keys = {k.lower() for k in body}
    for value in body.values():
        if isinstance(value, dict):
            keys |= _keys(value, depth + 1)
    return keys


def _params(url: str) -> set[str]:
    return {k.lower() for k in parse_qs(urlsplit(url).query)}


def _next_links(e: dict[str, Any]) -> list[str]:
    links = [part.split(";")[0].strip(" <>") for part in header(e, "link").split(",") if 'rel="next"' in part or "rel=next" in part]
    body = e.get("json")
    if isinstance(body, dict):
        for holder in (body, body.get("links") or {}, body.get("meta") or {}, body.get("pagination") or {}):
            if isinstance(holder, dict) and isinstance(holder.get("next"), str):
                links.append(holder["next"])
    return links


def _list_length(body: Any) -> int | None:
    if isinstance(body, list):
        return len(body)
    if isinstance(body, dict):
        for key in LIST_KEYS:
            if isinstance(body.get(key), list):
                return len(body[key])
    return None


def paging_style(e: dict[str, Any]) -> tuple[str, str]:
    """("cursor" | "offset" | "none", the evidence) for a list answer."""
    body = e.get("json")
    keys = _keys(body)
    link_params = set().union(*(_params(link) for link in _next_links(e))) if _next_links(e) else set()
    asked = _params(e.get("path", ""))
    if keys & CURSOR_KEYS or link_params & CURSOR_PARAMS:
        found = sorted(keys & CURSOR_KEYS) or sorted(link_params & CURSOR_PARAMS)
        return "cursor", f"cursor in the answer ({', '.join(found)})"
    if keys & OFFSET_KEYS or link_params & OFFSET_PARAMS or asked & OFFSET_PARAMS:
        found = sorted(keys & OFFSET_KEYS) or sorted(link_params & OFFSET_PARAMS) or sorted(asked & OFFSET_PARAMS)
        return "offset", f"page/offset fields ({', '.join(found)})"
    return "none", "no paging fields"


@check("api.pagination", requires=["http.endpoints"])
def pagination(facts, t):
    lists, unjudged = [], []
    for e in facts["http.endpoints"]:
        if e.get("kind") not in ("list", "api"):
            continue
        declared = e.get("kind") == "list"
        if failed(e) or not answered_2xx(e):
            if declared:
                unjudged.append(f"{label(e)}: " + (failed(e) or f"answered {e.get('status')}"))
            continue
        if not is_json(e):
            if declared:
                kind = "HTML" if is_html(e) else media_type(e) or "no content type"
                unjudged.append(f"{label(e)} answered {kind} where JSON was expected")
            continue
        if declared or _list_length(e.get("json")) not in (None, 0, 1):
            lists.append(e)
    if not lists:
        if unjudged:
            return Outcome.error("; ".join(unjudged))
        return Outcome.skip("no list endpoint to judge (mark one kind: list under http.endpoints)")
    findings, scores = [], []
    for e in lists:
        style, evidence = paging_style(e)
        n = _list_length(e.get("json"))
        if style == "cursor":
            scores.append(1.0)
        elif style == "offset":
            scores.append(0.0)
            findings.append(Finding("fail", label(e), f"pages by offset: {evidence}; deep pages get slower and "
                                    "rows shift between pages", Fix.manual("page by cursor: WHERE id > $last ORDER BY id LIMIT $n, "
                                                                        "and return next_cursor"),
                                    {"evidence": evidence, "items": n}))
        else:
            scores.append(0.5)
            findings.append(Finding("warn", label(e), f"answers {n if n is not None else 'a list of'} items with no "
                                    "pagination: an unbounded list grows with the data",
                                    Fix.manual("limit the page size and return next_cursor"), {"items": n}))
    for why in unjudged:
        findings.append(Finding("warn", why.split(" answered")[0].split(":")[0], why))
    good = scores.count(1.0)
    return Outcome.scored(sum(scores) / len(scores), f"{good}/{len(scores)} list endpoints page by cursor",
                          metrics={"lists": len(scores), "cursor": good}, findings=findings)


# --- api.cors -----------------------------------------------------------------------

@check("api.cors", requires=["http.cors"])
def cors(facts, t):
    c = facts["http.cors"]
    origin = c["origin"]
    answers = [a for a in (c["preflight"], c["simple"]) if a.get("status") is not None]
    if not answers:
        return Outcome.error(f"the CORS probes got no answer: {c['preflight'].get('error')}")
    findings, score = [], 1.0
    grants = []
    for a in answers:
        acao = header(a, "access-control-allow-origin").strip()
        creds = header(a, "access-control-allow-credentials").strip().lower() == "true"
        grants.append({"request": label(a), "allow_origin": acao or None, "credentials": creds})
        if acao in (origin, "*", "null") and creds:
            how = "reflects any Origin" if acao == origin else f"answers Access-Control-Allow-Origin: {acao}"
            score = 0.0
            findings.append(Finding("fail", label(a), f"{how} with Access-Control-Allow-Credentials: true: any web site "
                                    "can call the API as the signed-in user",
                                    Fix.manual("allow an explicit list of origins; never reflect Origin with credentials"),
                                    {"origin_sent": origin, "allow_origin": acao, "credentials": True}))
        elif acao == origin:
            score = min(score, 0.6)
            findings.append(Finding("warn", label(a), "reflects any Origin (without credentials): an allow-list is safer",
                                    Fix.manual("allow an explicit list of origins"), {"origin_sent": origin, "allow_origin": acao}))
    pre = c["preflight"]
    if pre.get("status") is not None and pre["status"] >= 500:
        score = min(score, 0.6)
        findings.append(Finding("warn", label(pre), f"the preflight crashed ({pre['status']})", Fix.manual("answer OPTIONS preflights"),
                                {"status": pre["status"]}))
    allowed = c.get("allowed_preflight")
    if allowed is not None:
        ok = allowed.get("status") in (200, 204) and header(allowed, "access-control-allow-origin") == c["allowed_origin"]
        if not ok:
            score = min(score, 0.6)
            findings.append(Finding("warn", label(allowed), f"the preflight from the allowed origin {c['allowed_origin']} "
                                    f"was not granted (status {allowed.get('status')}, Access-Control-Allow-Origin: "
                                    f"{header(allowed, 'access-control-allow-origin') or 'none'})",
                                    Fix.manual("answer preflights from allowed origins with 204 and the CORS headers"),
                                    {"status": allowed.get("status")}))
    if not findings:
        wildcard = any(g["allow_origin"] == "*" for g in grants)
        summary = ("any origin may read public answers (*, no credentials)" if wildcard
                   else f"a foreign origin gets no CORS grant on {c['path']}")
        return Outcome.scored(score, summary, metrics={"grants": grants})
    return Outcome.scored(score, findings[0].message, metrics={"grants": grants}, findings=findings)


# --- api.connection_reuse -----------------------------------------------------------

@check("api.connection_reuse", requires=["http.connection_reuse"])
def connection_reuse(facts, t):
    r = facts["http.connection_reuse"]
    if not r["answered"]:
        return Outcome.error("the keep-alive probe got no answer: " + "; ".join(r["errors"]))
    metrics = {k: r[k] for k in ("requests", "connections", "http_versions", "connection_close")}
    findings = []
    if r["connections"] > 1:
        close = " (the server sends Connection: close)" if r["connection_close"] else ""
        score = 0.0 if r["connections"] >= r["requests"] else 0.6
        findings.append(Finding("fail" if score == 0 else "warn", f"GET {r['path']}",
                                f"{r['requests']} requests needed {r['connections']} connections{close}: every new one "
                                "costs a TCP (and TLS) handshake", Fix.manual("enable keep-alive in the server and proxy"),
                                metrics))
        return Outcome.scored(score, findings[0].message, metrics=metrics, findings=findings)
    versions = ", ".join(r["http_versions"])
    if r["scheme"] == "https" and "HTTP/2" not in r["http_versions"]:
        findings.append(Finding("warn", f"GET {r['path']}", f"TLS without HTTP/2 (ALPN offered h2, got {versions})",
                                Fix.manual("enable HTTP/2 in the TLS terminator (nginx: listen 443 ssl; http2 on;)"), metrics))
        return Outcome.scored(0.8, f"keep-alive works; {versions} over TLS, no HTTP/2", metrics=metrics, findings=findings)
    note = "" if r["scheme"] == "https" else " (plain HTTP: HTTP/2 is judged over TLS only)"
    return Outcome.passed(f"{r['requests']} requests over one connection, {versions}{note}", metrics=metrics)
