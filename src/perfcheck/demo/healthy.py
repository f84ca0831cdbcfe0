"""`perfcheck demo --fixed`: how the music API's healthy form is served, as the checklist says.

PostgreSQL logs slow statements and has timeouts set for the app's database; PgBouncer (session
pooling: the app's driver prepares its statements) stands in front of it; Redis is bounded with an
eviction policy fit for a cache; an nginx edge caches the static files, compresses what the app
leaves alone, and passes the API and Socket.IO through. The app is music_api/fixed.py with the
indexes of music_api/fixed.sql. What the demo starts for it lives here; run.py starts it in order.
"""

from __future__ import annotations

from typing import Any

# PostgreSQL: statements of 100 ms or more are logged (mon.slow_query_log).
POSTGRES_SETTINGS = {"log_min_duration_statement": "100"}
# Timeouts for the app's database (db.timeouts), set as its owner would: ALTER DATABASE … SET.
DATABASE_SETTINGS = {"statement_timeout": "30s", "idle_in_transaction_session_timeout": "60s", "lock_timeout": "10s"}
# Redis as a cache: bounded memory, least recently used keys evicted first (cache.eviction).
REDIS_ARGS = ["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"]
# PgBouncer: the app's pool (8) and perfcheck's sessions fit, well under max_connections (100),
# and server connections are kept open ahead of need (min_pool_size): a new client is served by
# one at once instead of waiting for a PostgreSQL backend to start. Clients on loopback log in
# with md5: a SCRAM handshake (4,096 PBKDF2 rounds on the client) alone can take longer than
# db.pool's 5 ms connect target on a busy small machine; PgBouncer logs in to PostgreSQL with
# SCRAM, once per server connection it keeps.
PGBOUNCER = {"mode": "session", "pool_size": 20, "min_pool_size": 14, "auth": "md5"}

# The edge: static files cached (keyed on whether the browser takes WebP, as the app answers by
# Accept), text compressed here with the app's own gzip kept for the API, upgrades passed on.
EDGE = r"""
  proxy_cache_path {root}/cache keys_zone=edge:1m max_size=64m;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
  map $http_accept $webp {{ default ""; "~image/webp" "webp"; }}
  server {{
    listen 127.0.0.1:{port0};
    proxy_http_version 1.1;
    gzip on; gzip_vary on; gzip_proxied any; gzip_min_length 1024;
    gzip_types text/css text/javascript application/javascript application/json image/svg+xml;
    location /static/ {{
      proxy_pass http://127.0.0.1:{app}; proxy_set_header Connection "";
      proxy_set_header Accept-Encoding "";
      proxy_cache edge; proxy_cache_valid 200 10m; proxy_cache_key $uri$webp;
      add_header X-Cache-Status $upstream_cache_status always;
    }}
    location /socket.io/ {{
      proxy_pass http://127.0.0.1:{app}; proxy_buffering off; proxy_read_timeout 90s;
      proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;
    }}
    location / {{ proxy_pass http://127.0.0.1:{app}; proxy_set_header Connection ""; proxy_buffering off; }}
  }}
"""


def edge_config(app_port: int) -> str:
    return EDGE.replace("{app}", str(app_port))


def endpoints(session_code: str) -> list[dict[str, Any]]:
    """The endpoints perfcheck measures: the planted form's, with cursor pagination, and a
    user's profile (the cached read)."""
    return [
        {"name": "home", "path": "/", "kind": "html"},
        {"name": "playlist", "path": "/api/playlists/4242", "kind": "api"},
        {"name": "user", "path": "/api/users/42", "kind": "api"},
        {"name": "recently played", "path": "/api/users/4242/recently-played", "kind": "list"},
        {"name": "user playlists", "path": "/api/users/4242/playlists", "kind": "list"},
        {"name": "songs", "path": "/api/songs?cursor=2000", "kind": "list"},
        {"name": "user by email", "path": "/api/users/lookup?email=user4242@example.com", "kind": "api"},
        {"name": "session", "path": f"/api/sessions/{session_code}", "kind": "api"},
        {"name": "record play", "method": "POST", "path": "/api/plays", "kind": "write",
         "body": {"user_id": 4242, "song_id": 7}, "status": 201},
        {"name": "stream", "path": "/api/songs/7/stream", "kind": "media"},
    ]


# The opt-in probes the healthy form can take: a Socket.IO burst past its throttle.
PROBES = {"socketio_burst": {"messages": 15, "event": "message", "data": "perfcheck"}}
