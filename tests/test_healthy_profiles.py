"""Healthy profiles (issue 12): every healthy sample target in the suite audits with zero warn or
fail in the categories it exercises, and a failure lists each check that fired. The Python
sample API (tests/apps/sample_api.py) and an nginx site built the way the major bundlers name
their files (webpack, Vite/Rollup, esbuild, Parcel, Next.js, Angular) behind an edge cache; the
Node backend's profile is in tests/test_node_backend.py, and the demo's music API in its healthy
form (`perfcheck demo --fixed`, behind PgBouncer and nginx) in tests/test_demo_fixed.py, beside
its planted form in tests/test_demo.py. Beside each look-alike, its planted twin."""

from __future__ import annotations

import pytest

from helpers import check, perfcheck
from http_servers import Nginx, SampleApi
from pass_invariant import audit_thresholds, report_contradictions
from test_http_audit import CONFIG as SAMPLE_CONFIG

# An edge cache for an app: nginx caching its static files, everything else passed through.
EDGE = r"""
  proxy_cache_path {root}/cache keys_zone=edge:1m;
  server {{
    listen 127.0.0.1:{port0};
    proxy_http_version 1.1; proxy_set_header Connection "";
    location /static/ {{
      proxy_pass http://127.0.0.1:{app}; proxy_cache edge; proxy_cache_valid 200 10m;
      add_header X-Cache-Status $upstream_cache_status always;
    }}
    location / {{ proxy_pass http://127.0.0.1:{app}; proxy_buffering off; }}
  }}
"""
THRESHOLDS = audit_thresholds()

# The file names as each bundler writes them (hash kinds: hex 6/8/16/20, base64url, base32).
BUNDLED = {
    "static/js/main.3f2a1b.chunk.js": "webpack [contenthash:6] (create-react-app)",
    "static/css/main.9c8d7e6f.css": "webpack [contenthash:8]",
    "dist/vendor.0a1b2c3d4e5f6a7b8c9d.js": "webpack [contenthash] (20)",
    "assets/index-BxY3a_9Q.js": "Vite / Rollup (base64url, with _)",
    "assets/index-Dk-Q2mZp.css": "Vite / Rollup (base64url, with -)",
    "assets/chunk-ABCD2345.js": "esbuild (base32)",
    "dist/index.1a2b3c4d.js": "Parcel",
    "_next/static/chunks/main-3f2a1b9c8d7e6f5a.js": "Next.js chunk",
    "_next/static/xK3_9aQz7bLm2nPq4rSt5/_buildManifest.js": "Next.js build-id folder",
    "browser/main.3f2a1b9c8d7e6f5a.js": "Angular",
}
SITE = r"""
  server {{
    listen 127.0.0.1:{port0};
    root {root}/site;
    gzip on; gzip_vary on; gzip_proxied any; gzip_min_length 1024;
    gzip_types text/css application/javascript;
    location = / {{ add_header Cache-Control "no-cache"; try_files /index.html =404; }}
    location ~ \.(js|css)$ {{ add_header Cache-Control "{asset_cache}"; }}
  }}
  server {{  # the edge: a caching proxy in front of the origin
    listen 127.0.0.1:{port1};
    location = / {{ proxy_pass http://127.0.0.1:{port0}; proxy_http_version 1.1; }}
    location / {{
      proxy_pass http://127.0.0.1:{port0}; proxy_http_version 1.1;
      proxy_cache edge; proxy_cache_valid 200 10m;
      add_header X-Cache-Status $upstream_cache_status always;
    }}
  }}
  proxy_cache_path {root}/cache keys_zone=edge:1m;
"""


def fired(report: dict, categories: set[str]) -> list[str]:
    """Each check that warned or failed in the categories exercised, with its summary."""
    return [f"{c['id']} {c['status']}: {c['summary']}" for c in report["checks"]
            if c["category"] in categories and c["status"] in ("warn", "fail")]


def write_bundle(root, names) -> None:
    site = root / "site"
    links = []
    for name in names:
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".css"):
            path.write_text("".join(f".r{i} {{ padding: {i}px; }}\n" for i in range(300)))
            links.append(f'<link rel="stylesheet" href="/{name}">')
        else:
            path.write_text("".join(f"function g{i}(a) {{ return a + {i}; }}\n" for i in range(300)))
            links.append(f'<script src="/{name}" defer></script>')
    (site / "index.html").write_text("<!doctype html><html><head><title>bundled</title>" + "".join(links)
                                     + "</head><body><p>" + "Text worth compressing. " * 80 + "</p></body></html>")


def site_audit(root, names, asset_cache: str) -> dict:
    write_bundle(root, names)
    with Nginx(root, SITE.replace("{asset_cache}", asset_cache), ports=2) as server:
        run = perfcheck("audit", "--url", server.url(1), "--only", "cdn", "--format", "json")
    assert run.code == 0, run.err
    return run.json


def test_the_python_sample_api_in_good_form_behind_an_edge_is_clean(tmp_path):
    config = tmp_path / "perfcheck.yaml"
    config.write_text(SAMPLE_CONFIG)
    with SampleApi("good") as app, Nginx(tmp_path, EDGE.replace("{app}", str(app.port))) as edge:
        run = perfcheck("audit", "--url", edge.url(), "--config", str(config), "--format", "json")
    assert run.code == 0, run.err
    exercised = {"api", "cdn", "cache", "realtime", "monitoring"}
    assert not fired(run.json, exercised), "\n".join(fired(run.json, exercised))
    assert not report_contradictions(run.json, THRESHOLDS)


def test_bundler_named_assets_behind_an_edge_are_clean(tmp_path):
    report = site_audit(tmp_path, BUNDLED, "public, max-age=31536000, immutable")
    assert not fired(report, {"cdn"}), "\n".join(fired(report, {"cdn"}))
    static = check(report, "cdn.static_cache")
    assert static["metrics"] == {"assets": len(BUNDLED), "hashed": len(BUNDLED)}, static
    assert check(report, "cdn.edge")["status"] == "pass"
    assert not report_contradictions(report, THRESHOLDS)


@pytest.mark.parametrize("cache", ["public, max-age=3600"])
def test_bundler_named_assets_cached_briefly_are_judged_and_fail(tmp_path, cache):
    # Before issue 12 the 6-hex, base64url and base32 names were "not fingerprinted" (a warning),
    # so their short caching was never judged.
    report = site_audit(tmp_path, BUNDLED, cache)
    static = check(report, "cdn.static_cache")
    assert static["status"] == "fail"
    assert {f["object"] for f in static["findings"] if f["severity"] == "fail"} == {f"/{n}" for n in BUNDLED}


def test_an_unhashed_bundle_cached_immutable_is_its_own_finding(tmp_path):
    report = site_audit(tmp_path, ["js/app.js", "assets/index-BxY3a_9Q.js"], "public, max-age=31536000, immutable")
    static = {f["object"]: f for f in check(report, "cdn.static_cache")["findings"]}
    assert set(static) == {"/js/app.js"}
    assert static["/js/app.js"]["severity"] == "warn"
    assert "cached immutable without a content hash" in static["/js/app.js"]["message"]
    assert check(report, "cdn.static_cache")["status"] in ("warn", "fail")
