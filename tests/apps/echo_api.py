"""A hostile test server that echoes each request back (its path and query string, raw and
percent-decoded) in every answer perfcheck excerpts: the page, /metrics (as a line that does
not parse), /health, the Socket.IO handshake and the 404 body. Every request's path and
query is appended to --log, so a test can see which paths were really requested."""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


class Echo(BaseHTTPRequestHandler):
    log_path = ""
    protocol_version = "HTTP/1.1"

    def _answer(self, status: int, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Echo", self.path[:200])
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:
        with open(self.log_path, "a") as log:
            log.write(f"{self.command} {self.path}\n")
        parts = urlsplit(self.path)
        raw, decoded = parts.query, unquote(parts.query)
        if parts.path == "/metrics":  # a line that is not Prometheus text: its excerpt names the query
            self._answer(200, "text/plain; version=0.0.4", f"# TYPE up gauge\nup 1\n{raw} {decoded}\n")
        elif parts.path == "/health":
            self._answer(200, "application/json", json.dumps({"status": "ok", "echo": [raw, decoded]}))
        elif parts.path in ("/", "/socket.io/"):  # not an Engine.IO open packet: its excerpt names the query
            self._answer(200, "text/plain", f"{raw}\n{decoded}\n")
        else:
            self._answer(404, "application/json", json.dumps({"error": f"no route {self.path}", "decoded": decoded}))

    do_HEAD = do_GET
    do_OPTIONS = do_GET
    do_POST = do_GET

    def log_message(self, *args) -> None:  # quiet: the log file is the record
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    Echo.log_path = args.log
    ThreadingHTTPServer(("127.0.0.1", args.port), Echo).serve_forever()


if __name__ == "__main__":
    main()
