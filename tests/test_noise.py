"""One bullet per real problem: an endpoint the config names twice (or names the base URL
again) is requested, judged and reported once, against a real HTTP server on loopback."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import check, perfcheck

PAGE = ("<!doctype html><html><head><title>t</title></head><body>" + "<p>hello world</p>" * 200 + "</body></html>").encode()
JSON = b'{"items": [' + b",".join(b'{"id": %d, "name": "item number %d"}' % (i, i) for i in range(80)) + b"]}"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the stdlib's name
        body, kind = (PAGE, "text/html; charset=utf-8") if self.path == "/" else (JSON, "application/json")
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_one_endpoint_reported_once_whatever_its_names(server, tmp_path: Path):
    config = tmp_path / "perfcheck.yaml"
    config.write_text("http:\n  endpoints:\n"
                      "    - {name: home, path: /, kind: html}\n"
                      "    - {name: front page, path: /, kind: html}\n"
                      "    - {name: items, path: /api/items}\n"
                      "    - {name: all items, path: /api/items}\n")
    run = perfcheck("audit", "--url", server, "--config", str(config), "--only", "api.compression",
                    "--format", "json", timeout=60)
    assert run.code == 0, run.err
    result = check(run.json, "api.compression")
    assert sorted(f["object"] for f in result["findings"]) == ["home", "items"]
    assert result["summary"] == "none of the 2 responses compressed as they should be"
