"""A short, bounded, realistic workload for the music API: listeners open their library,
look at playlists, play songs and join listening sessions, so that pg_stat_statements
and Redis see the traffic a real day would bring (in miniature).

It stops at whichever comes first: `requests` requests or `seconds` seconds. It only
talks to the base URL it is given (the demo's own API on 127.0.0.1).

    python src/perfcheck/demo/music_api/workload.py http://127.0.0.1:8000 --requests 600 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import threading
import time
from dataclasses import dataclass, field

import httpx

# The seed's shape (seed.sql): ids and codes the workload can address.
USERS, ACTIVE_USERS, LISTENERS, SONGS, PLAYLISTS_WITH_SONGS, SESSIONS = 100_000, 20_000, 5_000, 50_000, 50_000, 100_000


def session_code(i: int) -> str:
    """The code seed.sql gives session i: upper(substr(md5('session' || i), 1, 8))."""
    return hashlib.md5(f"session{i}".encode()).hexdigest()[:8].upper()


# (name, weight, request builder) — the mix of a listening app's traffic.
def _playlist(r: random.Random):
    return "GET", f"/api/playlists/{r.randint(1, PLAYLISTS_WITH_SONGS)}", None


def _user_playlists(r: random.Random):
    return "GET", f"/api/users/{r.randint(1, ACTIVE_USERS)}/playlists?page={r.choice([1, 1, 1, 2, 3])}", None


def _recently_played(r: random.Random):
    return "GET", f"/api/users/{r.randint(1, LISTENERS)}/recently-played", None


def _user_by_email(r: random.Random):
    return "GET", f"/api/users/lookup?email=user{r.randint(1, USERS)}@example.com", None


def _user(r: random.Random):
    # Popular profiles are read again and again: that is what the cache is for.
    return "GET", f"/api/users/{int(r.paretovariate(1.2)) % ACTIVE_USERS + 1}", None


def _session(r: random.Random):
    return "GET", f"/api/sessions/{session_code(r.randint(1, SESSIONS))}", None


def _songs(r: random.Random):
    return "GET", f"/api/songs?page={r.randint(1, 2000)}", None


def _play(r: random.Random):
    return "POST", "/api/plays", {"user_id": r.randint(1, ACTIVE_USERS), "song_id": r.randint(1, SONGS)}


def _home(r: random.Random):
    return "GET", r.choice(["/", "/static/app.52260ef3.js", "/static/app.1a33ad7e.css", "/static/cover.png"]), None


MIX = [
    ("playlist", 20, _playlist),
    ("recently_played", 18, _recently_played),
    ("user_playlists", 14, _user_playlists),
    ("user", 12, _user),
    ("user_by_email", 10, _user_by_email),
    ("session", 10, _session),
    ("songs", 8, _songs),
    ("play", 4, _play),
    ("home", 4, _home),
]


@dataclass
class WorkloadResult:
    requests: int = 0
    errors: int = 0  # transport errors and 5xx
    seconds: float = 0.0
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)

    def percentile(self, q: float, name: str | None = None) -> float | None:
        values = sorted(self.latencies_ms.get(name, []) if name else
                        [v for vs in self.latencies_ms.values() for v in vs])
        if not values:
            return None
        return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]

    def summary(self) -> str:
        rate = self.requests / self.seconds if self.seconds else 0.0
        p50, p95 = self.percentile(50), self.percentile(95)
        shown = f", p50 {p50:.1f} ms, p95 {p95:.1f} ms" if p50 is not None else ""
        return f"{self.requests} requests in {self.seconds:.1f} s ({rate:.0f}/s), {self.errors} errors{shown}"


async def _drive(base_url: str, requests: int, seconds: float, concurrency: int, seed: int,
                 stop: threading.Event | None, rate: float | None = None) -> WorkloadResult:
    result = WorkloadResult()
    rng = random.Random(seed)
    names = [name for name, _, _ in MIX]
    weights = [weight for _, weight, _ in MIX]
    builders = {name: build for name, _, build in MIX}
    plan = [(name, builders[name](rng)) for name in rng.choices(names, weights, k=requests)]
    deadline = time.monotonic() + seconds
    cursor = iter(enumerate(plan))
    started = time.perf_counter()

    async def worker(client: httpx.AsyncClient) -> None:
        for i, (name, (method, path, body)) in cursor:  # the shared iterator hands out each request once
            if rate:  # request i is due i / rate seconds after the start: a bounded request rate
                await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                return
            sent = time.perf_counter()
            try:
                response = await client.request(method, path, json=body)
                failed = response.status_code >= 500
            except httpx.HTTPError:
                failed = True
            result.requests += 1
            result.errors += failed
            result.latencies_ms.setdefault(name, []).append((time.perf_counter() - sent) * 1000)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=10, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


def run(base_url: str, *, requests: int = 600, seconds: float = 15, concurrency: int = 8, seed: int = 1,
        stop: threading.Event | None = None, rate: float | None = None) -> WorkloadResult:
    """Drive the API; bounded by `requests` and `seconds`, whichever comes first (or until
    `stop` is set, for background traffic), and with `rate` by requests per second."""
    if requests < 1 or seconds <= 0 or concurrency < 1 or (rate is not None and rate <= 0):
        raise ValueError("requests, seconds, concurrency and rate must be positive")
    return asyncio.run(_drive(base_url.rstrip("/"), requests, seconds, concurrency, seed, stop, rate))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="base URL of the music API, e.g. http://127.0.0.1:8000")
    parser.add_argument("--requests", type=int, default=600, help="stop after this many requests (default 600)")
    parser.add_argument("--seconds", type=float, default=15, help="stop after this many seconds (default 15)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed sends the same requests")
    parser.add_argument("--rate", type=float, default=None, help="at most this many requests per second (default: no cap)")
    args = parser.parse_args()
    result = run(args.url, requests=args.requests, seconds=args.seconds, concurrency=args.concurrency, seed=args.seed,
                 rate=args.rate)
    print(result.summary())
    for name in sorted(result.latencies_ms):
        print(f"  {name:<16} {len(result.latencies_ms[name]):>5} requests, p50 {result.percentile(50, name):7.1f} ms,"
              f" p95 {result.percentile(95, name):7.1f} ms")


if __name__ == "__main__":
    main()
