"""The HTTP checks as pure functions, on hand-built facts: the branches the end-to-end
audits of the sample API and nginx don't reach. Plus the collector's pure parsers."""

from __future__ import annotations

from perfcheck.checks.api.compression import compression
from perfcheck.checks.api.connection_reuse import connection_reuse
from perfcheck.checks.api.cors import cors
from perfcheck.checks.api.errors import errors
from perfcheck.checks.api.pagination import pagination
from perfcheck.checks.api.rate_limit import rate_limit
from perfcheck.checks.api.validation import validation
from perfcheck.checks.cache.levels import cache_levels
from perfcheck.checks.cdn.edge import edge
from perfcheck.checks.cdn.html_cache import html_cache
from perfcheck.checks.cdn.images import images
from perfcheck.checks.cdn.static_cache import static_cache
from perfcheck.checks.mon.health import health
from perfcheck.checks.mon.metrics import metrics
from perfcheck.checks.rt.heartbeat import heartbeat
from perfcheck.checks.rt.throttle import throttle
from perfcheck.collectors.http import engineio
from perfcheck.collectors.http.html_assets import find_assets
from perfcheck.model import Status


def ex(status=200, path="/api/items", kind="api", headers=None, content_type="application/json", body=None,
       text=None, method="GET", **kw):
    """A recorded answer, as the HTTP collector records one."""
    return {"name": f"{method} {path}", "method": method, "path": path, "kind": kind, "status": status,
            "headers": {k.lower(): v for k, v in (headers or {}).items()}, "content_type": content_type,
            "content_encoding": (headers or {}).get("Content-Encoding", ""), "json": body, "text": text,
            "wire_bytes": kw.pop("wire_bytes", 500), "body_bytes": kw.pop("body_bytes", 500), "error": None, **kw}


def judge(chk, facts, **thresholds):
    return chk.judge(facts, {**chk.meta.thresholds, **thresholds})


def cors_facts(acao="", creds=False, allowed=None):
    headers = {"Access-Control-Allow-Origin": acao} if acao else {}
    if creds:
        headers["Access-Control-Allow-Credentials"] = "true"
    return {"http.cors": {"path": "/api/items", "origin": "https://evil.invalid", "allowed_origin": allowed and allowed["origin"],
                          "preflight": ex(204, method="OPTIONS", headers=headers), "simple": ex(200, headers=headers),
                          "allowed_preflight": allowed and allowed["answer"]}}


def test_cors_wildcard_with_credentials_fails_and_without_passes():
    assert judge(cors, cors_facts("*", creds=True)).status is Status.FAIL
    public = judge(cors, cors_facts("*"))
    assert public.status is Status.PASS and "any origin may read public answers" in public.summary


def test_cors_reflected_origin_without_credentials_warns_and_an_unanswered_allowed_preflight_warns():
    assert judge(cors, cors_facts("https://evil.invalid")).status is Status.WARN
    refused = {"origin": "https://app.example.com", "answer": ex(400, method="OPTIONS")}
    outcome = judge(cors, cors_facts(allowed=refused))
    assert outcome.status is Status.WARN and "https://app.example.com was not granted" in outcome.findings[0].message


def reuse(connections, scheme="http", versions=("HTTP/1.1",), close=False):
    return {"http.connection_reuse": {"path": "/", "scheme": scheme, "requests": 3, "answered": 3, "connections": connections,
                                      "http_versions": list(versions), "connection_close": close, "errors": []}}


def test_connection_reuse_branches():
    none = judge(connection_reuse, reuse(3, close=True))
    assert none.status is Status.FAIL and "Connection: close" in none.summary
    assert judge(connection_reuse, reuse(1, "https")).status is Status.WARN  # TLS without HTTP/2
    assert judge(connection_reuse, reuse(1, "https", ["HTTP/2"])).status is Status.PASS


def test_pagination_reads_link_headers_and_flags_unbounded_and_offset_lists():
    cursor = ex(headers={"Link": '<https://x/api/items?after=abc>; rel="next"'}, kind="list", body=[{"id": 1}, {"id": 2}])
    assert judge(pagination, {"http.endpoints": [cursor]}).status is Status.PASS
    bare = ex(kind="list", body=[{"id": i} for i in range(50)])
    outcome = judge(pagination, {"http.endpoints": [bare]})
    assert outcome.status is Status.WARN and "50 items with no pagination" in outcome.findings[0].message
    # An endpoint not declared a list is still recognised as one by its body.
    offset = ex(path="/api/songs", body={"data": [{"id": 1}, {"id": 2}], "meta": {"current_page": 1, "last_page": 9}})
    found = judge(pagination, {"http.endpoints": [offset]})
    assert found.status is Status.FAIL and found.findings[0].object == "GET /api/songs"


def test_errors_count_problem_json_and_flag_two_shapes_and_a_catch_all():
    problem = ex(404, content_type="application/problem+json", body={"type": "about:blank", "title": "Not Found"},
                 probe="unknown route")
    other = ex(422, body={"detail": "bad"}, probe="bad query parameter")
    outcome = judge(errors, {"http.errors": {"probes": [problem, other]}, "http.validation": [], "http.endpoints": []})
    assert outcome.status is Status.WARN
    assert "2 shapes" in outcome.findings[-1].message
    spa = ex(200, content_type="text/html", probe="unknown route")
    caught = judge(errors, {"http.errors": {"probes": [spa]}, "http.validation": [], "http.endpoints": []})
    assert "not 404" in caught.findings[0].message


def test_errors_flag_a_configured_endpoint_that_fails():
    broken = ex(503, expected_status=200, path="/api/report")
    ok = ex(404, body={"error": {"code": "x"}}, probe="unknown route")
    outcome = judge(errors, {"http.errors": {"probes": [ok]}, "http.validation": [], "http.endpoints": [broken]})
    assert any(f.object == "GET /api/report" and "expected 200" in f.message for f in outcome.findings)


def test_rate_limit_headers_without_a_burst_pass_and_a_429_without_retry_after_warns():
    limited = ex(headers={"RateLimit-Limit": "50"})
    outcome = judge(rate_limit, {"http.endpoints": [limited], "http.rate_limit_burst": {"enabled": False}})
    assert outcome.status is Status.PASS and "burst not probed" in outcome.summary
    burst = {"enabled": True, "endpoint": "GET /api/items", "sent": 60, "seconds": 0.3, "statuses": {"200": 59, "429": 1},
             "limited": {"after": 60, "headers": {}}}
    warned = judge(rate_limit, {"http.endpoints": [limited], "http.rate_limit_burst": burst})
    assert warned.status is Status.WARN and "no Retry-After" in warned.findings[0].message


def test_validation_that_never_gets_past_auth_is_an_error_with_the_reason():
    probes = [ex(401, method="POST", probe="malformed JSON"), ex(401, method="POST", probe="oversized field")]
    outcome = judge(validation, {"http.validation": [{"name": "POST /api/items", "path": "/api/items", "probes": probes}]})
    assert outcome.status is Status.ERROR and "add the endpoint's auth headers" in outcome.summary


def test_static_cache_unhashed_and_not_immutable_assets_warn():
    unhashed = ex(path="/static/app.css", content_type="text/css", headers={"Cache-Control": "max-age=3600"})
    mutable = ex(path="/static/app.3f9a1c2b.css", content_type="text/css", headers={"Cache-Control": "max-age=31536000"})
    outcome = judge(static_cache, {"http.assets": [unhashed, mutable]})
    assert {f.object: f.severity for f in outcome.findings} == {"/static/app.css": "warn", "/static/app.3f9a1c2b.css": "warn"}
    assert outcome.status is Status.WARN


def page(headers, conditional):
    return {"http.html": [ex(path="/", content_type="text/html", headers=headers, conditional=conditional)]}


def test_html_cache_no_store_and_missing_headers():
    assert judge(html_cache, page({"Cache-Control": "no-store"}, None)).status is Status.WARN
    bare = judge(html_cache, page({}, None))
    assert bare.status is Status.FAIL  # heuristic caching and no validator
    assert {f.message.split(":")[0] for f in bare.findings} == {"no Cache-Control on HTML", "no ETag or Last-Modified"}
    stale = judge(html_cache, page({"Cache-Control": "no-cache", "ETag": '"x"'}, {"sent": "If-None-Match", "status": 200}))
    assert "got 200, not 304" in stale.findings[0].message


def test_images_in_a_picture_with_webp_sources_are_not_flagged_and_an_api_served_from_cache_fails():
    fallback = ex(path="/img/a.1234abcd.jpg", content_type="image/jpeg", modern_alternative=True, wire_bytes=50_000)
    assert judge(images, {"http.assets": [fallback]}).status is Status.PASS
    cached_api = ex(headers={"Age": "120", "X-Cache": "HIT"})
    asset = ex(path="/a.1234abcd.js", content_type="application/javascript", headers={"X-Cache": "HIT"})
    outcome = judge(edge, {"http.assets": [asset], "http.endpoints": [cached_api]})
    assert outcome.status is Status.FAIL and outcome.findings[0].object == "GET /api/items"


def handshake(**opened):
    return {"http.socketio": {"path": "/socket.io/", "status": 200, "error": None, "protocol_error": None,
                              "open": {"sid": "x", "upgrades": ["websocket"], "pingInterval": 25000, "pingTimeout": 60000,
                                       **opened}}}


def test_heartbeat_branches():
    assert judge(heartbeat, handshake(upgrades=[])).status is Status.WARN
    assert judge(heartbeat, handshake(pingTimeout=20000)).status is Status.WARN  # the Socket.IO default
    missing = {"http.socketio": {"path": "/socket.io/", "status": 404, "error": None, "open": None, "protocol_error": None}}
    assert judge(heartbeat, missing).status is Status.SKIP


def test_throttle_without_acks_is_inconclusive_and_a_disconnect_counts():
    base = {"enabled": True, "event": "message", "namespace": "/", "planned": 20, "post_statuses": [200, 200], "events": []}
    assert judge(throttle, {"http.socketio_burst": {**base, "acks": [], "disconnected": False}}).status is Status.WARN
    cut = judge(throttle, {"http.socketio_burst": {**base, "acks": [["ok"]] * 5, "disconnected": True}})
    assert cut.status is Status.PASS and "disconnected" in cut.summary
    assert judge(throttle, {"http.socketio_burst": {"enabled": False}}).status is Status.SKIP


def test_health_degraded_and_plain_text():
    degraded = ex(503, path="/health", body={"status": "degraded", "checks": {"database": "ok", "redis": "down"}},
                  probe_path="/health")
    outcome = judge(health, {"http.health": degraded})
    assert outcome.status is Status.WARN and [f.object for f in outcome.findings] == ["GET /health redis"]
    plain = ex(200, path="/health", content_type="text/plain", text="OK", probe_path="/health")
    told = judge(health, {"http.health": plain})
    assert told.status is Status.WARN and "can't say which dependency failed" in told.findings[0].message


def test_metrics_summary_warns_and_cache_levels_need_misses():
    summary = {"path": "/metrics", "status": 200, "families": [
        {"name": "http_request_duration_seconds", "type": "summary", "samples": []}]}
    assert judge(metrics, {"http.metrics": summary}).status is Status.WARN
    hits_only = {"path": "/metrics", "status": 200, "families": [
        {"name": "cache_hits", "type": "counter", "samples": [
            {"name": "cache_hits_total", "labels": {"cache_level": "l1"}, "value": 5.0}]}]}
    outcome = judge(cache_levels, {"http.metrics": hits_only})
    assert outcome.status is Status.SKIP and "cache_misses_total" in outcome.summary


def test_find_assets_keeps_own_host_assets_and_knows_picture_fallbacks():
    html = """<base href="/app/"><link rel=stylesheet href="css/a.1234abcd.css"><script src="https://cdn.other.invalid/x.js"></script>
    <picture><source type="image/webp" srcset="i/a.webp"><img src="i/a.jpg"></picture>
    <img srcset="i/b-400.jpg 400w, i/b-800.jpg 800w"><script src="https://static.mine.invalid/m.js"></script>"""
    found = find_assets(html, "https://www.mine.invalid/", {"static.mine.invalid"}, 10)
    assert [(a.url, a.type, a.modern_alternative) for a in found] == [
        ("https://www.mine.invalid/app/css/a.1234abcd.css", "style", False),
        ("https://www.mine.invalid/app/i/a.jpg", "image", True),
        ("https://www.mine.invalid/app/i/b-400.jpg", "image", False),
        ("https://static.mine.invalid/m.js", "script", False),
    ]


def test_engineio_payloads():
    opened = engineio.parse_open('0{"sid":"abc","pingInterval":25000,"pingTimeout":60000,"upgrades":["websocket"]}')
    assert opened["pingTimeout"] == 60000
    types, packets = engineio.parse_payload('40{"sid":"s"}\x1e431[{"ok":true}]\x1e42/chat,["msg","hi"]\x1e2')
    assert types == ["4", "4", "4", "2"]
    assert [(p.type, p.namespace, p.ack_id) for p in packets] == [("0", "/", None), ("3", "/", 1), ("2", "/chat", None)]
    assert engineio.event_packet("/chat", 7, "m", {"a": 1}) == '42/chat,7["m", {"a": 1}]'


def test_summaries_name_which_responses_and_endpoints():
    big = {"body_bytes": 4000, "wire_bytes": 4000}
    good = ex(path="/api/songs", headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}, **big)
    plain = [ex(path=f"/api/plain{i}", **big) for i in range(5)]
    outcome = judge(compression, {"http.endpoints": [good, *plain], "http.html": []})
    assert outcome.summary == "1/6 responses compressed as they should be (GET /api/songs); the others below"
    assert sorted(f.object for f in outcome.findings) == [f"GET /api/plain{i}" for i in range(5)]
    none = judge(compression, {"http.endpoints": plain, "http.html": []})
    assert none.summary == "none of the 5 responses compressed as they should be"
    cursor = ex(path="/api/a", headers={"Link": '<https://x/api/a?after=abc>; rel="next"'}, kind="list", body=[{"id": 1}])
    bare = ex(path="/api/b", kind="list", body=[{"id": i} for i in range(50)])
    assert judge(pagination, {"http.endpoints": [cursor, bare]}).summary.startswith(
        "1/2 list endpoints page by cursor (GET /api/a)")
