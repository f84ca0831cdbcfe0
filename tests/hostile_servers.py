"""Hostile HTTP servers on free loopback ports, in threads of the test process: one that
drips its answer a byte a second, one that accepts and never answers, one whose every
answer is a 1 GB body (generated on the fly, so it costs nothing unless read). Each
connection is bounded in time; `close()` ends them all."""

from __future__ import annotations

import socket
import threading
import time

from perfcheck.demo.sandbox import free_port

GIGABYTE = 1024 ** 3
CONNECTION_S = 60  # no connection outlives this, whatever the client does


class HostileServer:
    """`mode` on every path, or only on `paths` (the others get a small page at once)."""

    def __init__(self, mode: str, paths: tuple[str, ...] | None = None):
        assert mode in ("drip", "silent", "huge")
        self.mode = mode
        self.paths = paths
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.stopped = threading.Event()
        self.sent = 0  # body bytes the huge mode sent, over all connections
        self.requests = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", self.port))
        self._sock.settimeout(0.2)

    def __enter__(self) -> HostileServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.stopped.set()
        self._sock.close()
        with self._lock:
            for conn in self._conns:
                try:
                    conn.close()
                except OSError:
                    pass

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read_request(self, conn: socket.socket) -> str | None:
        """The request's path, None if the client went away."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        with self._lock:
            self.requests += 1
        return data.split(b" ", 2)[1].decode().split("?")[0]

    def _serve(self, conn: socket.socket) -> None:
        ends = time.monotonic() + CONNECTION_S
        conn.settimeout(5)
        try:
            path = self._read_request(conn)
            if path is None:
                return
            if self.paths is not None and path not in self.paths:
                body = b"<html><body>fast</body></html>"
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
            elif self.mode == "silent":
                while not self.stopped.is_set() and time.monotonic() < ends:
                    time.sleep(0.1)
            elif self.mode == "drip":
                body = b"<html><body>" + b"slow " * 200 + b"</body></html>"
                answer = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body)) + body
                for byte in answer:
                    if self.stopped.wait(1.0) or time.monotonic() > ends:
                        return
                    conn.sendall(bytes([byte]))
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n" % GIGABYTE)
                chunk = b" " * 65536  # JSON whitespace: valid as far as anyone reads it
                for _ in range(GIGABYTE // len(chunk)):
                    if self.stopped.is_set() or time.monotonic() > ends:
                        return
                    conn.sendall(chunk)
                    with self._lock:
                        self.sent += len(chunk)
        except OSError:
            pass  # the client stopped reading and closed: what a client should do
        finally:
            conn.close()
