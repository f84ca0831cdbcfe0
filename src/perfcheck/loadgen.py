"""The latency engine: a bounded open-model load at a constant request rate.

Every request has an intended send time on a fixed schedule (`rate` per second across
the whole run, endpoints interleaved round-robin). Latency is measured from that
intended time, not from when the request actually left, so a server that stalls
cannot hide its stall by slowing the sender down (coordinated omission, corrected the
way wrk2 does it). Warm-up requests are sent first and left out of the histograms.

Bounds: at most `len(endpoints) * (warmup + requests)` requests, at most `rate`
requests per second, at most `concurrency` in flight, and the run stops sending after
`max_seconds` (requests still in flight then get a short grace, and any left are
counted as `unfinished`). Only `base_url` is ever contacted.

The call is synchronous (it runs its own event loop) so a collector thread can call it.

Public API (stable; fields may be added, never renamed or removed):

    run_load(base_url, [LoadEndpoint(...)], requests=200, rate=50, warmup=10,
             concurrency=10, max_seconds=20, timeout_s=10) -> {name: result}

Each result is plain JSON-serialisable data:

    name, method, path, protocol ("HTTP/1.1" | "HTTP/2"),
    sent            requests sent after the warm-up
    count           measured requests that got a complete response (any status)
    errors          connection/protocol errors (refused, reset, bad response)
    timeouts        no complete response within timeout_s
    unfinished      still in flight when the run ended (duration cap)
    status_counts   {"200": 190, "503": 10}
    error_samples   a few distinct error messages, one line each
    p50_ms p95_ms p99_ms max_ms mean_ms min_ms
                    latency from the intended send time; responses, timeouts and
                    unfinished requests are all in it (lower bounds for the last two),
                    so a stall shows; None when nothing was measured
    ttfb_p50_ms ttfb_p95_ms ttfb_p99_ms
                    intended send time to the first response byte (responses only)
    achieved_rate   measured requests sent per second for this endpoint
    late_sends      {"count": sends more than 1 ms behind schedule,
                     "p99_ms": ..., "max_ms": ...}  how far behind the sender ran
    histogram       [{"le_ms": upper bound, "count": n}, ...]  about 12 buckets for display
    duration_s      the measured phase's length
    stopped_by      "budget" | "max_seconds"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

Progress = Callable[[int, int], None]  # (requests done, requests planned), warm-up included


@dataclass(frozen=True)
class LoadEndpoint:
    name: str  # unique in one run; the key of the result, e.g. "GET /api/songs"
    path: str  # joined to base_url; must not leave it (no scheme or host)
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str | None = None  # a str is sent UTF-8 encoded


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
    """
    raise NotImplementedError("the latency engine is being written")
