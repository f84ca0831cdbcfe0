"""The load generator's HTTP clients: keep-alive connection pools with one method,
`send(request) -> Answer`, that time the first response byte and the last one.

HTTP/1.1 goes through a lean client: asyncio protocols driving h11 directly. A full
client (httpx) spends about 1 ms of Python per request, which is more than a static
file takes to serve on loopback and would swamp the measurement; this one spends about
0.2 ms. HTTP/2 (offered only over TLS, found by ALPN) goes through httpx, whose h2
support is complete; its overhead is small next to a real network's round trip.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Protocol

import h11
import httpx


@dataclass(frozen=True)
class Prepared:
    """A request ready to send: the target is the path and query on the base URL."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]  # without Host (each client adds its own)
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int
    first_byte: float  # loop.time() of the first response byte
    done: float  # loop.time() of the last one
    protocol: str


class Pool(Protocol):
    protocol: str

    async def send(self, request: Prepared) -> Answer: ...

    async def close(self) -> None: ...


def tls_context(verify: bool, alpn: list[str]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(alpn)
    return context


class _H1Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one exchange at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.h11 = h11.Connection(h11.CLIENT)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[float] | None = None
        self.first_byte: float | None = None
        self.status = 0
        self.lost = False

    # asyncio callbacks
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self.close()  # bytes nobody asked for (a 408 on idle): the connection can't be reused
            return
        if self.first_byte is None:
            self.first_byte = self.loop.time()
        self.h11.receive_data(data)
        self._pump()

    def eof_received(self) -> bool:
        if self.waiter is not None and not self.waiter.done():
            self.h11.receive_data(b"")
            self._pump()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(exc or ConnectionResetError("the server closed the connection"))

    def _fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def _pump(self) -> None:
        while self.waiter is not None and not self.waiter.done():
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._fail(ValueError(f"not a valid HTTP/1.1 response: {exc}"))
                return
            if event is h11.NEED_DATA:
                return
            if type(event) is h11.Response:
                self.status = event.status_code
            elif type(event) is h11.EndOfMessage:
                self.waiter.set_result(self.loop.time())
            elif type(event) is h11.ConnectionClosed:
                self._fail(ConnectionResetError("the server closed the connection mid-response"))

    # used by the pool
    @property
    def got_bytes(self) -> bool:
        return self.first_byte is not None

    def reusable(self) -> bool:
        if self.lost or self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
            return False
        self.h11.start_next_cycle()
        return True

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()

    async def exchange(self, request: Prepared, host: str) -> Answer:
        self.first_byte, self.status = None, 0
        self.waiter = self.loop.create_future()
        out = self.h11.send(h11.Request(method=request.method, target=request.target,
                                        headers=[("Host", host), *request.headers]))
        if request.body:
            out += self.h11.send(h11.Data(data=request.body))
        out += self.h11.send(h11.EndOfMessage())
        self.transport.write(out)
        done = await self.waiter
        return Answer(self.status, self.first_byte or done, done, "HTTP/1.1")


class H1Pool:
    """Up to as many connections as the caller lets requests run at once; idle ones are reused."""

    protocol = "HTTP/1.1"

    def __init__(self, host: str, port: int, host_header: str, tls: ssl.SSLContext | None):
        self.host, self.port, self.host_header, self.tls = host, port, host_header, tls
        self.idle: list[_H1Connection] = []
        self.loop = asyncio.get_running_loop()

    async def _connect(self) -> _H1Connection:
        _, conn = await self.loop.create_connection(
            lambda: _H1Connection(self.loop), self.host, self.port,
            ssl=self.tls, server_hostname=self.host if self.tls else None)
        return conn

    async def send(self, request: Prepared) -> Answer:
        conn, reused = None, False
        while self.idle and conn is None:
            candidate = self.idle.pop()
            conn, reused = (candidate, True) if not candidate.lost else (None, False)
        if conn is None:
            conn = await self._connect()
        try:
            try:
                answer = await conn.exchange(request, self.host_header)
            except (ConnectionError, ValueError):
                # A kept-alive connection the server closed while idle: retry once on a new
                # one, as browsers do; the time lost stays in the measurement.
                if not reused or conn.got_bytes:
                    raise
                conn.close()
                conn = await self._connect()
                answer = await conn.exchange(request, self.host_header)
        except BaseException:
            conn.close()  # mid-exchange (an error, a timeout): its state is unknown
            raise
        if conn.reusable():
            self.idle.append(conn)
        else:
            conn.close()
        return answer

    async def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()
        await asyncio.sleep(0)  # let the transports close


class HttpxPool:
    """HTTP/2 (multiplexed) through httpx."""

    protocol = "HTTP/2"

    def __init__(self, origin: str, verify: bool, concurrency: int):
        self.origin = origin
        self.loop = asyncio.get_running_loop()
        self.client = httpx.AsyncClient(
            http2=True, verify=verify, timeout=None, follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency))

    async def send(self, request: Prepared) -> Answer:
        built = self.client.build_request(request.method, self.origin + request.target,
                                          headers=list(request.headers), content=request.body or None)
        response = await self.client.send(built, stream=True)
        try:
            first = self.loop.time()
            async for _ in response.aiter_raw():
                pass
            return Answer(response.status_code, first, self.loop.time(), response.http_version)
        finally:
            await response.aclose()

    async def close(self) -> None:
        await self.client.aclose()


async def _offers_h2(host: str, port: int, verify: bool, timeout_s: float) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(
            host, port, ssl=tls_context(verify, ["h2", "http/1.1"]), server_hostname=host), timeout_s)
    except (OSError, asyncio.TimeoutError, ssl.SSLError):
        return False  # the load itself will count and describe the failure
    chosen = writer.get_extra_info("ssl_object").selected_alpn_protocol()
    writer.close()
    return chosen == "h2"


async def open_pool(scheme: str, host: str, port: int, host_header: str, *, verify: bool, http2: bool,
                    concurrency: int, timeout_s: float) -> Pool:
    """The pool for this origin: HTTP/2 when asked for and offered (TLS with ALPN), else HTTP/1.1."""
    if scheme == "https" and http2 and await _offers_h2(host, port, verify, timeout_s):
        return HttpxPool(f"https://{host_header}", verify, concurrency)
    return H1Pool(host, port, host_header, tls_context(verify, ["http/1.1"]) if scheme == "https" else None)
