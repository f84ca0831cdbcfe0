"""The music API in its healthy form (`perfcheck demo --fixed`): the same endpoints and data as
app.py with each planted mistake fixed the way the checklist says. Run behind PgBouncer and an
nginx edge by the demo; on its own it needs fixed.sql's indexes after schema.sql and seed.sql:
  DATABASE_URL=postgresql://… REDIS_URL=redis://… uvicorn fixed:app --app-dir src/perfcheck/demo/music_api

What changed against app.py (each a perfcheck check id):
  db.missing_indexes, db.fk_indexes   fixed.sql: the lookups' and the foreign keys' indexes
  db.n_plus_one          a playlist's songs in one query (a join)
  db.offset_pagination, api.pagination   keyset pagination with next_cursor
  cache.ttl, cache.hit_rate   every cache write has a TTL; only what is read again and again is
                         cached (user profiles), not what listeners open once (playlists)
  api.compression        GZipMiddleware (audio and images left alone)
  api.rate_limit         a per-client, per-path window with RateLimit headers and 429 + Retry-After
  cdn.static_cache, cdn.html_cache, cdn.images   fingerprinted assets cached immutable, the
                         page revalidated by ETag, the cover as WebP for browsers that take it
  rt.heartbeat, rt.throttle   Engine.IO ping settings of the checklist, events throttled per socket
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from datetime import datetime

import socketio
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from redis import asyncio as aioredis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from app import (CACHE_HITS, CACHE_MISSES, PAGE_SIZE, STATIC, ApiError, RecordDuration, configure, error_body, health,
                 int_param, jsonable, metrics, on_crash, on_http_error, path_id, record_play, stream, user_by_email)

RATE_LIMIT = 50  # requests per client and path per second: far above a listener's pace
THROTTLE = 10  # Socket.IO events per socket per second
CACHE_SECONDS = 300  # a profile or a playlist may be five minutes stale


def fingerprint(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8]


# The cover is served under a content-hashed name, as a bundler would write it.
COVER = f"cover.{fingerprint(STATIC / 'cover.png')}.png"
PAGE = (STATIC / "index.html").read_text().replace("/static/cover.png", f"/static/{COVER}").encode()
PAGE_ETAG = '"' + hashlib.sha256(PAGE).hexdigest()[:16] + '"'
IMMUTABLE = "public, max-age=31536000, immutable"


# --- caching: one level, Redis, shared by every app process; every entry expires -----------------
async def cached(request: Request, key: str, load) -> dict | None:
    """The cached value, else `load()`'s, written with a TTL (an in-process L1 in front would
    serve the hot keys itself and leave Redis only the first reads of each: misses)."""
    raw = await request.app.state.redis.get(key)
    if raw is not None:
        CACHE_HITS.labels("redis").inc()
        return json.loads(raw)
    CACHE_MISSES.labels("redis").inc()
    value = await load()
    if value is not None:
        await request.app.state.redis.set(key, json.dumps(value), ex=CACHE_SECONDS)
    return value


async def fetch_one(request: Request, sql: str, params: tuple) -> dict | None:
    async with request.app.state.pool.connection() as conn:
        return await (await conn.execute(sql, params)).fetchone()


async def fetch_all(request: Request, sql: str, params: tuple) -> list[dict]:
    async with request.app.state.pool.connection() as conn:
        return await (await conn.execute(sql, params)).fetchall()


# --- pages and assets ------------------------------------------------------------------------
async def home(request: Request) -> Response:
    headers = {"Cache-Control": "no-cache", "ETag": PAGE_ETAG}
    if request.headers.get("if-none-match") == PAGE_ETAG:
        return Response(status_code=304, headers=headers)
    return HTMLResponse(PAGE, headers=headers)


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name == COVER:  # WebP to browsers that accept it; the edge keys its cache on that too
        webp = "image/webp" in request.headers.get("accept", "")
        return FileResponse(STATIC / ("cover.webp" if webp else "cover.png"), media_type="image/webp" if webp else "image/png",
                            headers={"Cache-Control": IMMUTABLE, "Vary": "Accept"})
    if name.count(".") == 2 and name.endswith((".js", ".css")) and (STATIC / name).is_file():
        return FileResponse(STATIC / name, headers={"Cache-Control": IMMUTABLE})
    raise ApiError(404, "not_found", "no such asset")


# --- the API ---------------------------------------------------------------------------------
def cursor_param(request: Request) -> tuple[datetime, int] | None:
    """A (time, id) keyset cursor, as next_cursor wrote it: '<iso time>_<id>'."""
    raw = request.query_params.get("cursor")
    if not raw:
        return None
    stamp, _, last = raw.rpartition("_")
    try:
        return datetime.fromisoformat(stamp), int(last)
    except ValueError:
        raise ApiError(422, "invalid_parameter", "cursor is not one this API returned") from None


async def user(request: Request) -> JSONResponse:
    user_id = path_id(request)
    found = await cached(request, f"user:{user_id}", lambda: load_user(request, user_id))
    if found is None:
        raise ApiError(404, "not_found", "no such user")
    return JSONResponse(found)


async def load_user(request: Request, user_id: int) -> dict | None:
    row = await fetch_one(request, "SELECT id, email, display_name, country, created_at FROM users WHERE id = %s",
                          (user_id,))
    return jsonable(row) if row else None


async def user_playlists(request: Request) -> JSONResponse:
    user_id, after = path_id(request), cursor_param(request)
    where, params = ("AND (created_at, id) < (%s, %s)", (user_id, *after)) if after else ("", (user_id,))
    rows = await fetch_all(request, f"SELECT id, name, is_public, created_at FROM playlists WHERE user_id = %s {where} "
                                    "ORDER BY created_at DESC, id DESC LIMIT %s", (*params, PAGE_SIZE))
    return JSONResponse({"items": [jsonable(r) for r in rows], "next_cursor": next_cursor(rows, "created_at", PAGE_SIZE)})


async def load_playlist(request: Request, playlist_id: int) -> dict | None:
    head = await fetch_one(request, "SELECT id, user_id, name, created_at FROM playlists WHERE id = %s", (playlist_id,))
    if head is None:
        return None
    songs = await fetch_all(request, "SELECT ps.position, s.id, s.title, s.artist, s.album, s.duration_s "
                                     "FROM playlist_songs ps JOIN songs s ON s.id = ps.song_id "
                                     "WHERE ps.playlist_id = %s ORDER BY ps.position", (playlist_id,))
    return {**jsonable(head), "songs": songs}


async def playlist(request: Request) -> JSONResponse:
    # Not cached: listeners open playlists all over the catalogue, so a cache would mostly miss
    # (a round trip that saves nothing); two indexed queries answer in a millisecond.
    body = await load_playlist(request, path_id(request))
    if body is None:
        raise ApiError(404, "not_found", "no such playlist")
    return JSONResponse(body)


async def recently_played(request: Request) -> JSONResponse:
    user_id, after = path_id(request), cursor_param(request)
    limit = int_param(request, "limit", PAGE_SIZE, low=1, high=100)
    where, params = ("AND (r.played_at, r.id) < (%s, %s)", (user_id, *after)) if after else ("", (user_id,))
    rows = await fetch_all(request, "SELECT r.id, r.song_id, s.title, s.artist, r.played_at FROM recently_played r "
                                    f"JOIN songs s ON s.id = r.song_id WHERE r.user_id = %s {where} "
                                    "ORDER BY r.played_at DESC, r.id DESC LIMIT %s", (*params, limit))
    return JSONResponse({"items": [jsonable(r) for r in rows], "next_cursor": next_cursor(rows, "played_at", limit)})


def next_cursor(rows: list[dict], column: str, limit: int) -> str | None:
    """The keyset cursor after a full page ('<iso time>_<id>'), None after the last one."""
    return f"{rows[-1][column].isoformat()}_{rows[-1]['id']}" if len(rows) == limit else None


async def songs(request: Request) -> JSONResponse:
    after = int_param(request, "cursor", 0, low=0)
    rows = await fetch_all(request, "SELECT id, title, artist, album, duration_s FROM songs WHERE id > %s "
                                    "ORDER BY id LIMIT %s", (after, PAGE_SIZE))
    return JSONResponse({"items": rows, "next_cursor": str(rows[-1]["id"]) if len(rows) == PAGE_SIZE else None})


async def session_by_code(app: Starlette, code: str) -> dict | None:
    async with app.state.pool.connection() as conn:
        cur = await conn.execute("SELECT id, host_user_id, session_code, song_id, started_at, ended_at "
                                 "FROM sessions WHERE session_code = %s", (code.upper(),))
        row = await cur.fetchone()
    return jsonable(row) if row else None


async def listening_session(request: Request) -> JSONResponse:
    found = await session_by_code(request.app, request.path_params["code"])
    if found is None:
        raise ApiError(404, "not_found", "no such session")
    return JSONResponse(found)


# --- rate limiting: a fixed one-second window per client and path ------------------------------
class RateLimit:
    """RateLimit-* headers (the IETF draft) on /api answers; past the limit 429 with Retry-After."""

    def __init__(self, app):
        self.app = app
        self.windows: dict[tuple[str, str], list[int]] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            return await self.app(scope, receive, send)
        now = int(time.monotonic())
        client = (scope.get("client") or ("?",))[0]
        window = self.windows.setdefault((client, scope["path"]), [now, 0])
        if window[0] != now:
            window[:] = [now, 0]
        window[1] += 1
        if len(self.windows) > 50_000:  # forget old windows rather than grow without bound
            self.windows = {k: w for k, w in self.windows.items() if w[0] == now}
        headers = [(b"ratelimit-limit", str(RATE_LIMIT).encode()),
                   (b"ratelimit-remaining", str(max(0, RATE_LIMIT - window[1])).encode()), (b"ratelimit-reset", b"1")]
        if window[1] > RATE_LIMIT:
            response = error_body(429, "rate_limited", "too many requests")
            response.headers.update({"Retry-After": "1", **{k.decode(): v.decode() for k, v in headers}})
            return await response(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- Socket.IO: friends in a listening session, throttled ---------------------------------------
sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=[], ping_interval=25, ping_timeout=60)
sent: dict[str, list[float]] = {}


def throttled(sid: str) -> bool:
    now = time.monotonic()
    recent = [t for t in sent.get(sid, []) if now - t < 1.0]
    sent[sid] = recent if len(recent) >= THROTTLE else recent + [now]
    return len(recent) >= THROTTLE


@sio.event
async def disconnect(sid):
    sent.pop(sid, None)


@sio.event
async def join(sid, data):
    if throttled(sid):
        return {"error": "rate_limited", "retry_after_ms": 1000}
    code = str((data or {}).get("code", "")) if isinstance(data, dict) else ""
    found = await session_by_code(web, code)
    if found is None:
        return {"error": {"code": "not_found", "message": "no such session"}}
    await sio.enter_room(sid, code.upper())
    await sio.emit("now_playing", {"song_id": found["song_id"]}, room=code.upper())
    return {"joined": code.upper()}


@sio.on("message")
async def message(sid, data):
    if throttled(sid):
        return {"error": "rate_limited", "retry_after_ms": 1000}
    return {"ok": True}


# --- wiring ------------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def lifespan(app: Starlette):
    # check: a connection is tested as it leaves the pool (an empty query) and replaced if
    # PgBouncer or PostgreSQL closed it meanwhile (a failover, a restart), not failed on.
    pool = AsyncConnectionPool(os.environ["DATABASE_URL"], min_size=4, max_size=int(os.environ.get("POOL_SIZE", "8")),
                               kwargs={"row_factory": dict_row, "autocommit": True, "prepare_threshold": 0,
                                       "application_name": "music-api"}, configure=configure, open=False,
                               check=AsyncConnectionPool.check_connection)
    await pool.open(wait=True, timeout=15)
    app.state.pool = pool
    app.state.redis = aioredis.from_url(os.environ["REDIS_URL"])
    try:
        yield
    finally:
        await app.state.redis.aclose()
        await pool.close()


routes = [
    Route("/", home),
    Route("/health", health),
    Route("/metrics", metrics),
    Route("/static/{name}", static),
    Route("/api/users/lookup", user_by_email),
    Route("/api/users/{id}", user),
    Route("/api/users/{id}/playlists", user_playlists),
    Route("/api/users/{id}/recently-played", recently_played),
    Route("/api/playlists/{id}", playlist),
    Route("/api/plays", record_play, methods=["POST"]),
    Route("/api/songs", songs),
    Route("/api/songs/{id}/stream", stream),
    Route("/api/sessions/{code}", listening_session),
]
web = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(GZipMiddleware, minimum_size=1024)],
                exception_handlers={HTTPException: on_http_error, Exception: on_crash})
app = socketio.ASGIApp(sio, other_asgi_app=RecordDuration(RateLimit(web)))
