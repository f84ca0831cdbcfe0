"""A small HTTP/1.1 keep-alive server with known timings, for the latency engine's tests.

    python tests/apps/delay_server.py        (prints the port it listens on, 127.0.0.1)

Paths (a query string makes a separate counter, so tests sharing one server don't mix):
  /delay/<ms>                 answers after <ms> milliseconds
  /stall?at=N&s=S             answers at once, except that the N-th request holds the
                              server-wide lock for S seconds, blocking every /stall
                              request meanwhile (a GC pause, a single-threaded server)
  /slowfirst?n=N&ms=M         the first N requests take M ms, the rest answer at once
  /hang                       never answers within a test's time
  /status/<code>              answers with that status
  /close                      answers with Connection: close
  /count?path=P               how many requests P (path and query) has received
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

counts: Counter[str] = Counter()
counts_lock = threading.Lock()
stall_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stalls

    def log_message(self, format, *args):  # quiet
        pass

    def _answer(self, status: int = 200, body: bytes = b'{"ok": true}', close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # a kept-alive connection must not leave a body unread
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/count":
            self._answer(body=json.dumps({"count": counts[query.get("path", "")]}).encode())
            return
        with counts_lock:
            counts[self.path] += 1
            seen = counts[self.path]
        if parts.path.startswith("/delay/"):
            time.sleep(float(parts.path.rsplit("/", 1)[1]) / 1000)
            self._answer()
        elif parts.path == "/stall":
            with stall_lock:
                if seen == int(query.get("at", 0)):
                    time.sleep(float(query.get("s", 1)))
            self._answer()
        elif parts.path == "/slowfirst":
            if seen <= int(query.get("n", 0)):
                time.sleep(float(query.get("ms", 0)) / 1000)
            self._answer()
        elif parts.path == "/hang":
            time.sleep(60)
        elif parts.path.startswith("/status/"):
            self._answer(int(parts.path.rsplit("/", 1)[1]))
        elif parts.path == "/close":
            self._answer(close=True)
        else:
            self._answer(404, b'{"error": "not found"}')

    do_POST = do_GET


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
