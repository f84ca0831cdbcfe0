"""A small music-streaming API with the checklist's classic mistakes left in on purpose,
so that `perfcheck demo` has something real to find. Do not copy its data access.

Planted problems (each one a perfcheck check id):
  db.missing_indexes     users.email, playlists(user_id, created_at),
                         recently_played(user_id, played_at), sessions.session_code
  db.n_plus_one          a playlist's songs are fetched one query per song
  db.offset_pagination   /api/songs and a user's playlists page with OFFSET
  cache.ttl              user profiles are cached in Redis without a TTL
  api.compression        no gzip, even on large JSON
  cdn.static_cache       static assets carry no Cache-Control, hashed names or not

Run it by hand (after schema.sql and seed.sql):
  DATABASE_URL=postgresql://… REDIS_URL=redis://… uvicorn app:app --app-dir src/perfcheck/demo/music_api
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import socketio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from psycopg.rows import dict_row
from psycopg.types.numeric import Int8Dumper
from psycopg_pool import AsyncConnectionPool
from redis import asyncio as aioredis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
PAGE_SIZE = 20

# --- metrics: what /metrics exposes -----------------------------------------------------
registry = CollectorRegistry()
REQUEST_SECONDS = Histogram("http_request_duration_seconds", "Time to answer an HTTP request",
                            ["method", "route", "status"], registry=registry,
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5))
CACHE_HITS = Counter("cache_hits_total", "Cache lookups that found the value", ["cache_level"], registry=registry)
CACHE_MISSES = Counter("cache_misses_total", "Cache lookups that did not", ["cache_level"], registry=registry)


class ApiError(HTTPException):
    """An error with a machine-readable code; every error leaves as the same JSON shape."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(status, message)
        self.code = code


def error_body(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def on_http_error(request: Request, exc: HTTPException) -> JSONResponse:
    code = getattr(exc, "code", None) or {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
    return error_body(exc.status_code, code, str(exc.detail))


async def on_crash(request: Request, exc: Exception) -> JSONResponse:
    # Never a stack trace to the client.
    return error_body(500, "internal", "something went wrong")


def int_param(request: Request, name: str, default: int, *, low: int = 0, high: int = 10**9) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "invalid_parameter", f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ApiError(422, "invalid_parameter", f"{name} must be between {low} and {high}")
    return value


def path_id(request: Request, name: str = "id") -> int:
    try:
        value = int(request.path_params[name])
    except ValueError:
        raise ApiError(422, "invalid_parameter", f"{name} must be an integer") from None
    if value <= 0:
        raise ApiError(422, "invalid_parameter", f"{name} must be positive")
    return value


# --- data access (with the mistakes) -----------------------------------------------------
async def fetch_one(request: Request, sql: str, params: tuple) -> dict | None:
    async with request.app.state.pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchone()


async def fetch_all(request: Request, sql: str, params: tuple) -> list[dict]:
    async with request.app.state.pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


def jsonable(row: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


# Two cache levels: a small in-process dict (L1) in front of Redis (L2).
L1: dict[str, tuple[float, dict]] = {}
L1_SECONDS, L1_MAX = 30.0, 5000


async def cached_user(request: Request, user_id: int) -> dict | None:
    key = f"user:{user_id}"
    hit = L1.get(key)
    if hit and hit[0] > time.monotonic():
        CACHE_HITS.labels("l1").inc()
        return hit[1]
    CACHE_MISSES.labels("l1").inc()
    raw = await request.app.state.redis.get(key)
    if raw is not None:
        CACHE_HITS.labels("l2").inc()
        user = json.loads(raw)
    else:
        CACHE_MISSES.labels("l2").inc()
        row = await fetch_one(request, "SELECT id, email, display_name, country, created_at FROM users WHERE id = %s",
                              (user_id,))
        if row is None:
            return None
        user = jsonable(row)
        await request.app.state.redis.set(key, json.dumps(user))  # MISTAKE: no TTL, never expires
    if len(L1) >= L1_MAX:
        L1.clear()
    L1[key] = (time.monotonic() + L1_SECONDS, user)
    return user


# --- endpoints ---------------------------------------------------------------------------
async def home(request: Request) -> Response:
    return FileResponse(STATIC / "index.html")  # MISTAKE: HTML without a revalidation policy


async def health(request: Request) -> JSONResponse:
    checks = {}
    try:
        await fetch_one(request, "SELECT 1", ())
        checks["postgres"] = "ok"
    except Exception as exc:  # noqa: BLE001 - health reports, never raises
        checks["postgres"] = f"down: {type(exc).__name__}"
    try:
        await request.app.state.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"down: {type(exc).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if healthy else "degraded", "checks": checks}, status_code=200 if healthy else 503)


async def metrics(request: Request) -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def user_by_email(request: Request) -> JSONResponse:
    email = request.query_params.get("email", "")
    if "@" not in email:
        raise ApiError(422, "invalid_parameter", "email must be an email address")
    # MISTAKE: no index on users.email, so this scans 100,000 rows.
    row = await fetch_one(request, "SELECT id, email, display_name, country, created_at FROM users WHERE email = %s",
                          (email,))
    if row is None:
        raise ApiError(404, "not_found", "no such user")
    return JSONResponse(jsonable(row))


async def user(request: Request) -> JSONResponse:
    found = await cached_user(request, path_id(request))
    if found is None:
        raise ApiError(404, "not_found", "no such user")
    return JSONResponse(found)


async def user_playlists(request: Request) -> JSONResponse:
    user_id = path_id(request)
    page = int_param(request, "page", 1, low=1, high=10_000)
    # MISTAKES: OFFSET pagination, and no index on playlists(user_id, created_at).
    rows = await fetch_all(request, "SELECT id, name, is_public, created_at FROM playlists WHERE user_id = %s "
                                    "ORDER BY created_at DESC LIMIT %s OFFSET %s",
                           (user_id, PAGE_SIZE, (page - 1) * PAGE_SIZE))
    return JSONResponse({"page": page, "items": [jsonable(r) for r in rows]})


async def playlist(request: Request) -> JSONResponse:
    playlist_id = path_id(request)
    key = f"playlist:{playlist_id}"
    raw = await request.app.state.redis.get(key)
    if raw is not None:
        CACHE_HITS.labels("l2").inc()
        return JSONResponse(json.loads(raw))
    CACHE_MISSES.labels("l2").inc()
    head = await fetch_one(request, "SELECT id, user_id, name, created_at FROM playlists WHERE id = %s", (playlist_id,))
    if head is None:
        raise ApiError(404, "not_found", "no such playlist")
    entries = await fetch_all(request, "SELECT position, song_id FROM playlist_songs WHERE playlist_id = %s "
                                       "ORDER BY position", (playlist_id,))
    songs = []
    for entry in entries:  # MISTAKE: N+1, one query per song instead of WHERE id = ANY(%s)
        song = await fetch_one(request, "SELECT id, title, artist, album, duration_s FROM songs WHERE id = %s",
                               (entry["song_id"],))
        songs.append({"position": entry["position"], **song})
    body = {**jsonable(head), "songs": songs}
    await request.app.state.redis.set(key, json.dumps(body), ex=300)
    return JSONResponse(body)


async def recently_played(request: Request) -> JSONResponse:
    user_id = path_id(request)
    limit = int_param(request, "limit", PAGE_SIZE, low=1, high=100)
    # MISTAKE: no index on recently_played(user_id, played_at): 1,000,000 rows scanned.
    rows = await fetch_all(request, "SELECT r.song_id, s.title, s.artist, r.played_at FROM recently_played r "
                                    "JOIN songs s ON s.id = r.song_id WHERE r.user_id = %s "
                                    "ORDER BY r.played_at DESC LIMIT %s", (user_id, limit))
    return JSONResponse({"items": [jsonable(r) for r in rows]})


async def record_play(request: Request) -> JSONResponse:
    try:
        body = await request.json()
        user_id, song_id = int(body["user_id"]), int(body["song_id"])
    except (ValueError, KeyError, TypeError):
        raise ApiError(422, "invalid_body", "expected JSON {\"user_id\": int, \"song_id\": int}") from None
    if user_id <= 0 or song_id <= 0:
        raise ApiError(422, "invalid_body", "user_id and song_id must be positive")
    async with request.app.state.pool.connection() as conn:
        await conn.execute("INSERT INTO recently_played (user_id, song_id) VALUES (%s, %s)", (user_id, song_id))
    return JSONResponse({"recorded": True}, status_code=201)


async def songs(request: Request) -> JSONResponse:
    page = int_param(request, "page", 1, low=1, high=10_000)
    # MISTAKE: OFFSET pagination: page 2,000 reads and throws away 40,000 rows.
    rows = await fetch_all(request, "SELECT id, title, artist, album, duration_s FROM songs ORDER BY id LIMIT %s OFFSET %s",
                           (PAGE_SIZE, (page - 1) * PAGE_SIZE))
    return JSONResponse({"page": page, "items": rows})


async def listening_session(request: Request) -> JSONResponse:
    found = await session_by_code(request.app, request.path_params["code"])
    if found is None:
        raise ApiError(404, "not_found", "no such session")
    return JSONResponse(found)


async def session_by_code(app: Starlette, code: str) -> dict | None:
    async with app.state.pool.connection() as conn:
        # MISTAKE: no index on sessions.session_code.
        cur = await conn.execute("SELECT id, host_user_id, session_code, song_id, started_at, ended_at "
                                 "FROM sessions WHERE session_code = %s", (code.upper(),))
        row = await cur.fetchone()
    return jsonable(row) if row else None


async def stream(request: Request) -> StreamingResponse:
    song_id = path_id(request)

    async def chunks():  # a stand-in for audio: compressing it would only cost CPU
        block = bytes((song_id * 31 + i) % 256 for i in range(4096))
        for _ in range(16):
            yield block

    return StreamingResponse(chunks(), media_type="audio/mpeg")


# --- Socket.IO: friends in a listening session -------------------------------------------
sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=[])


@sio.event
async def join(sid, data):
    code = str((data or {}).get("code", ""))
    found = await session_by_code(web, code)
    if found is None:
        return {"error": {"code": "not_found", "message": "no such session"}}
    await sio.enter_room(sid, code.upper())
    await sio.emit("now_playing", {"song_id": found["song_id"]}, room=code.upper())
    return {"joined": code.upper()}


# --- wiring --------------------------------------------------------------------------------
class RecordDuration:
    """Times every request into the histogram, labelled by the route's endpoint name."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = {"code": 500}

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            endpoint = scope.get("endpoint")
            route = getattr(endpoint, "__name__", None) or ("static" if scope["path"].startswith("/static/") else "unmatched")
            REQUEST_SECONDS.labels(scope["method"], route, str(status["code"])).observe(time.perf_counter() - started)


async def configure(conn) -> None:
    # psycopg sends a Python int as the smallest type that holds it (int2, int4, int8), so
    # `id = $1` becomes two statements in pg_stat_statements; the ids are bigint: say so.
    conn.adapters.register_dumper(int, Int8Dumper)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette):
    pool = AsyncConnectionPool(os.environ["DATABASE_URL"], min_size=2, max_size=int(os.environ.get("POOL_SIZE", "8")),
                               kwargs={"row_factory": dict_row, "autocommit": True,
                                       "application_name": "music-api"}, configure=configure, open=False)
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
    Route("/api/users/lookup", user_by_email),
    Route("/api/users/{id}", user),
    Route("/api/users/{id}/playlists", user_playlists),
    Route("/api/users/{id}/recently-played", recently_played),
    Route("/api/playlists/{id}", playlist),
    Route("/api/plays", record_play, methods=["POST"]),
    Route("/api/songs", songs),
    Route("/api/songs/{id}/stream", stream),
    Route("/api/sessions/{code}", listening_session),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),  # MISTAKE: no Cache-Control
]
web = Starlette(routes=routes, lifespan=lifespan,
                exception_handlers={HTTPException: on_http_error, Exception: on_crash})
# MISTAKE: no GZipMiddleware.
app = socketio.ASGIApp(sio, other_asgi_app=RecordDuration(web))
