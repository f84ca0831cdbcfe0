"""A sample web backend for perfcheck's HTTP tests, in a GOOD or a BAD configuration.

    python tests/apps/sample_api.py --mode good|bad --port PORT

BAD plants the problems the checklist is about: a 120 ms endpoint, no compression,
short caching of hashed assets, HTML cached for an hour, CORS that reflects any origin
with credentials, a 500 with a traceback on bad input, offset pagination, no rate-limit
headers, no /health, a /metrics without a request-duration histogram, heavy JPEG
images, an unthrottled Socket.IO with a short pingTimeout. GOOD fixes each of them.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import time
import traceback

import socketio
import uvicorn
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

ALLOWED_ORIGIN = "https://app.example.com"
RATE_LIMIT = 50  # requests per path per client per second (GOOD)
THROTTLE = 10  # Socket.IO messages per socket per second (GOOD)

_rng = random.Random(7)
CSS = "".join(f".c{i} {{ margin: {i % 7}px; color: #{_rng.randrange(0x1000000):06x}; }}\n" for i in range(200)).encode()
JS = "".join(f"export function f{i}(x) {{ return x * {i} + {_rng.randrange(1000)}; }}\n" for i in range(150)).encode()
# Not real images: bytes of the right size behind the right content type is all the checks read.
JPEG_BIG = b"\xff\xd8\xff\xe0" + bytes(_rng.randrange(256) for _ in range(250_000))
JPEG_SMALL = b"\xff\xd8\xff\xe0" + bytes(_rng.randrange(256) for _ in range(30_000))
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(_rng.randrange(256) for _ in range(20_000))
AUDIO = b"ID3\x03\x00" + b"\x00\x11\x22\x33" * 8000  # compressible, so compressing it would show
ASSETS = {
    "app.3f9a1c2b.css": ("text/css", CSS),
    "app.8d0e4f1a.js": ("application/javascript", JS),
}
PAGE = """<!doctype html>
<html><head><title>sample</title>
<link rel="stylesheet" href="/static/app.3f9a1c2b.css">
<script src="/static/app.8d0e4f1a.js" defer></script>
<script src="https://third-party.invalid/analytics.js"></script>
</head><body>
<h1>Sample app</h1>
<img src="/static/hero.5b7c9d2e.jpg" alt="hero">
{filler}
</body></html>
""".replace("{filler}", "<p>" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 40 + "</p>")
ITEMS = [{"id": i, "name": f"item {i}", "description": "a sample item " * 4} for i in range(1, 201)]


def build(mode: str):
    good = mode == "good"
    registry = CollectorRegistry()
    requests_total = Counter("http_requests", "Requests served", ["path"], registry=registry)
    # BAD exposes counters only: no request-duration histogram.
    duration = Histogram("http_request_duration_seconds", "Request duration", ["path"], registry=registry) if good else None
    hits = Counter("cache_hits", "Cache hits by level", ["cache_level"], registry=registry)
    misses = Counter("cache_misses", "Cache misses by level", ["cache_level"], registry=registry)
    # L1 90 % / L2 85 % (good); L1 30 % / L2 40 % (bad)
    for level, h, m in (("l1", 900, 100), ("l2", 85, 15)) if good else (("l1", 300, 700), ("l2", 280, 420)):
        hits.labels(level).inc(h)
        misses.labels(level).inc(m)
    windows: dict[tuple[str, str], list] = {}
    # Every request the app receives, so a test can see what an audit sent.
    received = Counter("sample_requests", "Requests received", ["method", "path"], registry=registry)

    def counting(app):
        async def wrapped(scope, receive, send):
            if scope["type"] == "http":
                received.labels(scope["method"], scope["path"]).inc()
            await app(scope, receive, send)
        return wrapped

    def rate_limit(request: Request) -> dict[str, str] | Response:
        """A fixed one-second window per client and path; the headers of the IETF draft."""
        now = int(time.time())
        key = (request.client.host if request.client else "?", request.url.path)
        window = windows.setdefault(key, [now, 0])
        if window[0] != now:
            window[:] = [now, 0]
        window[1] += 1
        headers = {"RateLimit-Limit": str(RATE_LIMIT), "RateLimit-Remaining": str(max(0, RATE_LIMIT - window[1])),
                   "RateLimit-Reset": "1"}
        if window[1] > RATE_LIMIT:
            return error(429, "rate_limited", "too many requests", {**headers, "Retry-After": "1"})
        return headers

    def error(status: int, code: str, message: str, headers: dict | None = None) -> Response:
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)

    async def page(request: Request) -> Response:
        body = PAGE.encode()
        if not good:
            return HTMLResponse(body, headers={"Cache-Control": "public, max-age=3600"})
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        headers = {"Cache-Control": "max-age=0, must-revalidate", "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return HTMLResponse(body, headers=headers)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        cache = "public, max-age=31536000, immutable" if good else "public, max-age=60"
        if name == "hero.5b7c9d2e.jpg":
            if good and "image/webp" in request.headers.get("accept", ""):
                return Response(WEBP, media_type="image/webp", headers={"Cache-Control": cache, "Vary": "Accept"})
            return Response(JPEG_SMALL if good else JPEG_BIG, media_type="image/jpeg", headers={"Cache-Control": cache})
        if name not in ASSETS:
            return error(404, "not_found", f"no asset {name}") if good else PlainTextResponse("Not Found", 404)
        media, body = ASSETS[name]
        return Response(body, media_type=media, headers={"Cache-Control": cache})

    async def items(request: Request) -> Response:
        started = time.perf_counter()
        limited = rate_limit(request) if good else {}
        if isinstance(limited, Response):
            return limited
        if not good:
            limit = int(request.query_params.get("limit", "20"))  # crashes on bad input: the planted 500
            page_no = int(request.query_params.get("page", "1"))
            chunk = ITEMS[(page_no - 1) * limit: page_no * limit]
            return JSONResponse({"items": chunk, "page": page_no, "per_page": limit,
                                 "total_pages": -(-len(ITEMS) // limit)})
        raw = request.query_params.get("limit", "20")
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            return error(422, "invalid_limit", "limit must be an integer from 1 to 100", limited)
        limit = int(raw)
        after = int(request.query_params.get("cursor", "0") or 0)
        chunk = [item for item in ITEMS if item["id"] > after][:limit]
        next_cursor = str(chunk[-1]["id"]) if chunk and chunk[-1]["id"] < ITEMS[-1]["id"] else None
        duration.labels("/api/items").observe(time.perf_counter() - started)
        requests_total.labels("/api/items").inc()
        return JSONResponse({"items": chunk, "next_cursor": next_cursor}, headers=limited)

    async def create_item(request: Request) -> Response:
        raw = await request.body()
        if not good:
            data = json.loads(raw)  # a traceback on malformed JSON: the planted 500
            return JSONResponse({"id": len(ITEMS) + 1, **data}, status_code=201)
        try:
            data = json.loads(raw)
        except ValueError:
            return error(422, "invalid_json", "the body is not valid JSON")
        name = data.get("name") if isinstance(data, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 200:
            return error(422, "invalid_name", "name must be a string of 1 to 200 characters")
        return JSONResponse({"id": len(ITEMS) + 1, "name": name}, status_code=201)  # not stored: a sample

    async def report(request: Request) -> Response:
        if not good:
            await asyncio.sleep(0.12)  # the planted 120 ms endpoint
            return JSONResponse({"ok": True, "generated": time.time()})
        limited = rate_limit(request)
        if isinstance(limited, Response):
            return limited
        return JSONResponse({"ok": True, "generated": time.time()}, headers=limited)

    async def audio(request: Request) -> Response:
        return Response(AUDIO, media_type="audio/mpeg")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "checks": {"database": {"status": "ok"}, "redis": {"status": "ok"}}})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def not_found(request: Request, exc: Exception) -> Response:
        return error(404, "not_found", f"no route {request.url.path}")

    async def crash(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("".join(traceback.format_exception(exc)), status_code=500)

    routes = [
        Route("/", page),
        Route("/static/{name}", static),
        Route("/api/items", items, methods=["GET"]),
        Route("/api/items", create_item, methods=["POST"]),
        Route("/api/report", report),
        Route("/media/stream.mp3", audio),
        Route("/metrics", metrics),
    ]
    if good:
        routes.append(Route("/health", health))
        middleware = [
            Middleware(CORSMiddleware, allow_origins=[ALLOWED_ORIGIN], allow_credentials=True,
                       allow_methods=["GET", "POST"], allow_headers=["authorization", "content-type"]),
            Middleware(GZipMiddleware, minimum_size=1024),  # audio/* excluded by default
        ]
        handlers = {404: not_found}
    else:
        middleware = [Middleware(CORSMiddleware, allow_origins=["*"], allow_credentials=True,
                                 allow_methods=["*"], allow_headers=["*"])]
        handlers = {Exception: crash}
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)

    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=[ALLOWED_ORIGIN] if good else "*",
                               ping_interval=25 if good else 60, ping_timeout=60 if good else 5)
    sent: dict[str, list[float]] = {}

    @sio.on("message")
    async def message(sid, data):
        if not good:
            return {"ok": True}
        now = time.monotonic()
        recent = [t for t in sent.get(sid, []) if now - t < 1.0]
        if len(recent) >= THROTTLE:
            sent[sid] = recent
            return {"error": "rate_limited", "retry_after_ms": 1000}
        sent[sid] = recent + [now]
        return {"ok": True}

    return counting(socketio.ASGIApp(sio, other_asgi_app=app))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["good", "bad"], required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(build(args.mode), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
