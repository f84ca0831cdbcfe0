"""The load generator's HTTP clients: keep-alive connection pools with one method,
`send(request) -> Answer`, that time the first response byte and the last one.

HTTP/1.1 goes through a lean client: asyncio protocols driving h11 directly. A full
client (httpx) spends about 1 ms of Python per request, which is more than a static
file takes to serve on loopback and would swamp the measurement; this one spends about
0.2 ms of CPU, and keeps it out of the figure: the request is framed (h11) before its
send time and written at it, stamped right before the write, and the answer is stamped
when the bytes that end it are read from the socket, before h11 parses them. HTTP/2
(offered only over TLS, found by ALPN) goes through httpx, whose h2 support is
complete; its overhead is small next to a real network's round trip.

`send(request, at, sent)` waits until loop time `at` (polling the last stretch, since a
timer wakes ~0.1 ms late) with the connection ready and the bytes framed, then calls
`sent(now)` right before the write.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Callable, Protocol

import h11
import httpx


BODY_LIMIT = 4 * 1024 * 1024  # bytes of one answer's body read during the latency run
READ_SIZE = 64 * 1024  # bytes read from a connection at once


class BodyTooLarge(Exception):
    """An answer's body passed BODY_LIMIT: reading stopped there and the connection closed,
    so a huge (or endless) body costs neither memory nor a gigabyte of transfer per request."""

    def __init__(self, limit: int = BODY_LIMIT):
        super().__init__(f"body larger than {limit / 2 ** 20:g} MB, read stopped")


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
    # loop.time() when the event loop learnt the last bytes had come (its select() returned),
    # <= done: done - noticed is the loop's own delay in reading them; None when not known
    noticed: float | None = None


Sent = Callable[[float], None]  # called with loop.time() right before the request's bytes go out
Woke = Callable[[], float]  # loop.time() when the event loop's select() last returned


class Pool(Protocol):
    protocol: str

    async def send(self, request: Prepared, at: float, sent: Sent) -> Answer: ...

    async def close(self) -> None: ...


POLL_S = 0.0005  # sleep until this much before a send time, then poll the clock


async def until(loop: asyncio.AbstractEventLoop, at: float) -> None:
    """Return at loop time `at`, to a few microseconds: the timer for most of the wait, then
    the clock polled (yielding to other callbacks in between), as timers wake late."""
    if at - loop.time() > POLL_S:
        await asyncio.sleep(at - loop.time() - POLL_S)
    while loop.time() < at:
        await asyncio.sleep(0)


def tls_context(verify: bool, alpn: list[str]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(alpn)
    return context


class _H1Connection(asyncio.BufferedProtocol):
    """One keep-alive HTTP/1.1 connection; one exchange at a time. A buffered protocol: the
    transport reads into one buffer of ours (recv_into) where a plain protocol's recv
    allocates 256 KiB, mapped and unmapped by the allocator, for every read."""

    def __init__(self, loop: asyncio.AbstractEventLoop, woke: Woke | None = None):
        self.loop, self.woke = loop, woke
        self.h11 = h11.Connection(h11.CLIENT)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[float] | None = None
        self.first_byte: float | None = None
        self.last_read = 0.0  # loop.time() when the latest bytes were read, before parsing them
        self.noticed = 0.0  # when the loop learnt they were there (Woke), else last_read
        self.status = 0
        self.body_bytes = 0
        self.lost = False

    # asyncio callbacks
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buffer = memoryview(bytearray(READ_SIZE))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self.buffer[:nbytes]))

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self.close()  # bytes nobody asked for (a 408 on idle): the connection can't be reused
            return
        self.last_read = self.loop.time()
        self.noticed = min(self.woke(), self.last_read) if self.woke else self.last_read
        if self.first_byte is None:
            self.first_byte = self.last_read
        self.h11.receive_data(data)
        self._pump()

    def eof_received(self) -> bool:
        if self.waiter is not None and not self.waiter.done():
            self.last_read = self.noticed = self.loop.time()  # a body that ends with the connection ends now
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
            elif type(event) is h11.Data:
                self.body_bytes += len(event.data)
                if self.body_bytes > BODY_LIMIT:
                    self._fail(BodyTooLarge())
                    self.close()
                    return
            elif type(event) is h11.EndOfMessage:
                # The bytes that ended it were read at last_read (or, for a response that ends
                # when the server closes, just now): h11's parsing is not in the figure.
                self.waiter.set_result(self.last_read or self.loop.time())
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

    async def exchange(self, events: tuple, at: float, sent: Sent) -> Answer:
        """`events`: the request as h11 events (built once per request by the pool)."""
        self.first_byte, self.last_read, self.noticed, self.status, self.body_bytes = None, 0.0, 0.0, 0, 0
        out = b"".join(self.h11.send(event) for event in events)  # framed before the send time
        await until(self.loop, at)
        if self.lost:
            raise ConnectionResetError("the server closed the connection")
        self.waiter = self.loop.create_future()
        sent(self.loop.time())
        self.transport.write(out)
        done = await self.waiter
        return Answer(self.status, self.first_byte or done, done, "HTTP/1.1", min(self.noticed or done, done))


class H1Pool:
    """Up to as many connections as the caller lets requests run at once; idle ones are reused."""

    protocol = "HTTP/1.1"

    def __init__(self, host: str, port: int, host_header: str, tls: ssl.SSLContext | None, woke: Woke | None = None):
        self.host, self.port, self.host_header, self.tls, self.woke = host, port, host_header, tls, woke
        self.idle: list[_H1Connection] = []
        self.loop = asyncio.get_running_loop()
        self.events: dict[Prepared, tuple] = {}  # each request's h11 events, built once

    def _events(self, request: Prepared) -> tuple:
        events = self.events.get(request)
        if events is None:
            head = h11.Request(method=request.method, target=request.target,
                               headers=[("Host", self.host_header), *request.headers])
            body = (h11.Data(data=request.body),) if request.body else ()
            events = self.events[request] = (head, *body, h11.EndOfMessage())
        return events

    async def _connect(self) -> _H1Connection:
        _, conn = await self.loop.create_connection(
            lambda: _H1Connection(self.loop, self.woke), self.host, self.port,
            ssl=self.tls, server_hostname=self.host if self.tls else None)
        return conn

    async def send(self, request: Prepared, at: float, sent: Sent) -> Answer:
        events = self._events(request)
        conn, reused = None, False
        while self.idle and conn is None:
            candidate = self.idle.pop()
            conn, reused = (candidate, True) if not candidate.lost else (None, False)
        if conn is None:
            conn = await self._connect()
        try:
            try:
                answer = await conn.exchange(events, at, sent)
            except (ConnectionError, ValueError):
                # A kept-alive connection the server closed while idle: retry once on a new
                # one, as browsers do; the time lost stays in the measurement.
                if not reused or conn.got_bytes:
                    raise
                conn.close()
                conn = await self._connect()
                answer = await conn.exchange(events, at, sent)
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
        self.verify, self.concurrency = verify, concurrency
        self.client = self._new_client()
        self.in_flight: dict[httpx.AsyncClient, set[asyncio.Task]] = {}
        self.closing: set[asyncio.Task] = set()
        self.too_large: set[str] = set()  # targets whose body passed the cap

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            http2=True, verify=self.verify, timeout=None, follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency))

    async def _send(self, client: httpx.AsyncClient, request: Prepared) -> Answer:
        built = client.build_request(request.method, self.origin + request.target,
                                     headers=list(request.headers), content=request.body or None)
        response = await client.send(built, stream=True)
        try:
            first = self.loop.time()
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read > BODY_LIMIT:
                    raise BodyTooLarge()
            return Answer(response.status_code, first, self.loop.time(), response.http_version)
        finally:
            await response.aclose()

    async def send(self, request: Prepared, at: float, sent: Sent) -> Answer:
        await until(self.loop, at)
        sent(self.loop.time())  # httpx builds, frames and writes the request after this
        for attempt in (1, 2):
            client = self.client
            inner = self.loop.create_task(self._send(client, request))
            self.in_flight.setdefault(client, set()).add(inner)
            try:
                return await asyncio.shield(inner)  # retire() cancels `inner`, a timeout cancels us
            except BodyTooLarge:
                self.too_large.add(request.target)
                self._retire(client)
                raise
            except asyncio.CancelledError:
                if not inner.cancelled() or asyncio.current_task().cancelling():
                    inner.cancel()  # our own timeout or the run's end: not a retirement
                    raise
                if request.target in self.too_large:
                    raise BodyTooLarge() from None  # it would only poison the fresh connection too
                if attempt == 2 or request.method not in ("GET", "HEAD"):
                    raise ConnectionResetError("cut off when its connection was retired") from None
                # Cut off by the retirement, not by the server: a GET or HEAD goes once more on
                # the fresh connection (the time lost stays in the measurement).
            finally:
                self.in_flight.get(client, set()).discard(inner)
        raise AssertionError("unreachable")

    def _retire(self, client: httpx.AsyncClient) -> None:
        """httpcore neither resets an abandoned HTTP/2 stream nor credits its flow-control window,
        so the server keeps sending and the shared connection stalls for every other request:
        retire it (closing stops the transfer) and go on with a fresh one."""
        if client is not self.client:
            return
        self.client = self._new_client()
        for task in self.in_flight.pop(client, set()):
            task.cancel()
        self.closing.add(self.loop.create_task(client.aclose()))

    async def close(self) -> None:
        await asyncio.gather(*self.closing, return_exceptions=True)
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
                    concurrency: int, timeout_s: float, woke: Woke | None = None) -> Pool:
    """The pool for this origin: HTTP/2 when asked for and offered (TLS with ALPN), else HTTP/1.1."""
    if scheme == "https" and http2 and await _offers_h2(host, port, verify, timeout_s):
        return HttpxPool(f"https://{host_header}", verify, concurrency)
    return H1Pool(host, port, host_header, tls_context(verify, ["http/1.1"]) if scheme == "https" else None, woke)
