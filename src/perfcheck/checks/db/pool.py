"""`db.pool`: Connections are pooled with headroom."""

from __future__ import annotations

from perfcheck.checks.support.pg import client_sessions, grant, hidden_session, int_setting, penalty
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.scoring import lognormal

_POOLERS = ("pgbouncer", "odyssey", "pgcat", "pgpool", "supavisor")


# Connection-URL parameters by which drivers and ORMs size their pools.
_POOL_SIZE_PARAMS = ("pool_size", "max_pool_size", "pool_max", "connection_limit", "max_connections", "maxpoolsize")


def _pooler(connection: dict, activity: list[dict]) -> str | None:
    """Why we think a pooler stands between the URL and the server, or None."""
    url_port, server_port = connection.get("url_port"), connection.get("server_port")
    if url_port and server_port and url_port != server_port:
        return f"the URL's port {url_port} is not the server's port {server_port}"
    params = {k.lower(): v for k, v in (connection.get("url_params") or {}).items()}
    if params.get("pgbouncer", "").lower() in ("true", "1", "on"):
        return "pgbouncer=true in the URL"
    names = {(row.get("application_name") or "").lower() for row in activity}
    found = next((p for p in _POOLERS for name in names if p in name), None)
    return f"a {found} session in pg_stat_activity" if found else None


@check("db.pool", requires=["postgres.settings", "postgres.activity", "postgres.connection",
                            "postgres.connect_latency", "postgres.database_stats"])
def pool(facts, t):
    settings = facts["postgres.settings"]
    max_connections = int_setting(settings, "max_connections")
    usable = max(1, max_connections - int_setting(settings, "superuser_reserved_connections"))
    sessions = client_sessions(facts["postgres.activity"])
    states: dict[str, int] = {}
    for row in sessions:
        state = "hidden" if hidden_session(row) else row["state"]  # other roles' state needs pg_read_all_stats
        states[state] = states.get(state, 0) + 1
    usage = len(sessions) / usable
    latency = facts["postgres.connect_latency"]
    connection = facts["postgres.connection"]
    pooler = _pooler(connection, facts["postgres.activity"])
    findings = []
    score = lognormal(usage, t["usage_warn"], t["usage_fail"]) if usage > 0 else 1.0
    if usage >= t["usage_warn"]:
        findings.append(Finding(
            "fail" if usage >= t["usage_fail"] else "warn", "max_connections",
            f"{len(sessions)} of {usable} usable connections are open ({usage:.0%}); new clients are refused at the limit: "
            f"pool (PgBouncer in transaction mode) instead of opening more",
            None, {"connections": len(sessions), "usable": usable, "usage": round(usage, 3)}))
    others = []
    if max_connections < t["min_max_connections"]:
        others.append(Finding("warn", "max_connections",
                              f"max_connections = {max_connections} leaves no headroom for {t['min_max_connections']} connections",
                              Fix.manual(f"ALTER SYSTEM SET max_connections = {t['min_max_connections']};  -- then restart"),
                              {"max_connections": max_connections, "target": t["min_max_connections"]}))
    connect_ms, trip_ms = latency["connect_ms"], latency["round_trip_ms"]
    if pooler and connect_ms > t["connect_ms"]:
        others.append(Finding("warn", "pooler",
                              f"a new connection through the pooler takes {connect_ms:.1f} ms (target {t['connect_ms']} ms)",
                              None, {"connect_ms": round(connect_ms, 2), "round_trip_ms": round(trip_ms, 3)}))
    elif not pooler and connect_ms > t["connect_ms"]:
        others.append(Finding("info", "pooler",
                              f"no pooler detected in front of the server: a new connection costs {connect_ms:.1f} ms against "
                              f"{trip_ms:.2f} ms for a round trip on an open one, so the application must keep its connections "
                              f"in a pool (its driver's pool or PgBouncer)",
                              None, {"connect_ms": round(connect_ms, 2), "round_trip_ms": round(trip_ms, 3)}))
    stats = facts["postgres.database_stats"]
    opened, session_ms = stats.get("sessions"), stats.get("session_time")
    if opened and session_ms is not None and opened >= t["min_sessions"] and session_ms / opened < t["min_avg_session_s"] * 1000:
        others.append(Finding("warn", "sessions",
                              f"{opened:,} sessions since the statistics were reset lasted {session_ms / opened:.0f} ms on average: "
                              f"the application seems to connect per request; keep connections in a pool",
                              None, {"sessions": opened, "avg_session_ms": round(session_ms / opened, 1)}))
    params = {k.lower(): v for k, v in (connection.get("url_params") or {}).items()}
    for key in _POOL_SIZE_PARAMS:
        if str(params.get(key, "")).isdigit() and int(params[key]) > usable:
            others.append(Finding("warn", f"url:{key}",
                                  f"the URL's {key}={params[key]} exceeds the {usable} usable connections: one application "
                                  f"instance alone could exhaust the server", None, {key: int(params[key]), "usable": usable}))
    findings += others
    metrics = {"max_connections": max_connections, "usable": usable, "connections": len(sessions), "usage": round(usage, 3),
               "states": states, "pooler": pooler, "connect_ms": round(connect_ms, 2), "round_trip_ms": round(trip_ms, 3),
               "url_pool_params": {k: params[k] for k in params if "pool" in k or k in _POOL_SIZE_PARAMS},
               "sessions_opened": opened}
    # The verdict rests on counts, which hidden sessions are part of; only their states are unknown.
    hidden = states.get("hidden", 0)
    idle_tx = f"{states.get('idle in transaction', 0)} idle in transaction"
    if hidden:
        idle_tx = f"{idle_tx} among the {len(sessions) - hidden} whose state this role sees ({grant(facts)} shows the other {hidden})"
    summary = (f"{len(sessions)}/{usable} connections in use ({usage:.0%}), {idle_tx}; connect {connect_ms:.1f} ms vs round "
               f"trip {trip_ms:.2f} ms; " + (f"pooler: {pooler}" if pooler else "no pooler detected"))
    return Outcome.scored(score * penalty(others), summary, metrics=metrics, findings=findings)
