"""Healthy look-alikes on hand-built facts (issue 12): content hashes as bundlers write them,
health bodies in their common shapes, throttling as servers signal it, multi-level caches on
the overall hit rate. The real-server cases are in tests/test_healthy_profiles.py,
tests/test_node_backend.py and tests/test_cache_verdicts.py."""

from __future__ import annotations

import pytest

from perfcheck.checks.cache.commands import commands, is_admin
from perfcheck.checks.cache.levels import cache_levels
from perfcheck.checks.mon.health import health
from perfcheck.checks.rt.throttle import throttle
from perfcheck.checks.support.content_hash import is_hashed
from perfcheck.model import Status
from test_cache_checks import info
from test_http_checks import ex


def judge(chk, facts, **thresholds):
    return chk.judge(facts, {**chk.meta.thresholds, **thresholds})


@pytest.mark.parametrize("path", [
    "/static/js/main.3f2a1b.chunk.js",  # webpack [contenthash:6]
    "/static/app.3f9a1c2b.css", "/dist/vendor.0a1b2c3d4e5f6a7b8c9d.js",  # webpack 8 and 20 hex
    "/assets/index-BxY3a_9Q.js", "/assets/index-Dk-Q2mZp.css", "/assets/index-BxYaQzKp.js",  # Vite / Rollup
    "/assets/chunk-ABCD2345.js", "/assets/chunk-QWERTYUI.js",  # esbuild base32
    "/dist/index.1a2b3c4d.js",  # Parcel
    "/_next/static/chunks/pages/index-3f2a1b9c8d7e6f5a.js", "/_next/static/xK3_9aQz7bLm2nPq4rSt5/_ssgManifest.js",
    "/main.3f2a1b9c8d7e6f5a.js", "/styles.3F2A1B9C.css",  # Angular; upper-case hex
    "/assets/3f2a1b9c8d7e6f5a.js",  # [contenthash].js
    "/app.js?v=3f2a1b9c",  # a version in the query
])
def test_bundler_hashes_are_fingerprints(path):
    assert is_hashed(path)


@pytest.mark.parametrize("path", [
    "/app.js", "/static/app.css", "/jquery-3.7.1.min.js", "/bootstrap.bundle.min.js", "/react-dom.production.min.js",
    "/index-MyButton.js", "/facade.js", "/x-decade.css", "/app-123456.js", "/lodash-4.17.21.js", "/favicon.ico",
    "/main-bundle.js", "/font-awesome.woff2", "/index-HTMLView.js",
])
def test_plain_names_are_not(path):
    assert not is_hashed(path)


def health_facts(body, status=200):
    return {"http.health": {"path": "/health", "status": status, "content_type": "application/json", "json": body,
                            "text": "{}", "headers": {"content-type": "application/json"}}}


@pytest.mark.parametrize("body", [
    {"status": "healthy", "database": True, "redis": True, "uptime": 12.5, "memory": {"rss": 1}, "timestamp": "t"},
    {"status": "ok", "database": "ok", "redis": "up"},
    {"status": "UP", "components": {"db": {"status": "UP"}, "diskSpace": {"status": "UP", "details": {"free": 1}}}},
    {"status": "pass", "checks": {"postgres:responseTime": [{"status": "pass", "observedValue": 3}]}},
    {"status": "ok", "details": {"database": {"status": "up"}, "redis": {"status": "up"}}},
    {"status": "ok", "checks": {"database": {"healthy": True}}},
])
def test_health_bodies_in_their_common_shapes_pass(body):
    out = judge(health, health_facts(body))
    assert out.status is Status.PASS, out.summary


def test_a_top_level_dependency_that_is_down_is_named():
    out = judge(health, health_facts({"status": "degraded", "database": True, "redis": False}, 503))
    assert out.status is Status.WARN and [f.object for f in out.findings] == ["GET /health redis"]
    bare = judge(health, health_facts({"status": "ok", "version": "1.2.3", "uptime": 4}))
    assert bare.status is Status.WARN and "without per-dependency status" in bare.summary


def burst(acks=(), events=(), disconnected=False, planned=15):
    return {"http.socketio_burst": {"enabled": True, "event": "message", "namespace": "/", "planned": planned,
                                    "acks": list(acks), "events": list(events), "disconnected": disconnected,
                                    "post_statuses": [200, 200]}}


@pytest.mark.parametrize("facts", [
    burst(events=[["error", {"message": "Too many messages"}]] * 14),  # the checklist's own throttle
    burst(acks=[[{"ok": True}]] * 10, events=[["error", {"message": "slow down"}]] * 5),
    burst(acks=[[{"ok": True}]] * 10 + [[{"error": "rejected"}]] * 5),  # an error ack
    burst(acks=[[{"ok": True}]] * 10 + [[{"ok": False}]] * 5),
    burst(events=[["rate_limited", {"retry_after": 1}]]),
    burst(acks=[[{"ok": True}]] * 3, disconnected=True),
])
def test_throttling_as_servers_signal_it_passes(facts):
    out = judge(throttle, facts)
    assert out.status is Status.PASS, out.summary


def test_every_message_refused_is_not_a_throttle_and_no_sign_is_still_unknown():
    refused = judge(throttle, burst(acks=[[{"error": "unauthorized"}]] * 15))
    assert refused.status is Status.FAIL  # 15 acks for 15 messages: nothing was held back
    assert judge(throttle, burst()).status is Status.WARN


def levels(pairs):
    fams = []
    for name, idx in (("cache_hits", 0), ("cache_misses", 1)):
        fams.append({"name": name, "samples": [{"name": f"{name}_total", "labels": {"cache_level": lvl}, "value": hm[idx]}
                                               for lvl, hm in pairs.items()]})
    return {"http.metrics": {"path": "/metrics", "status": 200, "families": fams}}


def test_chained_levels_are_judged_on_the_overall_hit_rate():
    # The checklist's design: L1 serves ~40 %, L2 ~85 % of what reaches it; 91 % of lookups are hits.
    out = judge(cache_levels, levels({"l1": (400, 600), "l2": (510, 90)}))
    assert out.status is Status.PASS and out.metrics["overall_hit_rate"] == 0.91, out.summary
    assert out.metrics["hit_rate"] == {"l1": 0.4, "l2": 0.85} and out.metrics["combined"] == "levels chained"
    low = judge(cache_levels, levels({"l1": (300, 700), "l2": (280, 420)}))
    assert low.status is Status.WARN and low.metrics["overall_hit_rate"] == 0.58
    assert low.findings[0].object == "cache levels" and "by level: l1 30%, l2 40%" in low.findings[0].message


def test_separate_caches_are_weighed_by_traffic():
    out = judge(cache_levels, levels({"users": (900, 100), "pages": (900, 100)}))
    assert out.metrics["combined"] == "levels apart" and out.metrics["overall_hit_rate"] == 0.9


def test_administration_is_left_aside_but_a_dangerous_command_never():
    assert is_admin("config|resetstat") and is_admin("info") and is_admin("slowlog|get") and not is_admin("hgetall")
    stats = {"cmdstat_config|resetstat": {"calls": 1, "usec_per_call": 4000.0},
             "cmdstat_info": {"calls": 20, "usec_per_call": 1500.0}, "cmdstat_get": {"calls": 1000, "usec_per_call": 1.0}}
    out = judge(commands, {"redis.info": info(**stats)})
    assert out.status is Status.PASS and sorted(out.metrics["slow_admin_commands"]) == ["CONFIG RESETSTAT", "INFO"]
    out = judge(commands, {"redis.info": info(**stats, **{"cmdstat_keys": {"calls": 1, "usec_per_call": 10.0}})})
    assert out.status is Status.FAIL and "KEYS" in out.metrics["dangerous_in_use"]
