"""The latency engine: a bounded open-model load at a constant request rate.

Every request has an intended send time on a fixed schedule (`rate` per second across
the whole run, endpoints interleaved round-robin). Latency is measured from that
intended time, not from when the request actually left, so a server that stalls
cannot hide its stall by slowing the sender down (coordinated omission, corrected the
way wrk2 does it). Warm-up requests are sent first and left out of the histograms.

Bounds: at most `len(endpoints) * (warmup + requests)` requests, at most `rate`
requests per second, at most `concurrency` in flight, and the run stops sending after
`max_seconds` (requests still in flight then get a short grace, and any left are
counted as `unfinished`). Only `base_url`'s origin is ever
contacted; redirects are not followed (a 3xx is counted as its status).

The call is synchronous (it runs its own event loop) so a collector thread can call it.

Public API (stable; fields may be added, never renamed or removed):

    run_load(base_url, [LoadEndpoint(...)], requests=200, rate=50, warmup=10,
             concurrency=10, max_seconds=20, timeout_s=10) -> {name: result}

Each result is plain JSON-serialisable data:

    name, method, path, protocol ("HTTP/1.1" | "HTTP/2"),
    count           measured requests that got a complete response (any status)
    errors          connection/protocol errors (refused, reset, TLS, not HTTP)
    timeouts        no complete response within timeout_s of being sent
    unfinished      still waiting or in flight when the run ended (duration cap)
                    (count + errors + timeouts + unfinished = measured requests scheduled)
    status_counts   {"200": 190, "503": 10}
    error_samples   a few distinct error messages, one line each
    p50_ms p95_ms p99_ms max_ms mean_ms min_ms
                    latency from the intended send time; responses, timeouts and
                    unfinished requests are all in it (lower bounds for the last two),
                    so a stall shows; None when nothing was measured
    ttfb_p50_ms ttfb_p95_ms ttfb_p99_ms
                    intended send time to the first response byte (responses only)
    sent            measured requests that went out (got a connection slot)
    achieved_rate   measured requests sent per second for this endpoint
    late_sends      {"count": sends more than 1 ms behind schedule, "p50_ms", "p99_ms",
                     "max_ms"}: how far behind schedule requests went out, whether the
                     sender lagged or all `concurrency` connections were busy
    sender_lag_ms   {"p50_ms", "p99_ms", "max_ms"}: perfcheck's own lateness alone: from
                     when a request could go (its send time, or a connection freeing up
                     after it) to its bytes being written; a high value means this
                     machine could not keep the rate
    own_ms          {"p50_ms", "p95_ms", "p99_ms"}: how much of each latency percentile was
                     perfcheck's own: the percentile minus the same percentile with each
                     request's own time taken out: its lateness (as in sender_lag_ms)
                     and, over HTTP/1.1, the event loop's delay between learning that the
                     answer's last bytes had come (select() returned) and reading them.
                     The clock starts right before the bytes are written and stops when
                     the bytes that end the answer are read, so framing and parsing are
                     not in the figure (HTTP/1.1; through httpx, HTTP/2, its own time is);
                     the kernel's wake-up of the process is not counted as its own
    histogram       [{"le_ms": upper bound, "count": n}, ...]  about 12 buckets for display
    duration_s      the measured phase's length
    stopped_by      "budget" | "max_seconds"
    stopped_early   why this endpoint was sent no more requests ("body larger than 4 MB,
                    read stopped"), else None; the requests not sent are in no count
"""


from __future__ import annotations

import asyncio
import base64
import json
import re
import selectors
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

from hdrh.histogram import HdrHistogram

from perfcheck import __version__
from perfcheck.collectors.http.client import Answer, BodyTooLarge, Pool, Prepared, Sent, open_pool

Progress = Callable[[int, int], None]  # (requests done, requests planned), warm-up included

MAX_CONCURRENCY = 512  # select() watches at most 1024 descriptors
GRACE_S = 1.0  # how long in-flight requests may finish after max_seconds (capped by timeout_s)
WAKE_EARLY_S = 0.0005  # start a request this much before its send time: it gets its connection
# and frames its bytes, then polls the clock (client.until) and writes them on time
LATE_MS = 1.0  # a send this far behind schedule counts as late
_HIGHEST_US = 3_600_000_000  # one hour, in microseconds
_DISPLAY_EDGES_MS = [m * 10.0 ** e for e in range(-2, 6) for m in (1, 2, 5)]
_MAX_BUCKETS = 12
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass(frozen=True)
class LoadEndpoint:
    name: str  # unique in one run; the key of the result, e.g. "GET /api/songs"
    path: str  # joined to base_url's path ("" is the base URL itself); no scheme or host
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str | dict | list | None = None  # str: UTF-8; dict/list: JSON


def run_load(
    base_url: str,
    endpoints: list[LoadEndpoint],
    *,
    requests: int,
    rate: float,
    warmup: int,
    concurrency: int,
    max_seconds: float,
    timeout_s: float,
    verify: bool = True,
    http2: bool = True,
    progress: Progress | None = None,
) -> dict[str, dict[str, Any]]:
    """Load every endpoint at a constant total `rate`; `requests` and `warmup` are per endpoint.

    Raises ValueError for bad arguments (an empty endpoint list, a duplicate name, a
    path with a host, a non-positive rate...). A target that cannot be reached is not
    an exception: its requests are counted as `errors` with samples of the reason.
    Must not be called from a running event loop (it runs its own).
    """
    origin = _Origin.parse(base_url)
    _validate(endpoints, requests=requests, rate=rate, warmup=warmup, concurrency=concurrency,
              max_seconds=max_seconds, timeout_s=timeout_s)
    prepared = [origin.prepare(ep) for ep in endpoints]
    run = _Run(origin, endpoints, prepared, requests=requests, rate=rate, warmup=warmup,
               concurrency=concurrency, max_seconds=max_seconds, timeout_s=timeout_s,
               verify=verify, http2=http2, progress=progress)
    # select() sleeps to the microsecond; epoll rounds every timer up to the next
    # millisecond, which would make sends up to 1 ms late and show in the latency.
    selector = _StampedSelector()
    run.woke = selector.woke
    loop = asyncio.SelectorEventLoop(selector)
    try:
        return loop.run_until_complete(run.run())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


class _StampedSelector(selectors.SelectSelector):
    """select() that notes when it returned: the event loop learnt then that an answer's bytes
    had come, and what it does before reading them (other callbacks) is perfcheck's own time."""

    returned = 0.0

    def select(self, timeout: float | None = None):
        ready = super().select(timeout)
        self.returned = time.monotonic()  # asyncio's loop.time()
        return ready

    def woke(self) -> float:
        return self.returned


def _validate(endpoints: list[LoadEndpoint], *, requests: int, rate: float, warmup: int, concurrency: int,
              max_seconds: float, timeout_s: float) -> None:
    if not endpoints:
        raise ValueError("no endpoints to load")
    names = [ep.name for ep in endpoints]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"endpoint names must be unique: {', '.join(duplicates)}")
    for ep in endpoints:
        if not ep.name:
            raise ValueError(f"an endpoint without a name ({ep.method} {ep.path})")
        if not _TOKEN.match(ep.method or ""):
            raise ValueError(f"endpoint {ep.name!r}: {ep.method!r} is not an HTTP method")
        parts = urlsplit(ep.path)
        if parts.scheme or parts.netloc or (ep.path and not ep.path.startswith("/")):
            raise ValueError(f"endpoint {ep.name!r}: path {ep.path!r} must start with / and name no host")
    if not isinstance(requests, int) or requests < 1:
        raise ValueError(f"requests must be a whole number of at least 1, not {requests!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a whole number of at least 0, not {warmup!r}")
    if not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be between 1 and {MAX_CONCURRENCY}, not {concurrency!r}")
    for label, value in (("rate", rate), ("max_seconds", max_seconds), ("timeout_s", timeout_s)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{label} must be a positive number, not {value!r}")


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int
    host_header: str
    prefix: str  # the base URL's path, without a trailing slash
    auth: str | None  # an Authorization header from user:password in the URL

    @classmethod
    def parse(cls, base_url: str) -> _Origin:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the base URL must be http:// or https:// with a host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ValueError("the base URL has an invalid port") from None
        host = parts.hostname
        shown = f"[{host}]" if ":" in host else host
        default = (parts.scheme, port) in (("http", 80), ("https", 443))
        auth = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            auth = "Basic " + base64.b64encode(pair).decode()
        return cls(parts.scheme, host, port, shown if default else f"{shown}:{port}",
                   parts.path.rstrip("/"), auth)

    def prepare(self, ep: LoadEndpoint) -> Prepared:
        body = ep.body
        headers = {"user-agent": f"perfcheck/{__version__}", "accept": "*/*",
                   "accept-encoding": "gzip, deflate, br"}
        if self.auth:
            headers["authorization"] = self.auth
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode()
        headers.update({k.lower(): v for k, v in ep.headers.items() if k.lower() != "host"})
        body = body or b""
        if body or ep.method.upper() in ("POST", "PUT", "PATCH"):
            headers["content-length"] = str(len(body))
        return Prepared(ep.method.upper(), self.prefix + ep.path or "/", tuple(headers.items()), body)


def _us(seconds: float) -> int:
    return min(_HIGHEST_US, max(1, round(seconds * 1e6)))


def _ms(us: float | None) -> float | None:
    return None if us is None else round(us / 1000, 3)


def _new_histogram() -> HdrHistogram:
    return HdrHistogram(1, _HIGHEST_US, 3)  # microseconds, 3 significant digits


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, BodyTooLarge):
        return str(exc)
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


class _Recorder:
    """One endpoint's measurements."""

    def __init__(self) -> None:
        self.latency = _new_histogram()
        self.ttfb = _new_histogram()
        self.late = _new_histogram()
        self.sender = _new_histogram()
        self.bare = _new_histogram()  # latency with perfcheck's own lateness taken out
        self.statuses: Counter[str] = Counter()
        self.errors = self.timeouts = self.unfinished = self.sent = 0
        self.late_count = 0
        self.latency_sum_us = 0
        self.samples: list[str] = []
        self.protocols: Counter[str] = Counter()
        self.first_send: float | None = None
        self.last_send: float | None = None
        self.first_intended: float | None = None
        self.last_done: float | None = None
        self.stopped_early: str | None = None

    def _latency(self, seconds: float, own: float) -> None:
        self.latency.record_value(_us(seconds))
        self.bare.record_value(_us(seconds - own))
        self.latency_sum_us += _us(seconds)  # hdrh's get_mean_value walks every bucket: slow

    def scheduled(self, intended: float) -> None:
        self.first_intended = intended if self.first_intended is None else self.first_intended

    def went_out(self, intended: float, now: float, own: float) -> None:
        """`now`: when its bytes were written; `own`: how much of the lateness was perfcheck's."""
        self.sent += 1
        self.first_send = now if self.first_send is None else self.first_send
        self.last_send = now
        self.late.record_value(_us(max(now - intended, 0)))
        self.sender.record_value(_us(own))
        if now - intended > LATE_MS / 1000:
            self.late_count += 1

    def answered(self, answer: Answer, intended: float, own: float) -> None:
        self.statuses[str(answer.status)] += 1
        self.protocols[answer.protocol] += 1
        self._latency(answer.done - intended, own)
        self.ttfb.record_value(_us(answer.first_byte - intended))
        self.last_done = answer.done

    def failed(self, exc: BaseException, now: float) -> None:
        self.errors += 1
        self.last_done = now
        message = _describe(exc)
        if message not in self.samples and len(self.samples) < 3:
            self.samples.append(message)

    def timed_out(self, intended: float, now: float, own: float) -> None:
        self.timeouts += 1
        self._latency(now - intended, own)  # at least this long: keep the stall visible
        self.last_done = now

    def cut_off(self, intended: float, now: float, own: float) -> None:
        self.unfinished += 1
        self._latency(now - intended, own)
        self.last_done = now

    def own_share(self) -> dict[str, float]:
        """Each percentile minus the same percentile without perfcheck's own lateness."""
        lat, bare = self.latency, self.bare
        return {f"p{p}_ms": _ms(max(0, lat.get_value_at_percentile(p) - bare.get_value_at_percentile(p)))
                for p in (50, 95, 99)}

    def result(self, ep: LoadEndpoint, pool_protocol: str, stopped_by: str) -> dict[str, Any]:
        lat, ttfb = self.latency, self.ttfb
        measured = lat.get_total_count() > 0
        answered = ttfb.get_total_count() > 0

        def pct(h: HdrHistogram, p: float, present: bool) -> float | None:
            return _ms(h.get_value_at_percentile(p)) if present else None

        rate = None
        if self.sent > 1 and self.last_send > self.first_send:
            rate = round((self.sent - 1) / (self.last_send - self.first_send), 2)
        duration = (self.last_done - self.first_intended) if self.last_done and self.first_intended else 0.0
        sent_any = self.late.get_total_count() > 0
        return {
            "name": ep.name, "method": ep.method.upper(), "path": ep.path,
            "protocol": self.protocols.most_common(1)[0][0] if self.protocols else pool_protocol,
            "count": ttfb.get_total_count(),
            "errors": self.errors, "timeouts": self.timeouts, "unfinished": self.unfinished,
            "status_counts": dict(sorted(self.statuses.items())),
            "error_samples": list(self.samples),
            "p50_ms": pct(lat, 50, measured), "p95_ms": pct(lat, 95, measured), "p99_ms": pct(lat, 99, measured),
            "max_ms": _ms(lat.get_max_value()) if measured else None,
            "mean_ms": _ms(self.latency_sum_us / lat.get_total_count()) if measured else None,
            "min_ms": _ms(lat.get_min_value()) if measured else None,
            "ttfb_p50_ms": pct(ttfb, 50, answered), "ttfb_p95_ms": pct(ttfb, 95, answered),
            "ttfb_p99_ms": pct(ttfb, 99, answered),
            "sent": self.sent,
            "achieved_rate": rate,
            "late_sends": {"count": self.late_count, "p50_ms": pct(self.late, 50, sent_any),
                           "p99_ms": pct(self.late, 99, sent_any),
                           "max_ms": _ms(self.late.get_max_value()) if sent_any else None},
            "sender_lag_ms": {"p50_ms": pct(self.sender, 50, self.sender.get_total_count() > 0),
                              "p99_ms": pct(self.sender, 99, self.sender.get_total_count() > 0),
                              "max_ms": _ms(self.sender.get_max_value()) if self.sender.get_total_count() else None},
            "own_ms": self.own_share() if measured else None,
            "histogram": display_buckets(lat) if measured else [],
            "duration_s": round(max(duration, 0.0), 3),
            "stopped_by": stopped_by,
            "stopped_early": self.stopped_early,
        }


def display_buckets(histogram: HdrHistogram) -> list[dict[str, float]]:
    """Counts between fixed 1-2-5 edges (ms), so runs compare; at most 12 buckets, the
    first one taking everything below it. Read from the counts array: hdrh's iterators
    walk every bucket in Python and take tens of milliseconds."""
    low, high = histogram.get_min_value() / 1000, histogram.get_max_value() / 1000
    edges = [e for e in _DISPLAY_EDGES_MS if e >= low] or _DISPLAY_EDGES_MS[-1:]
    top = next((i for i, e in enumerate(edges) if e >= high), len(edges) - 1)
    edges = edges[: top + 1][-_MAX_BUCKETS:]
    counts = histogram.counts
    cumulative = [sum(counts[: histogram.get_counts_array_index(round(e * 1000)) + 1]) for e in edges[:-1]]
    cumulative.append(histogram.get_total_count())
    return [{"le_ms": round(e, 3), "count": c - (cumulative[i - 1] if i else 0)}
            for i, (e, c) in enumerate(zip(edges, cumulative))]


class _Run:
    def __init__(self, origin: _Origin, endpoints: list[LoadEndpoint], prepared: list[Prepared], *,
                 requests: int, rate: float, warmup: int, concurrency: int, max_seconds: float,
                 timeout_s: float, verify: bool, http2: bool, progress: Progress | None):
        self.origin, self.endpoints, self.prepared = origin, endpoints, prepared
        self.requests, self.rate, self.warmup, self.concurrency = requests, float(rate), warmup, concurrency
        self.max_seconds, self.timeout_s = float(max_seconds), float(timeout_s)
        self.verify, self.http2, self.progress = verify, http2, progress
        self.recorders = [_Recorder() for _ in endpoints]
        self.planned = len(endpoints) * (warmup + requests)
        self.finished = 0
        self.last_progress = 0.0
        self.oversized: dict[int, str] = {}  # endpoints whose body passed the limit, and why
        self.woke: Callable[[], float] | None = None  # when the loop's select() last returned

    def _tick(self, force: bool = False) -> None:
        self.finished += 0 if force else 1
        now = self.loop.time()
        if self.progress and (force or now - self.last_progress >= 0.1):
            self.last_progress = now
            self.progress(self.finished, self.planned)

    async def _one(self, index: int, recorder: _Recorder | None, request: Prepared, intended: float) -> None:
        """One request, started a little before `intended` (see WAKE_EARLY_S); `recorder` is
        None for warm-up. Every time is from `intended`."""
        loop = self.loop
        written: list[float] = []  # when its bytes went out
        own = 0.0
        try:
            waited = self.slots.locked()
            async with self.slots:
                if index in self.oversized:
                    return  # queued before this endpoint's body passed the cap: not sent, in no count
                # It could go at its send time, or when a connection freed up after it.
                ready = max(intended, loop.time()) if waited else intended
                try:
                    outcome = await self._exchange(index, request, intended, written.append)
                finally:
                    own = max(0.0, written[0] - ready) if written else 0.0
                    if recorder:
                        recorder.went_out(intended, written[0] if written else max(ready, intended), own)
                if recorder:
                    self._record(recorder, outcome, intended, own)
        except asyncio.CancelledError:
            if recorder:
                recorder.cut_off(intended, loop.time(), own)
            raise
        finally:
            self._tick()

    async def _exchange(self, index: int, request: Prepared, intended: float,
                        sent: Sent) -> Answer | BaseException:
        """The answer, or what went wrong (a timeout, an error): never raises but for cancellation."""
        loop = self.loop
        try:
            async with asyncio.timeout_at(max(loop.time(), intended) + self.timeout_s):
                return await self.pool.send(request, intended, sent)
        except BodyTooLarge as exc:
            # Every answer of this endpoint would be as big: send it no more (see run()).
            self.oversized.setdefault(index, str(exc))
            return exc
        except Exception as exc:  # timeout, refused, reset, TLS, not HTTP: counted, never fatal
            return exc

    def _record(self, recorder: _Recorder, outcome: Answer | BaseException, intended: float, own: float) -> None:
        now = self.loop.time()
        if isinstance(outcome, Answer):
            # the loop's own delay in reading bytes that were there counts as perfcheck's too
            recorder.answered(outcome, intended, own + outcome.done - (outcome.noticed or outcome.done))
        elif isinstance(outcome, TimeoutError):
            recorder.timed_out(intended, now, own)
        else:
            recorder.failed(outcome, now)

    async def run(self) -> dict[str, dict[str, Any]]:
        self.loop = loop = asyncio.get_running_loop()
        self.slots = asyncio.Semaphore(self.concurrency)
        o = self.origin
        self.pool: Pool = await open_pool(o.scheme, o.host, o.port, o.host_header, verify=self.verify,
                                          http2=self.http2, concurrency=self.concurrency,
                                          timeout_s=min(self.timeout_s, self.max_seconds), woke=self.woke)
        n = len(self.endpoints)
        interval = 1.0 / self.rate
        start = loop.time() + 0.002
        stop_sending = start + self.max_seconds
        hard_end = stop_sending + min(self.timeout_s, GRACE_S)
        in_flight: set[asyncio.Task] = set()
        stopped_by = "budget"
        try:
            for i in range(self.planned):
                if i % n in self.oversized:
                    if len(self.oversized) == n:
                        break
                    continue  # its slot in the schedule stays empty: the others keep their times
                intended = start + i * interval
                if intended >= stop_sending:
                    stopped_by = "max_seconds"
                    break
                now = loop.time()
                if intended - now > WAKE_EARLY_S:
                    await asyncio.sleep(intended - now - WAKE_EARLY_S)
                # The request starts a little early and writes its bytes at `intended`
                # itself (client.until), its connection ready and the bytes framed.
                if loop.time() >= stop_sending:  # far behind schedule: the cap still holds
                    stopped_by = "max_seconds"
                    break
                recorder = self.recorders[i % n] if i >= n * self.warmup else None
                if recorder:
                    recorder.scheduled(intended)
                task = loop.create_task(self._one(i % n, recorder, self.prepared[i % n], intended))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if in_flight:
                _, pending = await asyncio.wait(set(in_flight), timeout=max(0.0, hard_end - loop.time()))
                for task in pending:
                    task.cancel()
                    stopped_by = "max_seconds"
                await asyncio.gather(*pending, return_exceptions=True)
        finally:
            await self.pool.close()
        self._tick(force=True)
        for index, reason in self.oversized.items():
            self.recorders[index].stopped_early = reason
        return {ep.name: rec.result(ep, self.pool.protocol, stopped_by)
                for ep, rec in zip(self.endpoints, self.recorders)}
