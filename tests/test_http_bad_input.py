"""Bad input gets a clear answer: an unreachable URL, a TLS error, a redirect loop, a
port that does not speak HTTP, HTML where JSON was expected, a /metrics that does not
parse, a malformed endpoint list. The affected checks are `error` with the reason and
the rest of the audit goes on; exit 2 when no target at all could be reached."""

from __future__ import annotations

import pytest
from helpers import check, perfcheck
from http_servers import Nginx

from perfcheck.demo.sandbox import free_port

ODD = r"""
  server {{
    listen 127.0.0.1:{port0};
    root {root};
    location = / {{ default_type text/html; return 200 "<html><body>home</body></html>"; }}
    location = /api/items {{ default_type text/html; return 200 "<html><body>a page, not JSON</body></html>"; }}
    location = /health {{ default_type text/html; return 200 "<html><body>ok</body></html>"; }}
    location = /metrics {{ default_type text/plain; return 200 "# TYPE up gauge\nup 1\nthis is {{ not prometheus\n"; }}
    location = /loop {{ return 302 /loop; }}
  }}
"""


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    with Nginx(tmp_path_factory.mktemp("nginx-odd"), ODD) as server:
        yield server


def write(tmp_path, text: str) -> str:
    path = tmp_path / "perfcheck.yaml"
    path.write_text(text)
    return str(path)


def test_unreachable_url_as_the_only_target_is_exit_2_with_the_reason():
    run = perfcheck("audit", "--url", f"http://127.0.0.1:{free_port()}/", "--format", "json")
    assert run.code == 2
    assert "connection refused" in run.err and run.err.count("\n") == 1 and run.out == ""


def test_tls_to_a_plain_http_port_is_a_clear_error(odd):
    run = perfcheck("audit", "--url", f"https://127.0.0.1:{odd.ports[0]}/", "--format", "json")
    assert run.code == 2
    assert "TLS handshake failed" in run.err and "http://" in run.err


def test_a_redirect_loop_is_named(odd):
    run = perfcheck("audit", "--url", odd.url(0, "/loop"), "--format", "json")
    assert run.code == 2
    assert "redirect loop" in run.err


def test_a_port_that_does_not_speak_http(redis_server):
    run = perfcheck("audit", "--url", f"http://127.0.0.1:{redis_server.port}/", "--format", "json")
    assert run.code == 2
    assert "not an HTTP port" in run.err


def test_html_where_json_was_expected_and_unparsable_metrics_are_errors_and_the_rest_goes_on(odd, tmp_path):
    config = write(tmp_path, "http:\n  endpoints:\n    - {path: /api/items, kind: list}\n")
    run = perfcheck("audit", "--url", odd.url(0), "--config", config, "--format", "json",
                    "--only", "api.pagination", "--only", "mon.health", "--only", "mon.metrics",
                    "--only", "cache.levels", "--only", "cdn.html_cache", "--only", "api.cors")
    assert run.code == 0, run.err
    report = run.json
    pagination = check(report, "api.pagination")
    assert pagination["status"] == "error"
    assert pagination["summary"] == "GET /api/items answered HTML where JSON was expected"
    health = check(report, "mon.health")
    assert health["status"] == "error" and "HTML where JSON was expected" in health["summary"]
    for check_id in ("mon.metrics", "cache.levels"):
        result = check(report, check_id)
        assert result["status"] == "error"
        assert "GET /metrics does not parse as Prometheus text format" in result["summary"]
        assert "line 3" in result["summary"]
    # The others were judged as usual.
    assert check(report, "cdn.html_cache")["status"] in ("pass", "warn", "fail")
    assert check(report, "api.cors")["status"] == "pass"


def test_an_unreachable_url_beside_a_reachable_database_leaves_the_database_audited(pg_server):
    url = f"http://127.0.0.1:{free_port()}/"
    run = perfcheck("audit", "--url", url, "--db", pg_server.url, "--only", "api.cors", "--only", "db.timeouts",
                    "--format", "json")
    assert run.code == 0, run.err
    report = run.json
    cors = check(report, "api.cors")
    assert cors["status"] == "error" and "connection refused" in cors["summary"]
    assert check(report, "db.timeouts")["status"] in ("pass", "warn", "fail")
    assert any("connection refused" in e for e in report["errors"])


@pytest.mark.parametrize("endpoints, message", [
    ('"/api/items"', "http.endpoints: expected a list, got str"),
    ("[{kind: list}]", "http.endpoints[0]: 'path' is required"),
    ("[{path: api/items}]", "http.endpoints[0].path: 'api/items' must start with /"),
    ("[{path: /api/items, kind: lst}]", "http.endpoints[0].kind: unknown kind 'lst'"),
    ("[{path: /api/items, method: DELETE}]", "http.endpoints[0].method: DELETE is not allowed for kind api"),
    ("[{path: /a}, {path: /a}]", "http.endpoints[1].name: 'GET /a' is used twice"),
    ("[{path: /a, status: 1000}]", "http.endpoints[0].status: 1000 is not an HTTP status"),
])
def test_a_malformed_endpoint_list_is_a_one_line_error(tmp_path, endpoints, message):
    config = write(tmp_path, f"http:\n  endpoints: {endpoints}\n")
    run = perfcheck("audit", "--url", "http://127.0.0.1:9/", "--config", config)
    assert run.code == 2
    assert message in run.err and run.err.count("\n") == 1
