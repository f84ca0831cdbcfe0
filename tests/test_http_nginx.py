"""The static-asset and header checks against a real web server: nginx with a good
configuration (behind an nginx caching proxy as the edge, and over TLS with HTTP/2) and
a bad one. Each audit is the CLI, as a user runs it."""

from __future__ import annotations

import json
import subprocess

import pytest
from helpers import category, check, perfcheck
from http_servers import Nginx, write_site

GOOD = r"""
  map $http_accept $webp_suffix {{ default ""; "~*image/webp" ".webp"; }}
  proxy_cache_path {root}/cache keys_zone=edge:1m;
  server {{
    listen 127.0.0.1:{port0};
    root {root}/site;
    gzip on; gzip_vary on; gzip_proxied any; gzip_min_length 1024;
    gzip_types text/css application/javascript image/svg+xml application/json;
    location = / {{ add_header Cache-Control "no-cache"; try_files /index.html =404; }}
    location /static/ {{ add_header Cache-Control "public, max-age=31536000, immutable"; }}
    location ~ ^/static/.+\.jpg$ {{
      add_header Cache-Control "public, max-age=31536000, immutable"; add_header Vary Accept;
      try_files $uri$webp_suffix $uri =404;
    }}
  }}
  server {{  # the edge: a caching proxy in front of the origin
    listen 127.0.0.1:{port1};
    # HTML passes through uncached, so its conditional requests reach the origin (a cache
    # zone would strip If-None-Match and answer 200).
    location = / {{ proxy_pass http://127.0.0.1:{port0}; proxy_http_version 1.1; }}
    location / {{
      proxy_pass http://127.0.0.1:{port0}; proxy_http_version 1.1;
      proxy_cache edge; proxy_cache_valid 200 10m;
      add_header X-Cache-Status $upstream_cache_status always;
    }}
  }}
  server {{  # the origin again, over TLS with HTTP/2 and a self-signed certificate
    listen 127.0.0.1:{port2} ssl http2;
    ssl_certificate {root}/cert.pem; ssl_certificate_key {root}/key.pem;
    root {root}/site;
    location = / {{ add_header Cache-Control "no-cache"; try_files /index.html =404; }}
  }}
"""

BAD = r"""
  server {{
    listen 127.0.0.1:{port0};
    root {root}/site;
    etag off;
    gzip on; gzip_min_length 20; gzip_types audio/mpeg;  # compresses audio, not CSS or JavaScript
    location = / {{ expires 1h; try_files /index.html =404; }}
  }}
"""

MEDIA = "http:\n  endpoints:\n    - {path: /media/track.mp3, kind: media}\n"


@pytest.fixture(scope="module")
def good_nginx(tmp_path_factory):
    root = tmp_path_factory.mktemp("nginx-good")
    write_site(root)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem")], check=True, capture_output=True)
    with Nginx(root, GOOD, ports=3) as server:
        yield server


@pytest.fixture(scope="module")
def bad_nginx(tmp_path_factory):
    root = tmp_path_factory.mktemp("nginx-bad")
    write_site(root, big_image=True, webp=False)
    with Nginx(root, BAD) as server:
        yield server


@pytest.fixture(scope="module")
def media_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "perfcheck.yaml"
    path.write_text(MEDIA)
    return str(path)


def audit(url: str, *args: str) -> dict:
    run = perfcheck("audit", "--url", url, "--only", "cdn", "--only", "api.compression", "--format", "json", *args)
    assert run.code == 0, run.err
    return run.json


def test_good_nginx_behind_an_edge_cache_passes_every_cdn_check(good_nginx, media_config):
    report = audit(good_nginx.url(1), "--config", media_config)
    for check_id in ("cdn.static_cache", "cdn.html_cache", "cdn.edge", "cdn.compression", "cdn.images", "api.compression"):
        assert check(report, check_id)["status"] == "pass", check(report, check_id)
    assert category(report, "cdn")["score"] >= 90
    assert "304" in check(report, "cdn.html_cache")["summary"]
    assert "x-cache-status" in check(report, "cdn.edge")["metrics"]["edge_headers"]
    assert check(report, "cdn.images")["metrics"]["formats"] == ["image/webp"]  # negotiated by Accept
    assert check(report, "cdn.compression")["metrics"]["encodings"] == ["gzip"]


def test_the_origin_without_an_edge_is_a_warning_not_a_failure(good_nginx):
    edge = check(audit(good_nginx.url(0)), "cdn.edge")
    assert edge["status"] == "warn"
    assert "no edge cache" in edge["summary"]


def test_bad_nginx_reports_each_planted_problem_on_its_asset(bad_nginx, media_config):
    report = audit(bad_nginx.url(0), "--config", media_config)
    objects = {c["id"]: {f["object"] for f in c["findings"] if f["severity"] == "fail"} for c in report["checks"]}
    assert objects["cdn.static_cache"] == {"/static/site.1a2b3c4d5e.css", "/static/site.9f8e7d6c5b.js",
                                           "/static/photo.0a1b2c3d4e.jpg"}
    assert objects["cdn.html_cache"] == {"GET /"}
    assert "1 h" in check(report, "cdn.html_cache")["summary"]
    assert objects["cdn.compression"] == {"/static/site.1a2b3c4d5e.css", "/static/site.9f8e7d6c5b.js"}
    assert objects["cdn.images"] == {"/static/photo.0a1b2c3d4e.jpg"}  # 250 kB over the 200 kB budget
    assert objects["api.compression"] == {"GET /media/track.mp3"}  # streaming audio must not be gzipped
    audio = next(f for f in check(report, "api.compression")["findings"] if f["object"] == "GET /media/track.mp3")
    assert "audio/mpeg" in audio["message"] and audio["evidence"]["content_encoding"] == "gzip"
    for check_id in ("cdn.static_cache", "cdn.html_cache", "cdn.compression", "cdn.images", "api.compression"):
        assert check(report, check_id)["status"] == "fail"
    assert category(report, "cdn")["score"] < 50


def test_tls_is_verified_unless_insecure_and_http2_is_used_where_offered(good_nginx):
    url = f"https://127.0.0.1:{good_nginx.ports[2]}/"
    refused = perfcheck("audit", "--url", url, "--only", "api.connection_reuse", "--format", "json")
    assert refused.code == 2
    assert "certificate not trusted" in refused.err and "--insecure" in refused.err
    run = perfcheck("audit", "--url", url, "--only", "api.connection_reuse", "--format", "json", "--insecure")
    assert run.code == 0, run.err
    reuse = check(run.json, "api.connection_reuse")
    assert reuse["status"] == "pass"
    assert reuse["metrics"]["http_versions"] == ["HTTP/2"] and reuse["metrics"]["connections"] == 1
    assert json.dumps(run.json).count("https://127.0.0.1") >= 1
