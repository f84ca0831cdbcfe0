"""What stands between a connection string and the PostgreSQL server: a pooler, which one,
in which mode. Told from the server's behaviour, since a pooler answers like the server:

- two client connections served by one server backend (pg_backend_pid() shared), or one
  client's backend changing between transactions: transaction (or statement) pooling;
- PgBouncer's admin console (the `pgbouncer` database on the same host and port): its
  `SHOW VERSION` and `SHOW CONFIG` (pool_mode) when this user may read it, and its refusal
  ("not allowed") when not, which PostgreSQL itself never says;
- the server's port differing from the port connected to: something forwards (a hint);
- port 6432 (PgBouncer's default) alone is only a hint, never a verdict.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from perfcheck.pg.names import tagged

_PID = tagged("SELECT pg_backend_pid() AS pid")


def connect(conninfo: str, timeout: int, **kwargs: Any) -> psycopg.Connection:
    """psycopg.connect; a pooler that refuses the start-up parameter `options` (PgBouncer
    does) gets the connection without it: those settings never reach the server that way,
    which db.pool and db.timeouts say."""
    try:
        return psycopg.connect(conninfo, connect_timeout=timeout, **kwargs)
    except psycopg.OperationalError as exc:
        if "unsupported startup parameter" not in str(exc):
            raise
        return psycopg.connect(conninfo, connect_timeout=timeout, **{**kwargs, "options": ""})


def _pids(conninfo: str, timeout: int, rounds: int = 3) -> tuple[list[int], list[int]]:
    """Backend pids seen by two client connections taking turns, one transaction each."""
    with connect(conninfo, timeout, autocommit=True, application_name="perfcheck") as a, \
            connect(conninfo, timeout, autocommit=True, application_name="perfcheck") as b:
        first, second = [], []
        for _ in range(rounds):
            first.append(a.execute(_PID).fetchone()[0])
            second.append(b.execute(_PID).fetchone()[0])
    return first, second


def _console(conninfo: str, timeout: int) -> dict[str, Any]:
    """PgBouncer's admin console on the same host and port, if there is one."""
    try:
        conn = connect(conninfo, timeout, dbname="pgbouncer", autocommit=True)
    except psycopg.Error as exc:
        text = str(exc)
        if "not allowed" in text or "no such user" in text.lower():
            return {"pooler": "PgBouncer", "console": "refused to this user"}
        return {}
    try:
        # The console speaks only the simple query protocol.
        version = conn.pgconn.exec_(b"SHOW VERSION")
        config = conn.pgconn.exec_(b"SHOW CONFIG")
        name = (version.get_value(0, 0) or b"").decode() if version.ntuples else ""
        if not name.startswith("PgBouncer"):  # a real database named "pgbouncer"
            return {}
        found: dict[str, Any] = {"pooler": "PgBouncer", "console": "readable", "version": name}
        for row in range(config.ntuples):
            if (config.get_value(row, 0) or b"") == b"pool_mode":
                found["mode"] = (config.get_value(row, 1) or b"").decode()
        own = _database_mode(conn.pgconn.exec_(b"SHOW DATABASES"), _dbname(conninfo))
        if own:
            found["mode"], found["mode_source"] = own, "database"
        return found
    finally:
        conn.close()


def _dbname(conninfo: str) -> str:
    """The database the connection string names (libpq's default: the user name)."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.Error:
        return ""
    return str(params.get("dbname") or params.get("user") or "")


def _database_mode(result: Any, dbname: str) -> str | None:
    """The pool_mode PgBouncer's `SHOW DATABASES` sets for this database (empty: the global
    one applies), or None."""
    if not dbname or not result.ntuples:
        return None
    names = [(result.fname(col) or b"").decode() for col in range(result.nfields)]
    if "name" not in names or "pool_mode" not in names:
        return None
    name_col, mode_col = names.index("name"), names.index("pool_mode")
    for row in range(result.ntuples):
        if (result.get_value(row, name_col) or b"").decode() == dbname:
            return (result.get_value(row, mode_col) or b"").decode() or None
    return None


# Hosted poolers are named in their host names: Neon's `ep-…-pooler.…`, Supabase's
# `….pooler.supabase.com` (Supavisor).
_POOLER_HOST = re.compile(r"(^|[.-])pooler([.-]|$)", re.IGNORECASE)


def direct_host(host: str | None) -> str | None:
    """A hosted pooler's host name turned into the provider's direct one (Neon: without
    `-pooler`), or None when the name says nothing."""
    if host and "-pooler." in host:
        return host.replace("-pooler.", ".", 1)
    return None


def probe(conninfo: str, url_port: int | None, server_port: int | None, timeout: int = 5,
          host: str | None = None) -> dict[str, Any]:
    """{"pooler": name or None, "mode": "transaction"|"session"|… or None, "evidence": [...]}."""
    evidence: list[str] = []
    found: dict[str, Any] = {"pooler": None, "mode": None}
    if host and _POOLER_HOST.search(host):
        found["pooler"] = "a hosted pooler"
        evidence.append(f"the host name {host} names a pooler")
    try:
        first, second = _pids(conninfo, timeout)
    except psycopg.Error:
        first, second = [], []
    if set(first) & set(second) or len(set(first)) > 1:
        found["mode"] = "transaction"
        evidence.append("two client connections were served by the same server backend in turn")
    console = _console(conninfo, timeout)
    if console:
        found["pooler"] = console["pooler"]
        found["mode"] = console.get("mode") or found["mode"]
        found["version"] = console.get("version")
        evidence.append(f"PgBouncer's admin console answers on this port ({console['console']})")
    if url_port and server_port and url_port != server_port:
        evidence.append(f"the server listens on port {server_port}, the connection string names {url_port}")
        found["pooler"] = found["pooler"] or "a pooler or proxy"
    if found["mode"] and not found["pooler"]:
        found["pooler"] = "a transaction pooler"
    if not found["pooler"] and url_port in (6432, 6543):
        evidence.append(f"port {url_port} is a pooler's usual port (a hint only: nothing else points to a pooler)")
    found["evidence"] = evidence
    return found


def where_it_lands(conninfo: str, timeout: int = 5) -> tuple[str | None, int | None]:
    """The server's own address and port, as the session that reached it sees them."""
    with connect(conninfo, timeout, autocommit=True, application_name="perfcheck") as conn:
        addr, port = conn.execute(tagged("SELECT host(inet_server_addr()), inet_server_port()")).fetchone()
    return addr, port


def direct_url(shown: str, addr: str | None, port: int | None) -> str:
    """The connection string (as shown: password masked) with the server's own host (or
    address) and port."""
    host = f"[{addr}]" if addr and ":" in addr else (addr or "HOST")
    if "://" in shown:
        scheme, _, rest = shown.partition("://")
        userinfo, at, hostpath = rest.rpartition("@") if "@" in rest.split("/")[0] else ("", "", rest)
        path = hostpath[len(hostpath.split("/")[0]):] if "/" in hostpath else ""
        return f"postgresql://{userinfo}{at}{host}:{port or 5432}{path}"
    pairs = [p for p in shown.split() if not p.startswith(("host=", "hostaddr=", "port="))]
    return " ".join([f"host={host}", f"port={port or 5432}", *pairs])
